"""Durable per-chunk results in Parquet: the source of truth the FAISS index and SQLite catalog are rebuilt from.

    DIR/records/<video_id>/<chunk_id>.parquet   one file per described chunk, written while ingesting
    DIR/records/<video_id>.parquet              the chunks compacted so far (a finished video's parts merged)
    DIR/records/<video_id>.<n>.parquet          ... continued, once the file before is VOLUME_BYTES: a live source
                                                compacted every few hours for months never rewrites more than that
    DIR/records/<video_id>.json                 the video's catalog row (status, reason, duration, config) as the
                                                writer last set it, so a rebuild restores it as it was
    DIR/damaged/records/...                     files found unreadable, moved here by `vidseek index rebuild`

Each file is written to a temporary name and renamed, so a crash never leaves half a file; writing a chunk again
replaces all of its rows (same chunk id), also once its first version was compacted, so retries never duplicate
and a chunk described again with fewer events keeps none of the old ones. A file that cannot be read (a disk
fault, a truncated copy) raises ``IndexDamaged`` naming it; readers that can go on without it pass an
``unreadable`` list instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from pipeline.index.damage import IndexDamaged, stamp
from pipeline.index.layout import IndexLayout
from pipeline.types import TRANSCRIBED, SegmentRecord, VideoRecord

VOLUME_BYTES = 256 << 20  # a compacted file takes merged parts until it is this large; later ones start the next
DAMAGED_REMEDY = (
    "moves it aside, restores everything else and marks its video failed, so the next ingest describes it again"
)


@dataclass(frozen=True)
class Unreadable:
    path: Path
    reason: str


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def remove_parts_folder(folder: Path) -> None:
    """Remove a video's folder of chunk parts once they are merged, with any half-written file a writer killed
    mid-write left there (``write_atomic``'s temporary names: the lease holder's own are renamed before it merges)."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink()
    folder.rmdir()


def write_table(table, path: Path) -> None:
    import pyarrow.parquet as pq

    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


class RecordStore:
    """``root``: the folder (``records/`` for captions and events; ``speech/`` for speech, where each transcribed
    chunk also has a marker row of kind ``TRANSCRIBED``, which is never indexed)."""

    def __init__(self, index_dir: Path, root: Path | None = None) -> None:
        self.layout = IndexLayout(index_dir)
        self.root = root or self.layout.records
        self.root.mkdir(parents=True, exist_ok=True)

    def write_chunk(self, video_id: str, chunk_id: str, rows: list[SegmentRecord]) -> None:
        import pyarrow as pa

        folder = self.root / video_id
        folder.mkdir(exist_ok=True)
        table = pa.Table.from_pylist([r.__dict__ for r in rows], schema=record_schema())
        write_table(table, folder / f"{chunk_id}.parquet")

    def write_video(self, video: VideoRecord) -> None:
        text = json.dumps(asdict(video))
        write_atomic(self.root / f"{video.video_id}.json", lambda tmp: tmp.write_text(text))

    def video_row(self, video_id: str, unreadable: list[Unreadable] | None = None) -> VideoRecord | None:
        """The catalog row kept by ``write_video``; None for videos indexed before rows were kept."""
        path = self.root / f"{video_id}.json"
        if not path.exists():
            return None
        try:
            row = json.loads(path.read_bytes())
            if isinstance(row, dict) and "status" in row:
                return VideoRecord.from_mapping(row | {"video_id": video_id})
            reason = "not a video row"
        except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError; fields of the wrong kind
            reason = f"{exc.__class__.__name__}: {exc}"
        self._damaged(path, reason, unreadable)
        return None

    def compact(self, video_id: str) -> None:
        """Merge a video's chunk parts into its last compacted file (a new one once that is VOLUME_BYTES), then
        drop the parts."""

        folder = self.root / video_id
        parts = sorted(folder.glob("*.parquet")) if folder.exists() else []
        if not parts:
            return
        volumes = self._volumes(video_id)
        full = not volumes or volumes[-1].stat().st_size >= VOLUME_BYTES
        target = self._volume(video_id, len(volumes)) if full else volumes[-1]
        tables = ([self._read(target)] if target.exists() else []) + [self._read(p) for p in parts]
        write_table(_newest_chunks(tables), target)
        for p in parts:
            p.unlink()
        remove_parts_folder(folder)

    def chunk_ids(self, video_id: str, unreadable: list[Unreadable] | None = None) -> set[str]:
        return set(self._column(video_id, "chunk_id", unreadable))

    def segment_ids(self, video_id: str) -> set[int]:
        """The ids of the video's indexed segments (markers left out)."""
        table = self._table(video_id, ["chunk_id", "segment_id", "kind"])
        if "kind" not in table.column_names:  # no file yet
            return set(table.column("segment_id").to_pylist())
        return {i for i, k in zip(table.column("segment_id").to_pylist(), table.column("kind").to_pylist(), strict=True)
                if k != TRANSCRIBED}  # fmt: skip

    def markers(self, video_id: str) -> list[tuple[str, str, str]]:
        """(video_id, chunk_id, note) of each transcribed chunk (speech records)."""
        table = self._table(video_id, ["chunk_id", "kind", "text"], [])
        if "kind" not in table.column_names:
            return []
        columns = (table.column(c).to_pylist() for c in ("chunk_id", "kind", "text"))
        return [(video_id, c, t) for c, k, t in zip(*columns, strict=True) if k == TRANSCRIBED]

    def _column(self, video_id: str, name: str, unreadable: list[Unreadable] | None = None) -> list:
        """One column of a video's records, read alone (the vectors are most of each file)."""
        tables = (self._read(f, [name], unreadable) for f in self._files(video_id))
        return [v for t in tables if t is not None for v in t.column(0).to_pylist()]

    def rows(self, video_id: str, unreadable: list[Unreadable] | None = None) -> list[SegmentRecord]:
        """Every segment of each chunk's newest version (a chunk written again after its first version was
        compacted is in two files). With ``unreadable``, a file that cannot be read is listed there and left out
        instead of raising. Columns a file lacks (written before they existed) take the field's default."""
        known = {f.name for f in fields(SegmentRecord)}
        rows = self._table(video_id, None, unreadable).to_pylist()
        return [
            SegmentRecord(**{k: v for k, v in r.items() if k in known and v is not None})
            for r in rows
            if r.get("kind") != TRANSCRIBED
        ]

    def _table(self, video_id: str, columns: list[str] | None, unreadable: list[Unreadable] | None = None):
        tables = [self._read(f, columns, unreadable) for f in self._files(video_id)]
        return _newest_chunks([t for t in tables if t is not None])

    def _read(self, path: Path, columns: list[str] | None = None, unreadable: list[Unreadable] | None = None):
        """One file as a table (``ParquetFile`` rather than ``read_table``, which sets up a dataset per call and
        takes twice as long: the writer reads one column of every video's records on each open)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(path) as f:
                return f.read(columns=columns)
        except (pa.ArrowException, KeyError) as exc:  # KeyError: a file without the column asked for
            self._damaged(path, f"{exc.__class__.__name__}: {str(exc)[:200]}", unreadable)
        return None

    def _damaged(self, path: Path, reason: str, unreadable: list[Unreadable] | None) -> None:
        if unreadable is None:
            raise IndexDamaged(path, reason, self.root.parent, DAMAGED_REMEDY)
        unreadable.append(Unreadable(path, reason))

    def check(self, video_id: str) -> list[Unreadable]:
        """The video's files that cannot be opened (the kept row, and each Parquet file's footer, not its data):
        what `vidseek status` reports."""
        unreadable: list[Unreadable] = []
        self.video_row(video_id, unreadable)
        for path in self._files(video_id):
            self._read(path, [], unreadable)
        return unreadable

    def set_aside(self, path: Path) -> Path:
        """Move an unreadable file to ``DIR/damaged/`` (same relative path, ``.damaged-<time>`` added); the
        compacted files after it are renumbered down, so the numbering has no gap and keeps their order."""
        target = self.layout.damaged / path.relative_to(self.layout.dir)
        target = target.with_name(target.name + stamp())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        video_id, _, rest = path.name.partition(".")
        if path.parent == self.root and rest.endswith("parquet"):
            number = int(rest.split(".")[0]) if rest.count(".") else 0
            while (later := self._volume(video_id, number + 1)).exists():
                os.replace(later, self._volume(video_id, number))
                number += 1
        return target

    def _files(self, video_id: str) -> list[Path]:
        """The compacted files, oldest first, then the parts written since."""
        return self._volumes(video_id) + sorted((self.root / video_id).glob("*.parquet"))

    def _volumes(self, video_id: str) -> list[Path]:
        """Probed in order (compaction numbers them without gaps): globbing would list every video's files."""
        volumes = []
        while (path := self._volume(video_id, len(volumes))).exists():
            volumes.append(path)
        return volumes

    def _volume(self, video_id: str, number: int) -> Path:
        return self.root / (f"{video_id}.{number}.parquet" if number else f"{video_id}.parquet")

    def video_ids(self) -> list[str]:
        """Video ids contain no dot (content hashes, ``live-`` + a hash)."""
        with os.scandir(self.root) as entries:
            names = [e.name for e in entries if e.is_dir() or e.name.endswith((".parquet", ".json"))]
        return sorted({name.split(".")[0] for name in names})

    def remove_video(self, video_id: str) -> None:
        import shutil

        for volume in self._volumes(video_id):
            volume.unlink()
        (self.root / f"{video_id}.json").unlink(missing_ok=True)
        shutil.rmtree(self.root / video_id, ignore_errors=True)


def record_schema():
    """The Parquet schema of a record file: one column per ``SegmentRecord`` field."""
    import pyarrow as pa

    arrow = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "SegmentKind": pa.string()}
    arrow["list[float]"] = pa.list_(pa.float64())  # as records were always written (a row's vector.tolist())
    return pa.schema([(f.name, arrow[f.type]) for f in fields(SegmentRecord)])


def vectors_of(rows: list) -> np.ndarray:
    """The ``vector`` of each record (SegmentRecord, FrameSpanRecord) as one float32 matrix."""
    return np.asarray([r.vector for r in rows], dtype=np.float32).reshape(len(rows), -1)


def _newest_chunks(tables: list):
    """The tables (oldest first) as one, each chunk's rows taken from the last table that holds the chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not tables:
        return pa.table({"chunk_id": pa.array([], pa.string()), "segment_id": pa.array([], pa.int64())})
    kept, later = [], set()
    for table in reversed(tables):
        chunks = table.column("chunk_id")
        if later:
            table = table.filter(pc.invert(pc.is_in(chunks, value_set=pa.array(sorted(later), chunks.type))))
        kept.append(table)
        later |= set(chunks.to_pylist())
    return pa.concat_tables(kept[::-1], promote_options="default")

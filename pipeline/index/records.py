"""Durable per-chunk results in Parquet: the source of truth the FAISS index and SQLite catalog are rebuilt from.

    DIR/records/<video_id>/<chunk_id>.parquet   one file per described chunk, written while ingesting
    DIR/records/<video_id>.parquet              all chunks of a finished video (parts compacted into one)

Each file is written to a temporary name and renamed, so a crash never leaves half a file; writing a chunk again
replaces it (same chunk id), so retries never duplicate.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _write_atomic(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class RecordStore:
    def __init__(self, index_dir: Path) -> None:
        self.root = Path(index_dir) / "records"
        self.root.mkdir(parents=True, exist_ok=True)

    def write_chunk(self, video_id: str, chunk_id: str, rows: list[dict]) -> None:
        import pyarrow as pa

        folder = self.root / video_id
        folder.mkdir(exist_ok=True)
        _write_atomic(pa.Table.from_pylist(rows), folder / f"{chunk_id}.parquet")

    def compact(self, video_id: str) -> None:
        """Merge a video's chunk parts into one file, then drop the parts."""
        import pyarrow as pa

        folder = self.root / video_id
        parts = sorted(folder.glob("*.parquet")) if folder.exists() else []
        if not parts:
            return
        tables = [_read(p) for p in parts]
        existing = self.root / f"{video_id}.parquet"
        if existing.exists():
            tables.insert(0, _read(existing))
        merged = pa.concat_tables(tables, promote_options="default")
        merged = _dedupe_last(merged)
        _write_atomic(merged, existing)
        for p in parts:
            p.unlink()
        folder.rmdir()

    def chunk_ids(self, video_id: str) -> set[str]:
        return set(self._column(video_id, "chunk_id"))

    def segment_ids(self, video_id: str) -> set[int]:
        return set(self._column(video_id, "segment_id"))

    def _column(self, video_id: str, name: str) -> list:
        """One column of a video's records, read alone (the vectors are most of each file)."""
        return [v for f in self._files(video_id) for v in _read(f, [name]).column(0).to_pylist()]

    def rows(self, video_id: str, columns: list[str] | None = None) -> list[dict]:
        return [row for f in self._files(video_id) for row in _read(f, columns).to_pylist()]

    def _files(self, video_id: str) -> list[Path]:
        """The compacted file, then the parts written since."""
        files = [self.root / f"{video_id}.parquet"] + sorted((self.root / video_id).glob("*.parquet"))
        return [f for f in files if f.exists()]

    def video_ids(self) -> list[str]:
        ids = {p.stem for p in self.root.glob("*.parquet")} | {p.name for p in self.root.iterdir() if p.is_dir()}
        return sorted(ids)

    def remove_video(self, video_id: str) -> None:
        import shutil

        (self.root / f"{video_id}.parquet").unlink(missing_ok=True)
        shutil.rmtree(self.root / video_id, ignore_errors=True)


def vectors_of(rows: list[dict]) -> np.ndarray:
    return np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), -1)


def _read(path: Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns)


def _dedupe_last(table):
    """Keep the last row for each segment id (a chunk written twice keeps its newest version)."""
    ids = table.column("segment_id").to_pylist()
    last = {sid: i for i, sid in enumerate(ids)}
    return table.take(sorted(last.values()))

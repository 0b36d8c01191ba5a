"""The frame index: what the footage looks like, beside what the model said about it.

Each decoded frame is embedded by an image-text model (pipeline.embed.visual); consecutive frames closer than
``frames.merge_cosine`` become one span with one vector (a fixed camera costs a vector per change, not per
second). The spans go where the captions go, in the same order and with the same repair:

    DIR/frames/<video_id>/<chunk_id>.parquet   the durable record of one chunk's spans, vectors included
    DIR/frames/<video_id>.parquet              ... merged into one file when the video finishes
    DIR/frames/embedder.json                   which image-text model made them, and its dimension
    catalog table frame_spans                  what each vector is (video, chunk, start_s, end_s)
    DIR/frames.faiss                           the vectors, by frame id (a hash of chunk id and ordinal)

A chunk's file is written to a temporary name and renamed; writing a chunk again replaces its file and, with the
same ids, its rows. On every open the writer compares ids (records, catalog, FAISS) and restores what a crash
left out (``FrameIndex.reconcile``); a rebuild recreates catalog rows and vectors from the files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.index.catalog import Catalog
from pipeline.index.damage import IndexDamaged, stamp
from pipeline.index.layout import IndexLayout
from pipeline.index.records import Unreadable, remove_parts_folder, vectors_of, write_atomic, write_table
from pipeline.index.vectors import VectorIndex
from pipeline.types import FrameChunk, FrameSpanRecord, segment_id_for

META_EMBEDDER = "frame_embedder"  # the visual embedder's name and dimension, recorded in the catalog
META_DIM = "frame_dim"
FRAMES_REMEDY = "sets it aside; the next ingest with frames.enabled embeds its chunks again"


def frame_records(chunk: FrameChunk, embedder, merge_cosine: float) -> list[FrameSpanRecord]:
    """One chunk's frames embedded and merged into spans: what a worker sends the writer."""
    from pipeline.embed.visual import frame_spans

    vectors = embedder.embed_images(chunk.frames)
    span = chunk.span
    return [
        FrameSpanRecord(
            segment_id_for(span.chunk_id, "frames", i),
            span.chunk_id,
            span.video_id,
            span.video_path,
            s.start_s,
            s.end_s,
            s.frames,
            s.vector.tolist(),
        )
        for i, s in enumerate(frame_spans(vectors, chunk.pts_s, span.covered_end_s, merge_cosine))
    ]


class FrameRecords:
    """The Parquet files of the frame index: one per chunk while a video is ingested, merged into one file per video
    when it finishes (as the caption records are), so an archive of many hours stays a file per video."""

    def __init__(self, index_dir: Path) -> None:
        self.root = IndexLayout(index_dir).frame_records
        self.root.mkdir(parents=True, exist_ok=True)

    def embedder(self) -> tuple[str, int] | None:
        """The model the records were made with (name, dimension); None before the first write."""
        path = self.root / "embedder.json"
        if not path.exists():
            return None
        kept = json.loads(path.read_text())
        return kept["name"], int(kept["dim"])

    def keep_embedder(self, name: str, dim: int) -> None:
        text = json.dumps({"name": name, "dim": dim})
        write_atomic(self.root / "embedder.json", lambda tmp: tmp.write_text(text))

    def write_chunk(self, rows: list[FrameSpanRecord]) -> None:
        folder = self.root / rows[0].video_id
        folder.mkdir(exist_ok=True)
        write_table(_table([r.__dict__ for r in rows]), folder / f"{rows[0].chunk_id}.parquet")

    def compact(self, video_id: str) -> None:
        """Merge the video's chunk files into ``<video_id>.parquet`` (written whole, then renamed), then drop them."""
        parts = self._parts(video_id)
        if not parts:
            return
        write_table(_table(self._read(video_id, None, None)), self._merged(video_id))
        for part in parts:
            part.unlink()
        remove_parts_folder(self.root / video_id)

    def video_ids(self) -> list[str]:
        with os.scandir(self.root) as entries:
            names = [e.name for e in entries if e.is_dir() or e.name.endswith(".parquet")]
        return sorted({name.removesuffix(".parquet") for name in names})

    def chunk_ids(self, video_id: str) -> set[str]:
        """The chunks embedded: the chunk files' names, and the merged file's chunk column."""
        merged = self._read_merged(video_id, ["chunk_id"], [])  # unreadable: its chunks count as not embedded
        return {p.stem for p in self._parts(video_id)} | {r["chunk_id"] for r in merged}

    def rows(self, video_id: str, unreadable: list[Unreadable] | None = None) -> list[FrameSpanRecord]:
        """Every span of the video's chunks, a chunk written again taken from its newest file. With
        ``unreadable``, a file that cannot be read is listed there and left out; without, it raises IndexDamaged
        naming it."""
        return [FrameSpanRecord(**r) for r in self._read(video_id, None, unreadable)]

    def ids(self, video_id: str) -> set[int]:
        """The video's frame ids, read alone (the vectors are most of each file); unreadable files are left out."""
        return {r["frame_id"] for r in self._read(video_id, ["chunk_id", "frame_id"], [])}

    def check(self, video_id: str) -> list[Unreadable]:
        """The video's files that cannot be read (what `vidseek status` reports)."""
        unreadable: list[Unreadable] = []
        self._read(video_id, ["chunk_id"], unreadable)
        return unreadable

    def remove_video(self, video_id: str) -> None:
        shutil.rmtree(self.root / video_id, ignore_errors=True)
        self._merged(video_id).unlink(missing_ok=True)

    def _merged(self, video_id: str) -> Path:
        return self.root / f"{video_id}.parquet"

    def _parts(self, video_id: str) -> list[Path]:
        folder = self.root / video_id
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def _read(self, video_id: str, columns: list[str] | None, unreadable: list[Unreadable] | None) -> list[dict]:
        """The chunk files' rows, then the merged file's rows of the chunks no chunk file holds (newer)."""
        columns = None if columns is None else sorted({*columns, "chunk_id"})
        parts = [row for path in self._parts(video_id) for row in self._read_file(path, columns, unreadable)]
        newer = {r["chunk_id"] for r in parts}
        return parts + [r for r in self._read_merged(video_id, columns, unreadable) if r["chunk_id"] not in newer]

    def _read_merged(self, video_id: str, columns: list[str] | None, unreadable: list[Unreadable] | None):
        path = self._merged(video_id)
        return self._read_file(path, columns, unreadable) if path.exists() else []

    def _read_file(self, path: Path, columns: list[str] | None, unreadable: list[Unreadable] | None) -> list[dict]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=columns).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            reason = f"{exc.__class__.__name__}: {str(exc)[:200]}"
            if unreadable is None:
                raise IndexDamaged(path, reason, self.root.parent) from None
            unreadable.append(Unreadable(path, reason))
            return []


def _table(rows: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_schema())


def check_frame_model(index_dir: Path, known: str | None, model: str) -> None:
    """SettingsConflict where the index's frame index was built (``known``: None before its first write) with
    another image-text model: its vectors would not compare with the new ones."""
    from pipeline.index.settings import SettingsConflict

    if known is not None and known != model:
        raise SettingsConflict(
            f"{index_dir}'s frame index was built with frames.model={known}, the configuration gives {model}: "
            f"leave frames.model out, or remove {IndexLayout(index_dir).frame_vectors.name} and "
            f"{IndexLayout(index_dir).frame_records.name}/ to build the frame index anew"
        )


class FrameIndex:
    """The writer's part for frames: records, then catalog, then vectors (as for captions)."""

    def __init__(self, index_dir: Path, catalog: Catalog, embedder_name: str, dim: int, settings: IndexConfig):
        self.catalog, self.records, self.dir, self.name = catalog, FrameRecords(index_dir), index_dir, embedder_name
        check_frame_model(index_dir, catalog.get_meta(META_EMBEDDER), embedder_name)
        self.vectors = VectorIndex(index_dir, dim, settings, path=IndexLayout(index_dir).frame_vectors)
        if self.vectors.path.exists():
            catalog.mark_written(self.vectors.path.name)
        if catalog.get_meta(META_EMBEDDER) is None:
            catalog.expect_written(self.vectors.path.name)
            catalog.set_meta(META_EMBEDDER, embedder_name)
            catalog.set_meta(META_DIM, str(dim))
            self.records.keep_embedder(embedder_name, dim)

    def write(self, rows: list[FrameSpanRecord]) -> None:
        if not rows:
            return
        self.records.write_chunk(rows)
        self.catalog.upsert_frame_spans(rows)
        self.vectors.upsert(np.array([r.frame_id for r in rows]), vectors_of(rows))

    def done_chunk_ids(self, video_id: str) -> set[str]:
        return self.records.chunk_ids(video_id)

    def remove_video(self, video_id: str) -> int:
        ids = self.catalog.remove_frame_spans(video_id)
        self.vectors.remove(ids)
        self.save()
        self.records.remove_video(video_id)
        return len(ids)

    def reconcile(self) -> int:
        """Catalog rows and vectors for recorded spans a crash left out, and no vector without a row."""
        catalog_ids, faiss_ids, repaired = self.catalog.frame_ids(), set(self.vectors.ids().tolist()), 0
        for video_id in self.records.video_ids():
            lost = {i for i in self.records.ids(video_id) if i not in catalog_ids or i not in faiss_ids}
            if not lost:
                continue
            missing = [r for r in self.records.rows(video_id, unreadable=[]) if r.frame_id in lost]
            self.catalog.upsert_frame_spans(missing)
            self.vectors.upsert(np.array([r.frame_id for r in missing]), vectors_of(missing))
            catalog_ids |= lost
            repaired += len(missing)
        stale = set(self.vectors.ids().tolist()) - catalog_ids
        if stale:
            self.vectors.remove(stale)
        if repaired or stale:
            self.save()
        return repaired

    def save(self) -> None:
        self.vectors.save()
        self.catalog.mark_written(self.vectors.path.name)


def open_frame_index(index_dir: Path, catalog: Catalog, settings: IndexConfig) -> FrameIndex | None:
    """The index's frame index where it has one (its model recorded in the catalog, or in the records when the
    catalog was lost); None where no frame was ever indexed."""
    name, dim = catalog.get_meta(META_EMBEDDER), catalog.get_meta(META_DIM)
    kept = (name, int(dim)) if name and dim else FrameRecords(index_dir).embedder()
    return FrameIndex(index_dir, catalog, *kept, settings) if kept else None


def rebuild_frames(index_dir: Path, catalog: Catalog, settings: IndexConfig) -> int:
    """The frame index's catalog rows and vectors from its records (``vidseek index rebuild``): the vectors are
    written beside the old file and renamed over it; an unreadable record is moved to ``DIR/damaged/frames/`` (the
    next ingest with the frame index embeds its chunks again). Returns how many spans."""
    records = FrameRecords(index_dir)
    if (kept := records.embedder()) is None:
        return 0
    name, dim = kept
    catalog.set_meta(META_EMBEDDER, name)
    catalog.set_meta(META_DIM, str(dim))
    files = IndexLayout(index_dir)
    new_file = files.rebuilding(files.frame_vectors)
    new_file.unlink(missing_ok=True)  # left by a rebuild that was cut short
    vectors, total = VectorIndex(index_dir, dim, settings, path=new_file), 0
    for video_id in records.video_ids():
        catalog.remove_frame_spans(video_id)
        unreadable: list[Unreadable] = []
        rows = records.rows(video_id, unreadable)
        for bad in unreadable:
            target = files.damaged / bad.path.relative_to(files.dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(bad.path, target.with_name(target.name + stamp()))
        if rows:
            catalog.upsert_frame_spans(rows)
            vectors.upsert(np.array([r.frame_id for r in rows]), vectors_of(rows))
            total += len(rows)
    vectors.save()
    os.replace(new_file, files.frame_vectors)
    catalog.mark_written(files.frame_vectors.name)
    return total


def _schema():
    import pyarrow as pa

    arrow = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "list[float]": pa.list_(pa.float32())}
    return pa.schema([(f.name, arrow[f.type]) for f in fields(FrameSpanRecord)])

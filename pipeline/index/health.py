"""Whether an index's files can be read and agree: what searches check on open and `vidseek status` reports.

The catalog lists segments; ``vectors.faiss`` must hold a vector for each. While a writer holds the lease the
vectors may lag the catalog (they are saved every 30 s), so only an index nobody is writing is held to that.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.index.catalog import Catalog
from pipeline.index.context import ContextVectors
from pipeline.index.damage import IndexDamaged, IndexNotWritten
from pipeline.index.frames import FRAMES_REMEDY, META_DIM, FrameRecords
from pipeline.index.layout import IndexLayout
from pipeline.index.lock import IndexLock
from pipeline.index.records import DAMAGED_REMEDY, RecordStore
from pipeline.index.vectors import VectorIndex

VECTORS_REMEDY = "rebuilds it from the records (so does the next `vidseek ingest` into this index)"


def check_vectors(index_dir: Path, catalog: Catalog, vectors: VectorIndex, frames: bool = False) -> None:
    """Raise ``IndexDamaged`` naming ``vectors.faiss`` (``frames.faiss`` with ``frames``) when it does not hold
    what the catalog lists (a missing, stale or foreign file) and no writer is at work; ``IndexNotWritten`` where
    the writer never saved it."""
    if IndexLock(index_dir).held_elsewhere():
        return
    listed = catalog.count_frame_spans() if frames else catalog.count_segments()
    what = counted(listed, "frame span" if frames else "segment")
    problem = ""
    if listed and not vectors.path.exists():
        written = catalog.written(vectors.path.name)
        if written is False:
            raise IndexNotWritten(vectors.path, what, index_dir, VECTORS_REMEDY)
        problem = f"missing: the catalog lists {what}" + ("; it was written before, then deleted" if written else "")
    elif vectors.size != listed:
        problem = f"holds {vectors.size} vectors but the catalog lists {what}"
    else:
        first_last = catalog.frame_id_range() if frames else catalog.segment_id_range()
        if missing := [i for i in first_last if i is not None and not vectors.has(i)]:
            problem = f"lacks id {missing[0]}, which the catalog lists: it belongs to another state of the index"
    if problem:
        raise IndexDamaged(vectors.path, problem, index_dir, VECTORS_REMEDY)


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def diagnose(index_dir: Path) -> list[str]:
    """Every problem found, one message each naming the file and the remedy; empty when the index is sound."""
    problems, catalog, files = [], None, IndexLayout(index_dir)
    if not files.catalog.exists():
        rebuild = f"`vidseek index rebuild --index {index_dir}`"
        problems.append(f"{files.catalog} is missing; {rebuild} restores it from the records")
    else:
        try:
            catalog = Catalog(index_dir)
        except IndexDamaged as exc:
            problems.append(str(exc))
    dim = int(catalog.get_meta("dim") or 0) if catalog is not None else 0
    if dim:  # else nothing was ever indexed
        try:
            check_vectors(index_dir, catalog, VectorIndex(index_dir, dim, mapped=True))
        except ValueError as exc:  # IndexDamaged, or vectors of another dimension
            problems.append(str(exc))
        if files.context.exists():
            try:
                ContextVectors(index_dir, dim, mapped=True)
            except ValueError as exc:
                problems.append(str(exc))
    if catalog is not None and (frame_dim := catalog.get_meta(META_DIM)):
        try:
            frame_vectors = VectorIndex(index_dir, int(frame_dim), mapped=True, path=files.frame_vectors)
            check_vectors(index_dir, catalog, frame_vectors, frames=True)
        except ValueError as exc:
            problems.append(str(exc))
    if catalog is not None:
        catalog.close()
    if files.records.is_dir():
        records = RecordStore(index_dir)
        for video_id in records.video_ids():
            for bad in records.check(video_id):
                problems.append(str(IndexDamaged(bad.path, bad.reason, index_dir, DAMAGED_REMEDY)))
    if files.frame_records.is_dir():
        frames = FrameRecords(index_dir)
        for video_id in frames.video_ids():
            for bad in frames.check(video_id):
                problems.append(str(IndexDamaged(bad.path, bad.reason, index_dir, FRAMES_REMEDY)))
    return problems

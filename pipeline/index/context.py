"""Context vectors: each segment's surroundings, embedded, to re-rank searches over the whole index.

A caption alone is often generic ("a man talks to the camera"); the segments next to it say which video and which
moment it is. A segment's context is its own text followed by the ``index.context_neighbours`` segments of its
video nearest to it in time, nearest first, embedded with the index's embedder and kept in ``context.faiss`` under
the segment's id. A count rather than a time window, so it reads the same on footage of many short moments and on
footage of a few long ones. A search over the whole index scores its FAISS candidates by similarity minus hubness
plus ``CONTEXT_WEIGHT`` times the query's similarity to their context (pipeline.search); the weight and the count
were chosen by cross-validation over three kinds of footage (benchmarks/RESULTS.md).

A new segment makes its neighbours' contexts stale (``segments.context_ok = 0``, set by the catalog); the writer
recomputes stale ones when it saves, writing ``context.faiss`` before marking them done, so a crash only means
recomputing them again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.layout import IndexLayout
from pipeline.index.vectors import VectorIndex, _faiss
from pipeline.types import IndexedSegment

CONTEXT_WEIGHT = 0.25
_BATCH = 512  # contexts embedded at a time


class ContextVectors(VectorIndex):
    """One context vector per segment id; never searched, only looked up by id (IndexIDMap2). Float32 while the
    index is small; past ``index.compress_min`` vectors, unless ``index.codec`` is Flat, 8-bit scalar quantised
    (a byte per dimension instead of four; computed, not benchmarked), like the main index's lists."""

    @staticmethod
    def where(layout: IndexLayout) -> Path:
        return layout.context

    def __init__(
        self, index_dir: Path, dim: int, cfg: IndexConfig | None = None, mapped: bool = False, path: Path | None = None
    ) -> None:
        cfg = cfg or IndexConfig()
        super().__init__(index_dir, dim, IndexConfig(type="flat"), mapped, path)
        self.compress_min = cfg.compress_min if cfg.codec != "Flat" else None

    @property
    def compressed(self) -> bool:
        return "ScalarQuantizer" in type(_faiss().downcast_index(self.index.index)).__name__

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        super().upsert(ids, vectors)
        if self.compress_min is not None and self.size > self.compress_min and not self.compressed:
            faiss = _faiss()
            sq8 = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            self._move_into(faiss.IndexIDMap2(sq8), sample_size=100_000)

    def lookup(self, ids: list[int]) -> dict[int, np.ndarray]:
        """The context vectors of those of ``ids`` that have one (by the id map: listing every id of a 1M index
        took 0.12 s of a cold search)."""
        found = {}
        for i in ids:
            try:
                found[int(i)] = self.index.reconstruct(int(i))
            except RuntimeError:  # no context yet
                continue
        return found


def context_text(own: IndexedSegment, around: list[IndexedSegment], neighbours: int) -> str:
    """The segment's text, then its ``neighbours`` nearest segments' (by distance between centres), nearest first;
    a text already there is not repeated."""
    centre = own.start_s + own.end_s
    others = sorted(
        (r for r in around if r.segment_id != own.segment_id),
        key=lambda r: (abs(r.start_s + r.end_s - centre), r.start_s),
    )
    texts = [own.text]
    for r in others[:neighbours]:
        if r.text not in texts:
            texts.append(r.text)
    return " ".join(texts)


def update_context(catalog: Catalog, context: ContextVectors, embedder: Embedder, neighbours: int) -> list[int]:
    """Recompute the stale contexts; returns their ids, for the caller to mark done once ``context`` is saved."""
    stale = catalog.context_stale()
    if not stale:
        return []
    by_video: dict[str, list[IndexedSegment]] = {}
    for row in catalog.segments(stale).values():
        by_video.setdefault(row.video_id, []).append(row)
    ids, texts = [], []
    for video_id, rows in by_video.items():
        around = _surroundings(catalog, video_id, rows, neighbours)
        for row in rows:
            ids.append(row.segment_id)
            texts.append(context_text(row, around, neighbours))
    for start in range(0, len(ids), _BATCH):
        context.upsert(np.array(ids[start : start + _BATCH]), embedder.embed(texts[start : start + _BATCH]))
    return ids


def _surroundings(catalog: Catalog, video_id: str, rows: list[IndexedSegment], neighbours: int) -> list[IndexedSegment]:
    """The video's segments around ``rows``: a window grown until it holds ``neighbours`` more segments on each
    side of them, or the whole video (a live source's year of chunks is not read for one new chunk)."""
    lo, hi = min(r.start_s for r in rows), max(r.end_s for r in rows)
    pad = max(hi - lo, 60.0)
    while True:
        around = catalog.segments_between(video_id, lo - pad, hi + pad)
        before = sum(r.end_s <= lo for r in around)
        after = sum(r.start_s >= hi for r in around)
        if (before >= neighbours and after >= neighbours) or pad > 1e9:
            return around
        pad *= 8

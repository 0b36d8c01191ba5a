"""Searching the frame index, and fusing it with the captions.

A query (its words through the image-text model's text tower, or an image through its vision tower) is compared
with the frame spans; the best ``POOL`` spans seed moments:

  - moments (``frame_moments``): the best span not yet used seeds one; touching spans of the same video (at most
    ``JOIN_GAP_S`` apart) join it while their score stays within ``JOIN_SPREAD`` of the spread between the pool's
    best and worst score below the seed's. A moment thus runs over consecutive matching frames, across chunk
    boundaries, with its own start and end, to the frame (one second at ``decode.fps: 1``).
  - fusion (``fuse``): reciprocal rank fusion of the caption ranking and the frame moments (``RRF_K``), since the
    two spaces' scores are not comparable. A frame moment overlapping a caption result of the same video is the
    same moment: their contributions add up, and the result keeps the caption's text with the frames' tighter span
    when it lies inside the caption's. Retrieval quality could not be measured without real weights (no hub
    here): these constants are the literature's defaults and a reasoned first choice, tested only for their
    mechanics (tests/test_frame_search.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.index.catalog import Catalog
from pipeline.index.frames import META_DIM, META_EMBEDDER
from pipeline.index.health import check_vectors
from pipeline.index.layout import IndexLayout
from pipeline.index.settings import index_settings
from pipeline.index.vectors import VectorIndex
from pipeline.moments import iou
from pipeline.types import FrameSpanRecord, Hit

POOL = 64  # frame spans compared per query before moments are formed
JOIN_GAP_S = 1.0  # spans this close count as consecutive
JOIN_SPREAD = 0.25  # a span joins a moment while its score is within this share of the pool's spread of the seed's
RRF_K = 60  # reciprocal rank fusion: 1 / (RRF_K + rank)
MODALITIES = ("text", "visual", "both")


@dataclass
class _Moment:
    video_id: str
    video_path: str
    start_s: float
    end_s: float
    score: float


def frame_moments(candidates: list[tuple[FrameSpanRecord, float]], k: int) -> list[_Moment]:
    """Moments from scored frame spans, best first (see the module's docstring)."""
    if not candidates:
        return []
    scores = np.array([s for _, s in candidates])
    spread = float(scores.max() - scores.min())
    by_time = sorted(range(len(candidates)), key=lambda i: (candidates[i][0].video_id, candidates[i][0].start_s))
    place = {i: n for n, i in enumerate(by_time)}
    used: set[int] = set()
    moments = []
    for seed in np.argsort(-scores):
        if seed in used:
            continue
        floor = scores[seed] - JOIN_SPREAD * spread
        run = [int(seed)]
        for step in (-1, 1):  # grow left, then right, through touching spans that still match
            n = place[int(seed)]
            while 0 <= n + step < len(by_time):
                nxt, cur = by_time[n + step], by_time[n]
                a, b = candidates[cur][0], candidates[nxt][0]
                touching = a.video_id == b.video_id and (
                    b.start_s - a.end_s <= JOIN_GAP_S if step > 0 else a.start_s - b.end_s <= JOIN_GAP_S
                )
                if nxt in used or not touching or scores[nxt] < floor:
                    break
                run.append(nxt)
                n += step
        used.update(run)
        spans = [candidates[i][0] for i in run]
        moments.append(
            _Moment(
                spans[0].video_id,
                spans[0].video_path,
                min(s.start_s for s in spans),
                max(s.end_s for s in spans),
                float(scores[seed]),
            )
        )
        if len(moments) == k:
            break
    return moments


class FrameSearcher:
    """The frame index of one index folder, for searches. ``visual``: the image-text model (by default the one
    the index was built with, loaded on the first search)."""

    def __init__(self, index_dir: Path, catalog: Catalog, visual=None) -> None:
        self.catalog, self.name = catalog, catalog.get_meta(META_EMBEDDER)
        if self.name is None:
            raise ValueError(f"{index_dir} has no frame index: ingest with frames.enabled=true first")
        dim, path = int(catalog.get_meta(META_DIM)), IndexLayout(index_dir).frame_vectors
        self.vectors = VectorIndex(index_dir, dim, index_settings(index_dir, catalog), True, path)
        check_vectors(index_dir, catalog, self.vectors, frames=True)  # a lost file is named, not a silent gap
        self._visual, self._texts = visual, visual

    @classmethod
    def of(cls, index_dir: Path, catalog: Catalog, visual=None) -> FrameSearcher | None:
        """The index's frame searcher, or None where no frame was ever indexed (a damaged or missing
        ``frames.faiss`` raises IndexDamaged, naming the file and the remedy)."""
        if catalog.get_meta(META_EMBEDDER) is None:
            return None
        return cls(index_dir, catalog, visual)

    @property
    def visual(self):
        """The whole model (an image query needs its vision tower), loaded quietly on first use."""
        if self._visual is None:
            from pipeline.embed.visual import SiglipEmbedder

            self._visual = SiglipEmbedder(self.name, quiet=True)
        return self._visual

    @property
    def texts(self):
        """What embeds words: the model given, else its ONNX text tower (pipeline.embed.text_tower: no torch)."""
        if self._texts is None:
            from pipeline.embed.text_tower import make_text_tower

            self._texts = make_text_tower(self.name)
        return self._texts

    def search_text(self, query: str, k: int, filters=None) -> list[Hit]:
        return self.search_vector(self.texts.embed_texts([query])[0], k, filters)

    def search_image(self, image: np.ndarray, k: int, filters=None) -> list[Hit]:
        """``image``: (H, W, 3) uint8 RGB."""
        return self.search_vector(self.visual.embed_images(image[None])[0], k, filters)

    def search_vector(self, vector: np.ndarray, k: int, filters=None) -> list[Hit]:
        if self.vectors.size == 0 or (filters is not None and (filters.kind or filters.label)):
            return []  # frames have no kind or label: a filter on them leaves none
        only = None
        if filters is not None and filters.active:
            video_id = self.catalog.require_video(filters.video).video_id if filters.video else None
            only = self.catalog.select_frame_ids(video_id, filters.after_s, filters.before_s)
            if not only:
                return []
        scores, ids = self.vectors.search(vector, max(POOL, 4 * k), only)
        spans = self.catalog.frame_spans(ids)
        candidates = [(spans[int(i)], float(s)) for s, i in zip(scores, ids, strict=True) if int(i) in spans]
        return [self._hit(m) for m in frame_moments(candidates, k)]

    def _hit(self, moment: _Moment) -> Hit:
        """The moment, with the text of the caption or event that matches its span best (temporal IoU) where it is
        described; none before the describer has reached it."""
        start, end = moment.start_s, moment.end_s
        segments = self.catalog.segments_between(moment.video_id, start, end)
        best = max(segments, key=lambda s: float(iou(start, end, s.start_s, s.end_s)), default=None)
        text, model = (best.text, best.model) if best else ("", "")
        return Hit(moment.video_path, start, end, moment.score, text, "frames", "", moment.video_id, model)


def fuse(text_hits: list[Hit], frame_hits: list[Hit], k: int) -> list[Hit]:
    """One ranking from the two (see the module's docstring); scores become fused RRF scores."""
    fused: list[tuple[float, Hit]] = [(1 / (RRF_K + rank), h) for rank, h in enumerate(text_hits, 1)]
    merged: set[int] = set()  # caption results a frame moment was merged into (each takes one)
    for rank, frames in enumerate(frame_hits, 1):
        score = 1 / (RRF_K + rank)
        same = next(
            (n for n, (_, h) in enumerate(fused[: len(text_hits)]) if n not in merged and _overlap(h, frames)), None
        )
        if same is None:
            fused.append((score, frames))
            continue
        merged.add(same)
        total, caption = fused[same]
        inside = caption.start_s <= frames.start_s and frames.end_s <= caption.end_s
        fused[same] = (
            total + score,
            replace(caption, start_s=frames.start_s, end_s=frames.end_s) if inside else caption,
        )
    fused.sort(key=lambda pair: -pair[0])
    return [replace(h, score=s) for s, h in fused[:k]]


def _overlap(a: Hit, b: Hit) -> bool:
    return a.video_id == b.video_id and a.start_s < b.end_s and b.start_s < a.end_s

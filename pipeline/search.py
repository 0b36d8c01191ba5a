"""Search: a question in words -> the moments (video, start_s, end_s) whose captions or events match it.

embed query -> FAISS top-N (exact; restricted by an ID selector when filtered)
  - filtered to one video:  localise the moment inside it (pipeline.moments.localize): spans covered by the
                            video's segments, scored by expected IoU under their similarity and, weighted as the
                            index calibrated it (pipeline.index.prior), where similar segments sit in other videos
  - otherwise:              re-rank by similarity minus hubness (pipeline.index.hubness; copies of one sentence
                            share theirs: ``tied_alike``) plus the similarity to the segment's context
                            (pipeline.index.context); a caption spans the still footage
                            that carries it (pipeline.carry); a hit repeating a better one of its video is
                            dropped (pipeline.moments.distinct)
Every result's text is that of a segment inside its span, and results come best first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import EmbedConfig
from pipeline.embed.base import Embedder
from pipeline.frame_search import MODALITIES, FrameSearcher, fuse
from pipeline.index.catalog import Catalog
from pipeline.index.context import CONTEXT_WEIGHT, ContextVectors
from pipeline.index.folder import Index
from pipeline.index.health import check_vectors
from pipeline.index.hubness import rank_scores
from pipeline.index.layout import IndexLayout, NotAnIndex
from pipeline.index.prior import prior_neighbours
from pipeline.index.settings import index_settings
from pipeline.index.vectors import VectorIndex
from pipeline.limits import MAX_LABEL_CHARS, MAX_NAME_CHARS, MAX_RANKED, check_length, check_time
from pipeline.moments import distinct, localize
from pipeline.timefmt import check_range
from pipeline.types import Hit, IndexedSegment

SEARCHED_KINDS = ("caption", "event", "speech")  # what a kind filter may keep (the text index's segments)
MAX_VIDEO_SEGMENTS = 5000  # a video with more (a live source) is searched like the whole index
RERANK_POOL = 50  # FAISS candidates re-ranked by hubness and context in a search over the whole index
KEEP_TIES = True  # candidates of equal similarity keep one hubness-adjusted score (``tied_alike``)


@dataclass(frozen=True)
class Filters:
    video: str | None = None  # a video id, its path as ingested, or its file name
    after_s: float | None = None
    before_s: float | None = None
    kind: str | None = None  # caption | event | speech
    label: str | None = None

    def __post_init__(self) -> None:
        check_time(self.after_s, "after")
        check_time(self.before_s, "before")
        check_range(self.after_s, self.before_s)
        check_length(self.video, "video", MAX_NAME_CHARS)
        check_length(self.label, "label", MAX_LABEL_CHARS)
        if self.kind not in (None, *SEARCHED_KINDS):
            raise ValueError(f"kind must be one of {', '.join(SEARCHED_KINDS)}, got {self.kind!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


@dataclass(frozen=True)
class VideoGroup:
    video: str
    video_id: str
    results: list[Hit]


class Searcher:
    """``visual``: the image-text model for the frame index (by default the index's own, loaded on first use)."""

    def __init__(self, index_dir: str | Path, embedder: Embedder | None = None, visual=None) -> None:
        self.dir = Path(index_dir)
        files = IndexLayout(self.dir)
        if not files.catalog.exists():
            raise NotAnIndex(self.dir)
        self.catalog = Catalog(self.dir)
        if embedder is None:  # a search process: the index's embedder, loaded the fast way
            from pipeline.embed import make_query_embedder

            embedder = make_query_embedder(EmbedConfig(model=self.catalog.get_meta("embedder") or EmbedConfig().model))
        self.embedder = embedder
        self.vectors = VectorIndex(self.dir, embedder.dim, index_settings(self.dir, self.catalog), mapped=True)
        check_vectors(self.dir, self.catalog, self.vectors)  # a missing or stale file is named, not an empty answer
        has_context = files.context.exists()
        self.context = ContextVectors(self.dir, embedder.dim, mapped=True) if has_context else None
        self.frames = FrameSearcher.of(self.dir, self.catalog, visual)  # None: the index has no frame index
        self._carries = self.catalog.has_carried()

    @classmethod
    def open(cls, folder: str | Path, embedder: Embedder | None = None) -> Searcher:
        """The searcher of the index in ``folder``; NotAnIndex (naming the folder and the remedy) where it holds
        none, or only records a rebuild must restore first."""
        return cls(Index.open(folder).dir, embedder)

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        localize_moments: bool = True,
        merge: bool = True,
        modality: str = "both",
    ) -> list[Hit]:
        """``modality``: ``text`` (captions and events), ``visual`` (the frame index) or ``both``, fused
        (pipeline.frame_search); ``both`` on an index without frames is ``text``."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
        if modality == "visual" and self.frames is None:
            raise ValueError(f"{self.dir} has no frame index: ingest with frames.enabled=true first")
        text = [] if modality == "visual" else self._text(query, k, filters, localize_moments, merge)
        if modality == "text" or self.frames is None:
            return text
        frames = self.frames.search_text(query, k, filters)
        return frames if modality == "visual" else fuse(text, frames, k)

    def _text(self, query: str, k: int, filters: Filters | None, localize_moments: bool, merge: bool) -> list[Hit]:
        if self.vectors.size == 0:  # a frames-only index: no text model is loaded for nothing
            return []
        return self.search_vector(self.embedder.embed([query])[0], k, filters, localize_moments, merge)

    def search_image(self, image: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Moments that look like ``image`` ((H, W, 3) uint8 RGB), from the frame index."""
        if self.frames is None:
            raise ValueError(f"{self.dir} has no frame index: ingest with frames.enabled=true first")
        return self.frames.search_image(image, k, filters)

    def search_page(
        self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None, modality: str = "both"
    ) -> list[Hit]:
        """Results ``offset`` to ``offset + k`` of the query's ranking (at most ``MAX_RANKED`` deep). Each page is
        ranked anew: past the first 50 results a later page can repeat or skip one near its edge."""
        if offset + k > MAX_RANKED:
            raise ValueError(f"offset + k may reach {MAX_RANKED} results at most, got {offset + k}")
        return self.search(query, offset + k, filters, modality=modality)[offset:]

    def search_by_video(
        self,
        query: str,
        k: int = 10,
        offset: int = 0,
        filters: Filters | None = None,
        per_video: int = 3,
        modality: str = "both",
    ) -> list[VideoGroup]:
        """Videos ranked by their best moment, each with up to ``per_video`` of its moments among the ranking's
        first ``MAX_RANKED``: ``k`` videos from the ``offset``-th."""
        pool = self.search(query, min(MAX_RANKED, (offset + k) * per_video * 4), filters, modality=modality)
        groups: dict[str, list[Hit]] = {}  # in the order of each video's best moment
        for hit in pool:
            groups.setdefault(hit.video_id, []).append(hit)
        chosen = list(groups.values())[offset : offset + k]
        return [VideoGroup(hits[0].video, hits[0].video_id, hits[:per_video]) for hits in chosen]

    def search_vector(
        self,
        query_vector: np.ndarray,
        k: int = 10,
        filters: Filters | None = None,
        localize_moments: bool = True,
        merge: bool = True,
    ) -> list[Hit]:
        """``merge``: one result per moment (a hit repeating a better one of its video is dropped)."""
        filters = filters or Filters()
        if self.vectors.size == 0:
            return []
        video_id = None
        if filters.video is not None:
            video_id = self.catalog.require_video(filters.video).video_id
        only = None
        if filters.active:
            only = self.catalog.select_ids(video_id, filters.after_s, filters.before_s, filters.kind, filters.label)
            if not only:
                return []
        if video_id is not None and localize_moments and only is not None and len(only) <= MAX_VIDEO_SEGMENTS:
            return self._localize(query_vector, video_id, only, k, filters)
        scores, ids = self.vectors.search(query_vector, max(k * 4, RERANK_POOL) if merge else k, only)
        hits = self._hits(scores, ids, query_vector if video_id is None else None)
        return (distinct(hits, k) if merge else hits)[:k]

    def dense(self, query_vector: np.ndarray, k: int, only=None) -> list[Hit]:
        """Plain ranking: exact inner product, one hit per segment."""
        return self._hits(*self.vectors.search(query_vector, k, only))

    def _hits(self, scores, ids, rerank_for: np.ndarray | None = None) -> list[Hit]:
        """Hits in FAISS order; given the query vector ``rerank_for`` (searches across videos), re-ranked by
        similarity minus hubness plus context similarity."""
        rows = self.catalog.segments(int(i) for i in ids)
        found = [(float(s), r) for s, i in zip(scores, ids, strict=True) if (r := rows.get(int(i))) is not None]
        if rerank_for is not None and found:
            sims = np.array([s for s, _ in found])
            ranked = rank_scores(sims, [r.hubness for _, r in found])
            if KEEP_TIES:
                ranked = tied_alike(sims, ranked)
            if self.context is not None:
                ranked += CONTEXT_WEIGHT * self._context_similarity(rerank_for, [r.segment_id for _, r in found], sims)
            found = sorted(zip(ranked.tolist(), (r for _, r in found), strict=True), key=lambda x: -x[0])
        return [hit(r, *self._held(r), s) for s, r in found]

    def _held(self, segment: IndexedSegment) -> tuple[float, float]:
        """A segment's span; for a caption, where it holds: with the still footage carrying it (pipeline.carry),
        so a scene that holds for an hour is found over that hour."""
        if self._carries and segment.kind == "caption":
            held = self.catalog.carried_span(segment.video_id, segment.carried_from or segment.chunk_id)
            if held is not None:
                return held
        return segment.start_s, segment.end_s

    def _context_similarity(self, query_vector: np.ndarray, ids: list[int], sims: np.ndarray) -> np.ndarray:
        """The query's similarity to each segment's context; a segment without one yet counts as its own context."""
        vectors = self.context.lookup(ids)
        return np.array(
            [float(vectors[i] @ query_vector) if i in vectors else s for i, s in zip(ids, sims, strict=True)]
        )

    def _localize(
        self, query_vector: np.ndarray, video_id: str, only: list[int], k: int, filters: Filters
    ) -> list[Hit]:
        scores, ids = self.vectors.search(query_vector, len(only), only)
        rows = self.catalog.segments(int(i) for i in ids)
        segs = [(rows[int(i)], float(s)) for s, i in zip(scores, ids, strict=True) if int(i) in rows]
        starts = np.array([r.start_s for r, _ in segs])
        ends = np.array([r.end_s for r, _ in segs])
        sims = np.array([s for _, s in segs])
        duration = self.catalog.durations([video_id]).get(video_id) or float(ends.max())
        weight = float(self.catalog.get_meta("prior_weight") or 0.0)
        prior = prior_neighbours(self.catalog, self.vectors, query_vector, video_id) if weight > 0 else []
        moments = localize(starts, ends, sims, duration, prior, k, weight, filters.after_s, filters.before_s)
        return [hit(segs[m.segment][0], m.start_s, m.end_s, m.score) for m in moments]


def tied_alike(similarities: np.ndarray, ranked: np.ndarray, tie: float = 1e-6) -> np.ndarray:
    """Candidates of the same similarity (the same sentence in several videos) keep one hubness-adjusted score,
    their mean: hubness is a property of the text, and where copies of one sentence differ in it, that comes from
    which other videos happen to lie near each, nothing the query says, so ordering them by it is a coin flip.
    Their contexts, compared with the query, still tell them apart (the query's evidence)."""
    out = ranked.copy()
    order = np.argsort(-similarities, kind="stable")
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or similarities[order[start]] - similarities[order[end]] > tie:
            group = order[start:end]
            if len(group) > 1:
                out[group] = ranked[group].mean()
            start = end
    return out


def hit(segment: IndexedSegment, start_s: float, end_s: float, score: float) -> Hit:
    """A result: ``segment`` is the catalog's segment whose text describes the span."""
    s = segment
    return Hit(s.video_path, start_s, end_s, score, s.text, s.kind, s.label, s.video_id, s.model)

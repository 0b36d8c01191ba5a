"""From matching segments to moments. Every moment's span is covered by indexed segments, and its text is the
best-matching of them, so a result never shows a span that nothing describes.

Over the whole index (``distinct``): hits come best first; one that repeats a better hit of the same video (temporal
IoU >= ``SAME_MOMENT_IOU``) is dropped, so the results are different moments, each with its own span and text.

Inside one video (``localize``): a moment may run over several consecutive segments. The candidates are the spans
that runs of the video's segments cover without a gap (``covered_spans``), each scored by its expected temporal
IoU with the true moment under two beliefs:
  - the video's own segments, weighted by how well their text matches (softmax over similarity, ``TAU``);
  - where similar descriptions sit in *other* videos, as fractions of their length (the ``prior`` neighbours),
    counted ``prior_weight`` times; the index calibrates that weight on its own segments (pipeline.index.prior):
    high where positions repeat across videos, zero where they do not.
Rank 1 is the best candidate. Where the index gives the prior weight, the next ranks are the next best candidates
that do not repeat a moment already chosen; where it does not, they are the most similar segments that do not,
which keeps the alternatives as varied as a plain ranking (expected IoU alone would offer near-copies of rank 1).
All are reported with their expected IoU, best first. Measured on three kinds of footage: benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAU = 0.03  # softmax temperature over cosine similarities (chosen by cross-validation: benchmarks/RESULTS.md)
PRIOR_TAU = 0.05
SAME_MOMENT_IOU = 0.7  # a hit overlapping a better one of its video this much is the same moment
COVER_GAP_S = 1.0  # consecutive segments this close count as one covered stretch
MAX_RUN = 10  # segments joined at most into one candidate span (bounds the candidates at O(10 n))
BELIEF_SEGMENTS = 64  # the most similar segments carry the video's own belief: the rest weigh e^-10 or less


@dataclass(frozen=True)
class Neighbour:
    """A similar segment elsewhere: its span as fractions of its video's duration, and its similarity."""

    start_frac: float
    end_frac: float
    score: float


@dataclass(frozen=True)
class Moment:
    """A span inside one video, its score, and the index of the segment whose text describes it."""

    start_s: float
    end_s: float
    score: float
    segment: int


def iou(start_s, end_s, starts_s, ends_s):
    """Temporal IoU of one span against arrays of spans."""
    inter = np.maximum(0.0, np.minimum(end_s, ends_s) - np.maximum(start_s, starts_s))
    union = np.maximum(end_s, ends_s) - np.minimum(start_s, starts_s)
    return inter / np.maximum(union, 1e-9)


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    w = np.exp((x - x.max()) / temperature)
    return w / w.sum()


def covered_spans(starts_s: np.ndarray, ends_s: np.ndarray) -> np.ndarray:
    """(M, 2) spans, one per run of up to ``MAX_RUN`` consecutive segments (in start order) with no uncovered gap
    longer than ``COVER_GAP_S``; every single segment is one."""
    order = np.argsort(starts_s, kind="stable")
    starts, ends = starts_s[order], ends_s[order]
    spans = set()
    for i in range(len(starts)):
        reach = ends[i]
        spans.add((float(starts[i]), float(reach)))
        for j in range(i + 1, min(i + MAX_RUN, len(starts))):
            if starts[j] > reach + COVER_GAP_S:
                break
            reach = max(reach, ends[j])
            spans.add((float(starts[i]), float(reach)))
    return np.array(sorted(spans), dtype=np.float64).reshape(-1, 2)


def expected_iou(spans: np.ndarray, starts_s, ends_s, weights: np.ndarray, block: int = 4096) -> np.ndarray:
    """For each (start, end) row of ``spans``, the weighted mean IoU with the spans (starts_s, ends_s); a block
    of rows at a time, so a long video's candidates never make one large matrix."""
    starts, ends = np.asarray(starts_s)[None, :], np.asarray(ends_s)[None, :]
    return np.concatenate(
        [
            iou(part[:, :1], part[:, 1:], starts, ends) @ weights
            for part in np.array_split(spans, max(1, -(-len(spans) // block)))
        ]
    )


def localize(
    starts_s: np.ndarray,
    ends_s: np.ndarray,
    sims: np.ndarray,
    duration_s: float,
    prior: list[Neighbour],
    k: int,
    prior_weight: float = 0.0,
    after_s: float | None = None,
    before_s: float | None = None,
) -> list[Moment]:
    """Top ``k`` moments in one video, best first; with ``after_s``/``before_s`` only moments that overlap that
    window, as the time filters mean."""
    lo = -np.inf if after_s is None else after_s
    hi = np.inf if before_s is None else before_s
    spans = covered_spans(starts_s, ends_s)
    spans = spans[(spans[:, 1] > lo) & (spans[:, 0] < hi)]
    if not len(spans):
        return []
    belief = np.argsort(-sims, kind="stable")[:BELIEF_SEGMENTS]
    own_weights = _softmax(sims[belief], TAU)
    if prior and prior_weight > 0:
        prior_weights = _softmax(np.array([n.score for n in prior]), PRIOR_TAU)
        prior_starts = np.array([n.start_frac for n in prior]) * duration_s
        prior_ends = np.array([n.end_frac for n in prior]) * duration_s

    def value(rows: np.ndarray) -> np.ndarray:
        v = expected_iou(rows, starts_s[belief], ends_s[belief], own_weights)
        if prior and prior_weight > 0:
            v = v + prior_weight * expected_iou(rows, prior_starts, prior_ends, prior_weights)
        return v

    values = value(spans)
    best = int(np.argmax(values))  # every single segment is a candidate: nothing below scores higher
    chosen = [(spans[best, 0], spans[best, 1])]
    if prior and prior_weight > 0:  # the prior counts here: the alternatives are the next best spans by value
        alternatives = [tuple(spans[i]) for i in np.argsort(-values, kind="stable")]
    else:  # else the video's segments by similarity: expected IoU alone would offer near-copies of rank 1
        alternatives = [(starts_s[i], ends_s[i]) for i in np.argsort(-sims, kind="stable")]
    for start, end in alternatives:
        if len(chosen) >= k:
            break
        if end > lo and start < hi and all(iou(start, end, s, e) < SAME_MOMENT_IOU for s, e in chosen):
            chosen.append((start, end))
    scores = value(np.array(chosen, dtype=np.float64))
    order = [0, *sorted(range(1, len(chosen)), key=lambda i: -scores[i])]
    chosen = [(*chosen[i], float(scores[i])) for i in order]
    return [Moment(float(s), float(e), v, _describing(s, e, starts_s, ends_s, sims)) for s, e, v in chosen]


def _describing(start_s: float, end_s: float, starts_s: np.ndarray, ends_s: np.ndarray, sims: np.ndarray) -> int:
    """The best-matching segment inside the span (every candidate span is made of whole segments)."""
    inside = (starts_s >= start_s - 1e-6) & (ends_s <= end_s + 1e-6)
    return int(np.argmax(np.where(inside, sims, -np.inf)))


def distinct(hits: list, k: int | None = None) -> list:
    """Hits (best first) without those that repeat a better hit of the same video: temporal IoU at or above
    ``SAME_MOMENT_IOU``. Spans, texts and scores stay the hits' own."""
    kept: list = []
    for hit in hits:
        if k is not None and len(kept) == k:
            break
        if all(m.video != hit.video or iou(hit.start_s, hit.end_s, m.start_s, m.end_s) < SAME_MOMENT_IOU for m in kept):
            kept.append(hit)
    return kept

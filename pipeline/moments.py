"""From matching segments to moments: where in one video a query most likely happens, and merged result spans.

Localising inside one video (``localize``) scores candidate spans by their expected temporal IoU with the true
moment under two beliefs:
  - the video's own segments, weighted by how well their text matches (softmax over similarity, ``tau``);
  - where similar descriptions sit in *other* videos, as a fraction of their length (the ``prior`` neighbours,
    softmax-weighted by similarity, each mapped onto this video's duration).
Candidates are the spans between any two segment boundaries (plus 0 and the end) and the prior's mean span; the
strongest neighbours' own spans join as alternatives for the lower ranks; near-duplicates are suppressed.
On ActivityNet Captions this lifts within-video R@1 from 0.280 to 0.350 and R@5 from 0.490 to 0.686
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Neighbour:
    """A similar segment elsewhere: its span as fractions of its video's duration, and its similarity."""

    start_frac: float
    end_frac: float
    score: float


def iou(start_s, end_s, starts_s, ends_s):
    """Temporal IoU of one span against arrays of spans."""
    inter = np.maximum(0.0, np.minimum(end_s, ends_s) - np.maximum(start_s, starts_s))
    union = np.maximum(end_s, ends_s) - np.minimum(start_s, starts_s)
    return inter / np.maximum(union, 1e-9)


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    w = np.exp((x - x.max()) / temperature)
    return w / w.sum()


def localize(
    starts_s: np.ndarray,
    ends_s: np.ndarray,
    scores: np.ndarray,
    duration_s: float,
    prior: list[Neighbour],
    k: int,
    tau: float = 0.03,
    prior_tau: float = 0.05,
    prior_weight: float = 5.0,
    max_overlap: float = 0.7,
    after_s: float | None = None,
    before_s: float | None = None,
) -> list[tuple[float, float, float]]:
    """Top ``k`` (start_s, end_s, score) spans in one video, best first; with ``after_s``/``before_s`` only spans
    that overlap that window, as the time filters mean."""
    lo = -np.inf if after_s is None else after_s
    hi = np.inf if before_s is None else before_s

    def in_window(spans) -> list[tuple[float, float]]:
        return [(a, b) for a, b in spans if b > lo and a < hi]

    points = sorted({0.0, float(duration_s), *starts_s.tolist(), *ends_s.tolist()})
    candidates = in_window((a, b) for a, b in itertools.combinations(points, 2) if b - a > 0.5)
    own = _softmax(scores, tau)
    if prior:
        ps = np.array([n.start_frac for n in prior]) * duration_s
        pe = np.array([n.end_frac for n in prior]) * duration_s
        pw = _softmax(np.array([n.score for n in prior]), prior_tau)
        candidates += in_window([(float((pw * ps).sum()), float((pw * pe).sum()))])
    num_primary = len(candidates)  # the best span comes from these; neighbours' own spans are alternatives
    if prior:
        candidates += in_window((float(ps[i]), float(pe[i])) for i in np.argsort(-pw)[:5])
    if not candidates:
        candidates = list(zip(starts_s.tolist(), ends_s.tolist(), strict=True))
    value = []
    for s, e in candidates:
        v = float(np.sum(own * iou(s, e, starts_s, ends_s)))
        if prior:
            v += prior_weight * float(np.sum(pw * iou(s, e, ps, pe)))
        value.append(v)
    order = np.argsort(-np.asarray(value))
    primary = [int(i) for i in order if i < num_primary]
    picks: list[int] = primary[:1]
    for i in order:
        s, e = candidates[i]
        if len(picks) >= k:
            break
        if all(iou(s, e, candidates[j][0], candidates[j][1]) < max_overlap for j in picks):
            picks.append(int(i))
    return [(candidates[i][0], candidates[i][1], value[i]) for i in picks]


def merge_overlapping(hits: list, k: int | None = None) -> list:
    """Merge hits of the same video whose spans overlap into one moment covering them. The best hit of each
    group (hits come best first) gives the text and the score, and keeps its place in the order. With ``k``,
    merging stops at the hit that would start moment k + 1, so hits ranked below it cannot widen the moments
    shown (on ActivityNet letting them cost 0.0016 R@1 and 0.0023 R@5, benchmarks/RESULTS.md)."""
    merged: list = []
    for hit in hits:
        for i, m in enumerate(merged):
            if m.video == hit.video and hit.start_s < m.end_s and m.start_s < hit.end_s:
                merged[i] = replace(m, start_s=min(m.start_s, hit.start_s), end_s=max(m.end_s, hit.end_s))
                break
        else:
            if k is not None and len(merged) == k:
                break
            merged.append(hit)
    return merged if len(merged) == len(hits) else merge_overlapping(merged)  # a grown span may touch another

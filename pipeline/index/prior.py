"""Where similar descriptions sit in other videos, as evidence for where a moment sits in this one, and how much
that evidence is worth in this index.

On some footage, positions repeat across videos (the same kind of event happens at the same point of similar
videos); on other footage they say nothing (many short moments anywhere in long videos, or one moment per video).
So the weight of this evidence is calibrated on the index's own segments: up to ``SAMPLE`` segments, from videos
with at least three, are held out one at a time and localised among their video's other segments with their own
text as the query (pipeline.moments.localize), once per weight in ``WEIGHTS``. A weight counts only if it finds
the held-out span (IoU >= 0.5) more often than no prior does, by at least two standard errors of the paired
difference; of those, the smallest whose hit rate is within one standard error of the best one's is kept. An index
of fewer than ``MIN_VIDEOS`` videos keeps 0: the prior averages over similar segments of *other* videos, and a few
dozen videos give it too little to average (on 60 ActivityNet videos it cost within-video R@1 0.02 that the full
set's 4,900 repay eight times). Computed when the writer saves, again each time the index has doubled (like
hubness), and kept in the catalog's meta as ``prior_weight``.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.index.catalog import Catalog
from pipeline.index.vectors import VectorIndex
from pipeline.moments import Neighbour, iou, localize

NEIGHBOURS = 40  # similar segments in other videos that vote for where the moment sits
MIN_SCORE = 0.3  # ... if they are this similar to the query (cosine)
MIN_COUNT = 5  # ... and there are at least this many: otherwise the video's own segments decide alone
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
SAMPLE = 400
MIN_SAMPLE = 100
MIN_VIDEOS = 100
MAX_VIDEO_SEGMENTS = 5000  # longer videos (live sources) are not sampled: one would dominate the cost


def prior_neighbours(catalog: Catalog, vectors: VectorIndex, query_vector: np.ndarray, video_id: str) -> list:
    """Where the segments most similar to the query sit in *other* videos, as fractions of their durations."""
    scores, ids = vectors.search(query_vector, NEIGHBOURS * 2)
    rows = catalog.segments(int(i) for i in ids)
    others = [
        (rows[int(i)], float(s))
        for s, i in zip(scores, ids, strict=True)
        if int(i) in rows and rows[int(i)].video_id != video_id
    ][:NEIGHBOURS]
    others = [(r, s) for r, s in others if s >= MIN_SCORE]
    durations = catalog.durations(r.video_id for r, _ in others)
    prior = [
        Neighbour(r.start_s / d, min(r.end_s / d, 1.0), s)
        for r, s in others
        if (d := durations.get(r.video_id)) and d > 0
    ]
    return prior if len(prior) >= MIN_COUNT else []


def calibrate_prior_weight(catalog: Catalog, vectors: VectorIndex, seed: int = 0) -> float:
    """The weight of the prior on this index (see the module's docstring)."""
    if len(catalog.video_ids()) < MIN_VIDEOS:
        return 0.0
    held_out = catalog.sample_segments(SAMPLE, min_per_video=3, max_per_video=MAX_VIDEO_SEGMENTS, seed=seed)
    if len(held_out) < MIN_SAMPLE:
        return 0.0
    durations = catalog.durations(r.video_id for r in held_out)
    hits = np.zeros((len(held_out), len(WEIGHTS)))  # (sample, weight): 1 where the held-out span was found
    for n_row, row in enumerate(held_out):
        rest = [r for r in catalog.segments_between(row.video_id, -1.0, math.inf) if r.segment_id != row.segment_id]
        query = vectors.index.reconstruct(int(row.segment_id))
        sims = vectors.index.reconstruct_batch(np.array([r.segment_id for r in rest], np.int64)) @ query
        starts, ends = np.array([r.start_s for r in rest]), np.array([r.end_s for r in rest])
        prior = prior_neighbours(catalog, vectors, query, row.video_id)
        duration = durations.get(row.video_id) or float(ends.max())
        for n, weight in enumerate(WEIGHTS):
            (best, *_) = localize(starts, ends, sims, duration, prior, 1, weight)
            hits[n_row, n] = iou(best.start_s, best.end_s, row.start_s, row.end_s) >= 0.5
    return choose_weight(hits)


def choose_weight(hits: np.ndarray) -> float:
    """From (sample, weight) hits, ``WEIGHTS[0]`` being no prior: see the module's docstring."""
    n = len(hits)
    gains = hits - hits[:, :1]  # paired with the same held-out segment without a prior
    significant = [j for j in range(1, len(WEIGHTS)) if gains[:, j].mean() > 2 * gains[:, j].std(ddof=1) / math.sqrt(n)]
    if not significant:
        return 0.0
    rates = hits.mean(axis=0)
    best = max(rates[j] for j in significant)
    margin = math.sqrt(best * (1 - best) / n)
    return float(WEIGHTS[min(j for j in significant if rates[j] >= best - margin)])


def update_prior_weight(catalog: Catalog, vectors: VectorIndex, force: bool = False) -> float | None:
    """Calibrate again when the index has doubled since the last time (or with ``force``); returns the new
    weight, or None when it was left as it was."""
    total = catalog.count_segments()
    done_at = int(catalog.get_meta("prior_weight_at") or 0)
    if not (force or total >= 2 * max(done_at, MIN_SAMPLE)):
        return None
    weight = calibrate_prior_weight(catalog, vectors)
    catalog.set_meta("prior_weight", str(weight))
    catalog.set_meta("prior_weight_at", str(total))
    return weight

"""The arithmetic of `vidseek eval retrieval`'s uncertainty: a paired bootstrap of method minus baseline, over
queries and over videos, and the verdict it allows."""

from __future__ import annotations

import numpy as np

from pipeline.evaluate import compare, paired_interval
from pipeline.search import tied_alike


def test_the_same_answers_differ_by_nothing():
    chances = np.random.default_rng(1).integers(0, 2, size=(500, 2)).astype(float)
    result = compare(chances, chances, [f"v{i % 20}" for i in range(500)])
    assert result["r1"] == {
        "difference": 0.0,
        "ci95_queries": [0.0, 0.0],
        "ci95_videos": [0.0, 0.0],
        "verdict": "within noise",
    }


def test_a_clear_gain_is_above_and_a_coin_flip_is_noise():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 2, size=(2000, 2)).astype(float)
    better = np.maximum(base, (rng.random((2000, 2)) < 0.2).astype(float))  # wins where the baseline missed
    assert compare(better, base, ["v"] * 2000)["r1"]["verdict"] == "above"
    assert compare(base, better, ["v"] * 2000)["r5"]["verdict"] == "below"
    flipped = np.where(rng.random((2000, 2)) < 0.5, base, 1 - base)  # as often right where the baseline is wrong
    low, high = paired_interval(flipped, base)[0]
    assert low < flipped[:, 0].mean() - base[:, 0].mean() < high


def test_resampling_whole_videos_is_wider_when_a_videos_queries_move_together():
    rng = np.random.default_rng(3)
    videos = [f"v{i // 50}" for i in range(2000)]  # 40 videos of 50 queries
    effect = np.repeat(rng.normal(0, 0.3, 40), 50)[:, None] * np.ones((1, 2))  # each video wins or loses as a whole
    base = np.full((2000, 2), 0.5)
    ours = np.clip(base + effect, 0, 1)
    by_query, by_video = paired_interval(ours, base), paired_interval(ours, base, videos)
    assert (by_video[:, 1] - by_video[:, 0] > 2 * (by_query[:, 1] - by_query[:, 0])).all()


def test_candidates_the_query_cannot_tell_apart_keep_one_score():
    sims = np.array([0.9, 0.8, 0.8, 0.8, 0.5])
    ranked = np.array([0.7, 0.65, 0.55, 0.6, 0.4])  # re-ranking pulled the three equal ones apart
    kept = tied_alike(sims, ranked)
    assert kept[0] == 0.7 and kept[4] == 0.4 and np.allclose(kept[1:4], 0.6)

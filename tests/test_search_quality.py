"""The guard on search quality: on a fixed sample of every development set (a few hundred queries each, and the
mixed 60 s chunk + sentence case), vidseek's search must be at or above the plain baseline, over the whole index
and within the query's video, at R@1 and R@5. The full sets are measured by `vidseek eval retrieval`
(benchmarks/RESULTS.md); a change that loses to the baseline on any of them fails here first."""

from __future__ import annotations

import pytest

from pipeline.evaluate import EVAL_DIR, baseline_recall, build_index, load_set, method_recall

TOLERANCE = 0.005  # as the development sets' own bar: a point of chance on a few hundred queries at most
SAMPLES = {  # set -> videos taken (the first ones by id: fixed), about 200 to 400 queries each
    "activitynet": 150,
    "tacos": 6,
    "charades": 600,
    "tacos+60s": 6,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLES)
def test_the_method_is_at_or_above_the_plain_baseline(name, embedder, tmp_path):
    if not EVAL_DIR.exists():
        pytest.skip(f"the development sets are not here: {EVAL_DIR}")
    full = load_set(name)
    data = full.subset(sorted({m.video for m in full.queries})[: SAMPLES[name]])
    assert 300 <= len(data.queries) <= 1000, len(data.queries)
    build_index(data, tmp_path / "index", embedder)
    ours = method_recall(tmp_path / "index", data, embedder)
    plain = baseline_recall(data, embedder)
    for scope in ("global", "within_video"):
        for metric in ("r1", "r5"):
            assert ours[scope][metric] >= plain[scope][metric] - TOLERANCE, (name, scope, metric, ours, plain)

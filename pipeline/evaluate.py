"""Retrieval quality on ActivityNet Captions: Recall@1/@5 at temporal IoU >= 0.5, the project's search vs the
plain dense baseline (MiniLM + exact inner product, one vector per segment), measured in the same run.

One file's sentences are indexed as if they were the model's captions of those segments, through the same
``IndexWriter`` an ingest uses; the other file's sentences are the queries, run through the same ``Searcher``.
The method uses the configured embedder and index settings; when that embedder is not the baseline's, the
baseline gets an index of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.writer import IndexWriter
from pipeline.moments import iou
from pipeline.search import Filters, Searcher
from pipeline.types import ChunkDescription, ChunkSpan

EVAL_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "activitynet_captions"
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Moment:
    video: str
    start_s: float
    end_s: float
    text: str


def load_activitynet(path: str | Path) -> tuple[dict[str, float], list[Moment]]:
    """(duration per video, every annotated sentence as a moment)."""
    data = json.loads(Path(path).read_text())
    durations = {video: float(item["duration"]) for video, item in data.items()}
    moments = [
        Moment(video, float(s), float(e), text.strip())
        for video, item in data.items()
        for (s, e), text in zip(item["timestamps"], item["sentences"], strict=True)
    ]
    return durations, moments


def build_index(captions: str | Path, index_dir: Path, embedder: Embedder, index_cfg: IndexConfig | None = None) -> int:
    """Index the captions file's sentences as caption segments; returns how many were indexed."""
    durations, moments = load_activitynet(captions)
    writer = IndexWriter(index_dir, embedder, index_cfg=index_cfg)
    by_video: dict[str, list[Moment]] = {}
    for m in moments:
        if 0 <= m.start_s < m.end_s:  # a few annotations are empty or reversed spans
            by_video.setdefault(m.video, []).append(m)
    for video in by_video:
        writer.begin_video(video, video, 0, durations[video], "activitynet-captions", {})
    batch: list[ChunkDescription] = []
    for video, items in by_video.items():
        batch.extend(
            ChunkDescription(ChunkSpan(video, video, m.start_s, m.end_s), m.text, model="annotation") for m in items
        )
        if len(batch) >= 2048:
            writer.write_batch(batch)
            batch = []
    if batch:
        writer.write_batch(batch)
    for video, items in by_video.items():
        writer.finish_video(video, "complete", num_chunks=len(items), save=False)
    writer.close(full_hubness=True)  # a measurement that does not depend on how fast this machine built the index
    return sum(len(v) for v in by_video.values())


def prepared_index(captions: str | Path, index_dir: Path, embedder: Embedder, index_cfg: IndexConfig) -> None:
    """Build the evaluation index in ``index_dir``, or reuse the one there if it was built from the same captions
    with the same embedder and index settings; any other is refused rather than measured by mistake."""
    stamp = json.dumps(
        {
            "captions": str(Path(captions).resolve()),
            "embedder": embedder.name,
            "index": index_cfg.model_dump(),
            "hubness": "full pass at the end",  # indexes built before that was done are refused, not reused
        },
        sort_keys=True,
    )
    if (index_dir / "catalog.sqlite").exists():
        catalog = Catalog(index_dir)
        built = catalog.get_meta("eval_settings")
        catalog.close()
        if built != stamp:
            raise ValueError(
                f"{index_dir} holds an index built from other captions or settings ({built}); "
                "remove it or pick another --index"
            )
        return
    build_index(captions, index_dir, embedder, index_cfg)
    catalog = Catalog(index_dir)
    catalog.set_meta("eval_settings", stamp)
    catalog.close()


def _recall(hits_per_query: list[list], queries: list[Moment]) -> dict[str, float]:
    r1 = r5 = 0
    for hits, q in zip(hits_per_query, queries, strict=True):
        ok = [h.video == q.video and iou(h.start_s, h.end_s, q.start_s, q.end_s) >= IOU_THRESHOLD for h in hits[:5]]
        r1 += bool(ok and ok[0])
        r5 += any(ok)
    n = max(len(queries), 1)
    return {"r1": round(r1 / n, 4), "r5": round(r5 / n, 4)}


def evaluate(
    index_dir: Path,
    queries_file: str | Path,
    embedder: Embedder,
    limit: int | None = None,
    baseline: tuple[Path, Embedder] | None = None,
) -> dict:
    """Recall of the method (vidseek's search on ``index_dir``) and of the baseline (exact dense search, one hit
    per segment, on ``baseline``'s index and embedder; by default the method's own)."""
    _, queries = load_activitynet(queries_file)
    queries = queries[:limit] if limit else queries
    method_vectors = embedder.embed([q.text for q in queries])
    baseline_dir, baseline_embedder = baseline or (index_dir, embedder)
    baseline_vectors = method_vectors if baseline is None else baseline_embedder.embed([q.text for q in queries])
    hits = {
        "method": _hits(Searcher(index_dir, embedder), queries, method_vectors, plain=False),
        "baseline": _hits(Searcher(baseline_dir, baseline_embedder), queries, baseline_vectors, plain=True),
    }
    return {
        method: {scope: _recall(found, queries) for scope, found in scopes.items()} for method, scopes in hits.items()
    } | {"queries": len(queries)}


def _hits(searcher: Searcher, queries: list[Moment], vectors: np.ndarray, plain: bool) -> dict[str, list]:
    """Top-5 hits per query over the whole index and within its video: ``plain`` is the baseline's dense search."""
    video_ids = {q.video: searcher.catalog.select_ids(q.video) for q in queries}
    found: dict[str, list] = {"global": [], "within_video": []}
    for q, v in zip(queries, vectors, strict=True):
        found["global"].append(searcher.dense(v, 5) if plain else searcher.search_vector(v, 5))
        if not video_ids[q.video]:  # the query's video has no indexed segment: a miss
            found["within_video"].append([])
        elif plain:
            found["within_video"].append(searcher.dense(v, 5, video_ids[q.video]))
        else:
            found["within_video"].append(searcher.search_vector(v, 5, Filters(video=q.video)))
    return found


def default_files() -> tuple[Path, Path]:
    return EVAL_DIR / "val_1.json", EVAL_DIR / "val_2.json"


def oracle_within_video(captions: str | Path, queries_file: str | Path) -> float:
    """Share of queries for which some indexed segment of their video has IoU >= 0.5: the ceiling for any method
    that only returns indexed spans."""
    _, caps = load_activitynet(captions)
    _, queries = load_activitynet(queries_file)
    spans: dict[str, list[tuple[float, float]]] = {}
    for c in caps:
        spans.setdefault(c.video, []).append((c.start_s, c.end_s))
    hits = 0
    for q in queries:
        s = np.array(spans.get(q.video, [(0.0, 0.0)]))
        hits += bool((iou(q.start_s, q.end_s, s[:, 0], s[:, 1]) >= IOU_THRESHOLD).any())
    return hits / max(len(queries), 1)

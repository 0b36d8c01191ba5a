"""Retrieval quality: Recall@1/@5 at temporal IoU >= 0.5, vidseek's search against the plain baseline, measured in
the same run on the same segments, over several kinds of footage.

    activitynet   ActivityNet Captions: val_1's sentences indexed, val_2's as queries (YouTube, long moments)
    tacos         TACoS validation: long cooking videos, many short moments
    charades      Charades-STA train: short home videos, one or two moments each
    activitynet+60s, tacos+60s   the same, as real indexes are: 60 s chunk captions (the sentences of each minute,
                                 joined) mixed with every sentence as a moment of its own

Every caption sentence is indexed (sentences sharing a span become one chunk: the first its caption, the others its
events), through the same ``IndexWriter`` an ingest uses, and the queries run through the same ``Searcher``. The
baseline is the plain one of ../shared/eval/README: all-MiniLM-L6-v2, one vector per indexed text, exact inner
product, top 5 over the whole index or within the query's video.

Results that score exactly the same (the same sentence in several videos: "person opens the door" is in dozens of
Charades videos) are counted as a fair draw among them, for both: where an index breaks such ties is arbitrary,
and on a few hundred Charades queries it moved R@1 by 0.02 either way.

"Above the baseline" is said only beyond noise: each difference comes with the 95% interval of a paired bootstrap
over queries (method and baseline resampled together), and over videos (whole videos resampled with their
queries: what a set of other footage of the same kind varies by).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.folder import Index
from pipeline.index.writer import IndexWriter
from pipeline.moments import iou
from pipeline.search import Filters, Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event

EVAL_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
IOU_THRESHOLD = 0.5
CHUNK_S = 60.0  # the chunk captions of the mixed cases
TIES_SEEN = 50  # the baseline's ranked texts kept per query: runs of equal scores across rank 5 are seen whole
BOOTSTRAP_RESAMPLES = 2000
SET_FILES = {
    "activitynet": ("activitynet_captions/val_1.json", "activitynet_captions/val_2.json"),
    "tacos": ("tacos_val/captions.json", "tacos_val/queries.json"),
    "charades": ("charades_sta_train/captions.json", "charades_sta_train/queries.json"),
}
MIXED = {"activitynet+60s": "activitynet", "tacos+60s": "tacos"}
SETS = [*SET_FILES, *MIXED]


@dataclass(frozen=True)
class Moment:
    video: str
    start_s: float
    end_s: float
    text: str


@dataclass
class EvalSet:
    """Captions to index and queries to ask, with the videos' durations; ``chunk_s`` adds chunk captions."""

    name: str
    durations: dict[str, float]
    captions: list[Moment]
    queries: list[Moment]
    chunk_s: float | None = None
    source: dict = field(default_factory=dict)  # the files, for the record

    def subset(self, videos: list[str], name: str | None = None) -> EvalSet:
        keep = set(videos)
        return replace(
            self,
            name=name or self.name,
            durations={v: d for v, d in self.durations.items() if v in keep},
            captions=[m for m in self.captions if m.video in keep],
            queries=[m for m in self.queries if m.video in keep],
        )

    def texts(self) -> list[Moment]:
        """What the index holds: every caption sentence, and with ``chunk_s`` each chunk's sentences joined."""
        if not self.chunk_s:
            return self.captions
        by_video = defaultdict(list)
        for m in self.captions:
            by_video[m.video].append(m)
        chunks = []
        for video, items in by_video.items():
            items.sort(key=lambda m: m.start_s)
            duration = self.durations[video]
            for start in np.arange(0.0, duration, self.chunk_s):
                end = min(start + self.chunk_s, duration)
                inside = [m.text for m in items if m.start_s < end and m.end_s > start]
                if inside and end > start:
                    chunks.append(Moment(video, float(start), float(end), " ".join(inside)))
        return chunks + self.captions


def load_activitynet(path: str | Path) -> tuple[dict[str, float], list[Moment]]:
    """(duration per video, every annotated sentence with a non-empty span as a moment)."""
    data = json.loads(Path(path).read_text())
    durations = {video: float(item["duration"]) for video, item in data.items()}
    moments = [
        Moment(video, float(s), float(e), text.strip())
        for video, item in data.items()
        for (s, e), text in zip(item["timestamps"], item["sentences"], strict=True)
        if 0 <= float(s) < float(e)  # a few annotations are empty or reversed spans
    ]
    return durations, moments


def load_pair(name: str, captions: str | Path, queries: str | Path, chunk_s: float | None = None) -> EvalSet:
    durations, caps = load_activitynet(captions)
    query_durations, qs = load_activitynet(queries)
    source = {"captions": str(captions), "queries": str(queries)}
    return EvalSet(name, {**query_durations, **durations}, caps, qs, chunk_s, source)


def load_set(name: str, eval_dir: Path = EVAL_DIR) -> EvalSet:
    """One of ``SETS``; a missing file is a FileNotFoundError naming it."""
    base = MIXED.get(name, name)
    if base not in SET_FILES:
        raise ValueError(f"unknown evaluation set {name!r}; sets: {', '.join(SETS)}")
    captions, queries = (eval_dir / f for f in SET_FILES[base])
    for f in (captions, queries):
        if not f.exists():
            raise FileNotFoundError(f"{f} not found (the development sets live in ../shared/eval)")
    return load_pair(name, captions, queries, CHUNK_S if name in MIXED else None)


def build_index(data: EvalSet, index_dir: Path, embedder: Embedder, index_cfg: IndexConfig | None = None) -> int:
    """Index the set's texts as chunks (texts sharing a span: one chunk, the first its caption, the others its
    events); returns how many texts were indexed."""
    groups: dict[tuple[str, float, float], list[str]] = defaultdict(list)
    for m in data.texts():
        groups[m.video, m.start_s, m.end_s].append(m.text)
    writer = IndexWriter(index_dir, embedder, index_cfg=index_cfg)
    videos = sorted({video for video, _, _ in groups})
    for video in videos:
        writer.begin_video(video, video, 0, data.durations[video], "annotation", {})
    descriptions = [
        ChunkDescription(ChunkSpan(video, video, s, e), texts[0], [Event(s, e, "", t) for t in texts[1:]], "annotation")
        for (video, s, e), texts in groups.items()
    ]
    for start in range(0, len(descriptions), 2048):
        writer.write_batch(descriptions[start : start + 2048])
    chunks = defaultdict(int)
    for video, _, _ in groups:
        chunks[video] += 1
    for video in videos:
        writer.finish_video(video, "complete", num_chunks=chunks[video], save=False)
    writer.close(full_hubness=True)  # a measurement that does not depend on how fast this machine built the index
    return sum(len(texts) for texts in groups.values())


def prepared_index(data: EvalSet, index_dir: Path, embedder: Embedder, index_cfg: IndexConfig) -> None:
    """Build the evaluation index in ``index_dir``, or reuse the one there if it was built from the same set with
    the same embedder and index settings; any other is refused rather than measured by mistake."""
    stamp = json.dumps(
        {
            "set": data.name,
            "source": data.source,
            "videos": len(data.durations),
            "embedder": embedder.name,
            "index": index_cfg.model_dump(),
            "method": "every sentence; hubness and prior weight from a full pass at the end",
        },
        sort_keys=True,
    )
    if Index(index_dir).exists:
        catalog = Catalog(index_dir)
        built = catalog.get_meta("eval_settings")
        catalog.close()
        if built != stamp:
            raise ValueError(
                f"{index_dir} holds an index built from another set or settings ({built}); "
                "remove it or pick another --index"
            )
        return
    build_index(data, index_dir, embedder, index_cfg)
    catalog = Catalog(index_dir)
    catalog.set_meta("eval_settings", stamp)
    catalog.close()


def per_query(found: list[list[tuple[str, float, float, float]]], queries: list[Moment]) -> np.ndarray:
    """(n, 2): each query's chance of a hit at rank 1 and within rank 5, from its ranked (video, start_s, end_s,
    score): a hit is the query's video with temporal IoU >= 0.5; results with equal scores are taken in every
    order alike (``_hit_chances``)."""
    chances = []
    for ranked, q in zip(found, queries, strict=True):
        ok = [v == q.video and iou(s, e, q.start_s, q.end_s) >= IOU_THRESHOLD for v, s, e, _ in ranked]
        chances.append(_hit_chances(ok, [score for *_, score in ranked]))
    return np.array(chances, dtype=np.float64).reshape(-1, 2)


def summary(chances: np.ndarray) -> dict[str, float]:
    mean = chances.mean(axis=0) if len(chances) else np.zeros(2)
    return {"r1": round(float(mean[0]), 4), "r5": round(float(mean[1]), 4)}


def paired_interval(
    ours: np.ndarray, base: np.ndarray, groups: list[str] | None = None, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray:
    """(2, 2): for R@1 and R@5, the 95% interval of method minus baseline by a paired bootstrap: the same queries
    resampled for both (with ``groups``, whole videos resampled with their queries: another set of footage varies
    by videos, and a video's queries are not independent). Seeded: the same numbers every run."""
    rng = np.random.default_rng(0)
    diff = ours - base  # (n, 2)
    if groups is None:
        sums, counts = diff, np.ones(len(diff))
    else:
        keys = sorted(set(groups))
        at = {k: i for i, k in enumerate(keys)}
        index = np.array([at[g] for g in groups])
        sums = np.zeros((len(keys), 2))
        np.add.at(sums, index, diff)
        counts = np.bincount(index, minlength=len(keys)).astype(np.float64)
    means = np.empty((resamples, 2))
    for start in range(0, resamples, 100):  # a block of resamples at a time: bounded memory at 17,000 queries
        take = rng.integers(0, len(sums), size=(min(100, resamples - start), len(sums)))
        means[start : start + len(take)] = sums[take].sum(axis=1) / counts[take].sum(axis=1)[:, None]
    return np.percentile(means, [2.5, 97.5], axis=0).T  # (metric, [low, high])


def compare(ours: np.ndarray, base: np.ndarray, videos: list[str]) -> dict:
    """Method minus baseline per metric, with its 95% paired bootstrap intervals over queries and over videos;
    ``above`` / ``below``: the interval over queries lies wholly above / below 0, else ``within noise``."""
    out = {}
    by_query, by_video = paired_interval(ours, base), paired_interval(ours, base, videos)
    for m, metric in enumerate(("r1", "r5")):
        diff = float((ours[:, m] - base[:, m]).mean()) if len(ours) else 0.0
        low, high = by_query[m]
        verdict = "above" if low > 0 else "below" if high < 0 else "within noise"
        out[metric] = {
            "difference": round(diff, 4),
            "ci95_queries": [round(float(low), 4), round(float(high), 4)],
            "ci95_videos": [round(float(x), 4) for x in by_video[m]],
            "verdict": verdict,
        }
    return out


def _hit_chances(ok: list[bool], scores: list[float], tie: float = 1e-6) -> tuple[float, float]:
    """The chance of a hit first, and among the first five, when runs of equal scores come in random order."""
    groups, start = [], 0
    for i in range(1, len(ok) + 1):
        if i == len(ok) or abs(scores[i] - scores[start]) > tie:
            groups.append(ok[start:i])
            start = i
    first = sum(groups[0]) / len(groups[0]) if groups else 0.0
    slots = 5
    for group in groups:
        size, hits = len(group), sum(group)
        if size <= slots:
            if hits:
                return first, 1.0
            slots -= size
            continue
        return first, 1.0 - math.comb(size - hits, slots) / math.comb(size, slots)  # the run straddles rank 5
    return first, 0.0


def method_recall(
    index_dir: Path, data: EvalSet, embedder: Embedder, scopes: tuple[str, ...] = ("global", "within_video")
) -> dict:
    """vidseek's search on the evaluation index, over the whole index and within each query's video."""
    return {scope: summary(chances) for scope, chances in method_chances(index_dir, data, embedder, scopes).items()}


def method_chances(
    index_dir: Path, data: EvalSet, embedder: Embedder, scopes: tuple[str, ...] = ("global", "within_video")
) -> dict[str, np.ndarray]:
    """Per query and scope, the method's chances of a hit (``per_query``)."""
    searcher = Searcher(index_dir, embedder)
    vectors = embedder.embed([q.text for q in data.queries])
    indexed = searcher.catalog.video_ids()
    found: dict[str, list] = {scope: [] for scope in scopes}
    for q, v in zip(data.queries, vectors, strict=True):
        if "global" in found:  # ten: a run of equal scores across rank 5 is seen whole
            found["global"].append([(h.video, h.start_s, h.end_s, h.score) for h in searcher.search_vector(v, 10)])
        if "within_video" in found:  # a query whose video has no indexed segment is a miss
            hits = searcher.search_vector(v, 10, Filters(video=q.video)) if q.video in indexed else []
            found["within_video"].append([(h.video, h.start_s, h.end_s, h.score) for h in hits])
    return {scope: per_query(spans, data.queries) for scope, spans in found.items()}


def baseline_recall(data: EvalSet, embedder: Embedder, block: int = 1024) -> dict:
    """The plain baseline: one vector per indexed text, exact inner product."""
    return {scope: summary(chances) for scope, chances in baseline_chances(data, embedder, block).items()}


def baseline_chances(data: EvalSet, embedder: Embedder, block: int = 1024) -> dict[str, np.ndarray]:
    texts = data.texts()
    vectors = embedder.embed([m.text for m in texts])
    queries = embedder.embed([q.text for q in data.queries])
    spans = [(m.video, m.start_s, m.end_s) for m in texts]
    by_video = defaultdict(list)
    for i, m in enumerate(texts):
        by_video[m.video].append(i)
    found: dict[str, list] = {"global": [], "within_video": []}
    for start in range(0, len(queries), block):
        scores = queries[start : start + block] @ vectors.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :TIES_SEEN]
        for row, row_scores in zip(top, scores, strict=True):
            found["global"].append([(*spans[i], float(row_scores[i])) for i in row])
    for q, v in zip(data.queries, queries, strict=True):
        own = np.array(by_video.get(q.video, []), dtype=np.int64)
        scores = vectors[own] @ v if len(own) else np.zeros(0)
        order = np.argsort(-scores, kind="stable")[:TIES_SEEN]
        found["within_video"].append([(*spans[own[i]], float(scores[i])) for i in order])
    return {scope: per_query(spans_, data.queries) for scope, spans_ in found.items()}


def evaluate(index_dir: Path, data: EvalSet, embedder: Embedder, baseline_embedder: Embedder) -> dict:
    """Both recalls, and method minus baseline with its uncertainty (``compare``) per scope."""
    ours, base = method_chances(index_dir, data, embedder), baseline_chances(data, baseline_embedder)
    videos = [q.video for q in data.queries]
    return {
        "method": {scope: summary(c) for scope, c in ours.items()},
        "baseline": {scope: summary(c) for scope, c in base.items()},
        "versus_baseline": {scope: compare(ours[scope], base[scope], videos) for scope in ours},
        "queries": len(data.queries),
        "videos": len(set(videos)),
        "indexed": len(data.texts()),
    }


def oracle_within_video(data: EvalSet) -> float:
    """Share of queries for which some indexed text of their video has IoU >= 0.5: the ceiling for any method
    that only returns indexed spans."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in data.texts():
        spans[m.video].append((m.start_s, m.end_s))
    hits = 0
    for q in data.queries:
        s = np.array(spans.get(q.video, [(0.0, 0.0)]))
        hits += bool((iou(q.start_s, q.end_s, s[:, 0], s[:, 1]) >= IOU_THRESHOLD).any())
    return hits / max(len(data.queries), 1)

"""Search at scale: build time, memory, query latency and recall@10 of the approximate index against exact search.

    python benchmarks/bench_search.py [--sizes 100000 1000000] [--nprobe 8 16 32 64] [--codecs SQ8 PQ96 PQ48]

Segments are realistic text, not random vectors: ActivityNet Captions sentences (../shared/eval) recombined, the
first half of one sentence joined to the second half of another, and embedded with all-MiniLM-L6-v2 (up to
--embedded of them; embedding 1M texts would take about 45 minutes on 2 cores). Larger sizes add vectors that
are mixtures of two of those embeddings (normalised a*x + (1-a)*y, a in [0.5, 1)), which keeps the clustered
geometry of sentence embeddings. Queries are real val_2 sentences. Exact search (Flat) is the baseline and the
ground truth for recall@10; latency is one query at a time, p50/p99, with and without embedding the query.
The compressed rows (what the index becomes past index.compress_min) are built the way ingest grows an index:
appended a tenth at a time, at the default nprobe.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
HERE = Path(__file__).resolve().parent
EVAL = HERE.parent.parent / "shared" / "eval" / "activitynet_captions"


def sentences(name: str) -> list[str]:
    data = json.loads((EVAL / name).read_text())
    return [s.strip() for item in data.values() for s in item["sentences"] if s.strip()]


def recombined(pool: list[str], n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(rng.integers(0, len(pool), n), rng.integers(0, len(pool), n), strict=True):
        x, y = pool[a].split(), pool[b].split()
        out.append(" ".join(x[: max(1, len(x) // 2)] + y[len(y) // 2 :]))
    return out


def embedded_pool(n: int, embedder) -> np.ndarray:
    cache = HERE / "_work" / f"recombined_{n}.npy"
    if cache.exists():
        return np.load(cache)
    vectors = embedder.embed(recombined(sentences("val_1.json"), n))
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, vectors)
    return vectors


def grow(base: np.ndarray, size: int, seed: int = 1) -> np.ndarray:
    if size <= len(base):
        return base[:size]
    rng = np.random.default_rng(seed)
    extra = size - len(base)
    a = rng.uniform(0.5, 1.0, (extra, 1)).astype(np.float32)
    mixed = a * base[rng.integers(0, len(base), extra)] + (1 - a) * base[rng.integers(0, len(base), extra)]
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([base, mixed.astype(np.float32)])


def latencies_ms(search, queries: np.ndarray) -> tuple[float, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def index_mb(vectors) -> float:
    """The index's size as FAISS stores it: vectors or codes, ids and the id map. Process RSS is no measure here:
    after one index is freed the allocator keeps its pages, so the next one seems to cost nothing."""
    import faiss

    return faiss.serialize_index(vectors.index).nbytes / 1e6


def bench_size(size: int, base, queries, nprobes: list[int], codecs: list[str], embedder, texts) -> None:
    from pipeline.config import IndexConfig
    from pipeline.index.vectors import VectorIndex

    x = grow(base, size)
    ids = np.arange(1, size + 1, dtype=np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        exact = VectorIndex(Path(tmp), x.shape[1], IndexConfig(type="flat"))
        exact.upsert(ids, x)
        build_exact = time.perf_counter() - start
        mem_exact = index_mb(exact)
        _, truth = exact.search_many(queries, 10)
        p50, p99 = latencies_ms(lambda q: exact.search(q, 10), queries[:300])
        print(
            f"{size:>9,} {'Flat (exact, baseline)':<26}{build_exact:>9.1f}{mem_exact:>9.0f}{p50:>9.2f}{p99:>9.2f}"
            f"{1.0:>10.3f}"
        )
        exact = None  # free its memory before the approximate index is built
        start = time.perf_counter()
        approx = VectorIndex(Path(tmp), x.shape[1], IndexConfig(flat_max=1000))
        approx.upsert(ids, x)  # past flat_max: trains IVF once on a sample, then holds every vector
        build = time.perf_counter() - start
        mem = index_mb(approx)
        for nprobe in nprobes:
            approx._ivf.nprobe = nprobe
            _, found = approx.search_many(queries, 10)
            recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
            p50, p99 = latencies_ms(lambda q: approx.search(q, 10), queries[:300])
            label = f"IVF{approx._ivf.nlist},Flat nprobe {nprobe}"
            print(f"{size:>9,} {label:<26}{build:>9.1f}{mem:>9.0f}{p50:>9.2f}{p99:>9.2f}{recall:>10.3f}")
        approx._ivf.nprobe = IndexConfig().nprobe  # the default
        p50, p99 = latencies_ms(lambda t: approx.search(embedder.embed([t])[0], 10), texts[:200])
        print(f"{size:>9,} {'IVF default nprobe + embedding':<26}{'':>9}{'':>9}{p50:>9.2f}{p99:>9.2f}")
        nlist = approx._ivf.nlist
        approx.save()
        approx = None
        read_s, mapped_s = open_s(Path(tmp), x.shape[1], False), open_s(Path(tmp), x.shape[1], True)
        mapped = VectorIndex(Path(tmp), x.shape[1], mapped=True)  # as `vidseek search` opens it
        p50, p99 = latencies_ms(lambda q: mapped.search(q, 10), queries[:300])
        print(
            f"{size:>9,} {'IVF default nprobe, mapped':<26}{'':>9}{'':>9}{p50:>9.2f}{p99:>9.2f}"
            f"   opens in {mapped_s:.2f} s, read: {read_s:.2f} s"
        )
        mapped = None
    for codec in codecs:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            compressed = VectorIndex(
                Path(tmp), x.shape[1], IndexConfig(flat_max=1000, compress_min=1000, codec=codec, nlist=nlist)
            )
            step = max(1, size // 10)
            for i in range(0, size, step):
                compressed.upsert(ids[i : i + step], x[i : i + step])
            build = time.perf_counter() - start
            mem = index_mb(compressed)
            _, found = compressed.search_many(queries, 10)
            recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
            p50, p99 = latencies_ms(lambda q, index=compressed: index.search(q, 10), queries[:300])
            label = compressed.kind.replace("(nprobe ", "nprobe ").rstrip(")")
            print(f"{size:>9,} {label:<26}{build:>9.1f}{mem:>9.0f}{p50:>9.2f}{p99:>9.2f}{recall:>10.3f}")


def open_s(index_dir: Path, dim: int, mapped: bool) -> float:
    """Seconds to open a saved index, read into memory or mapped (median of 3; the file is in the page cache,
    having just been written)."""
    from pipeline.index.vectors import VectorIndex

    runs = []
    for _ in range(3):
        start = time.perf_counter()
        VectorIndex(index_dir, dim, mapped=mapped)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def cold_start_s(embedder) -> float:
    """Wall time of `vidseek search` in a new process on a small index (median of 3)."""
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    with tempfile.TemporaryDirectory() as tmp:
        writer = IndexWriter(Path(tmp), embedder)
        writer.begin_video("v", "v.mp4", 0, 600.0, "bench", {})
        writer.write_batch(
            [
                ChunkDescription(ChunkSpan("v", "v.mp4", 60.0 * i, 60.0 * i + 60), t, model="bench")
                for i, t in enumerate(sentences("val_2.json")[:10])
            ]
        )
        writer.finish_video("v", "complete")
        writer.close()
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "workers.cli", "search", "a man rides a bike", "--index", tmp, "--json"],
                check=True,
                capture_output=True,
                cwd=HERE.parent,
            )
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--codecs", nargs="*", default=["SQ8", "PQ96", "PQ48"], help="compressed IVF codecs")
    parser.add_argument("--embedded", type=int, default=100_000, help="segments embedded from real text")
    args = parser.parse_args()
    from pipeline.config import EmbedConfig
    from pipeline.embed import make_embedder

    embedder = make_embedder(EmbedConfig(batch_size=256))
    start = time.perf_counter()
    base = embedded_pool(args.embedded, embedder)
    print(f"{len(base):,} recombined sentences embedded in {time.perf_counter() - start:.0f} s (cached after)")
    texts = sentences("val_2.json")[:1000]
    queries = embedder.embed(texts)
    print(f"cold start of `vidseek search` (new process, small index): {cold_start_s(embedder):.1f} s")
    print(f"{'segments':>9} {'index':<26}{'build s':>9}{'index MB':>9}{'p50 ms':>9}{'p99 ms':>9}{'recall@10':>10}")
    for size in args.sizes:
        bench_size(size, base, queries, args.nprobe, args.codecs, embedder, texts)


if __name__ == "__main__":
    main()

"""A cold `vidseek search`: a new process answering one query, on an index of a million segments.

    python benchmarks/bench_cold_search.py [--segments 1000000] [--runs 5]

Builds an index the way an ingest leaves it (catalog rows with hubness, IVF vectors past 200,000, context vectors;
random unit vectors under MiniLM's name and size: the cost measured does not depend on what they say; no Parquet
records, which a search never reads), then times the whole command, from process start to the answer printed,
median of ``--runs`` after one warm-up run (files in the page cache):
  baseline   today's path before this change: the query embedded by sentence-transformers (imports torch)
  vidseek    the shipped path: the same model through its ONNX export, run by onnxruntime
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERY = "when does the red truck arrive at the gate?"
BASELINE = (
    "import sys, pipeline.embed as e; e.make_query_embedder = e.make_embedder; "
    "from workers.cli import main; sys.argv = ['vidseek', *sys.argv[1:]]; main()"
)


def build(index: Path, segments: int, per_video: int = 1000, batch: int = 50_000) -> None:
    from pipeline.config import IndexConfig
    from pipeline.index import Catalog, VectorIndex
    from pipeline.index.context import ContextVectors
    from pipeline.index.settings import record_settings
    from pipeline.types import SegmentRecord

    index.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    catalog, vectors, context = Catalog(index), VectorIndex(index, 384), ContextVectors(index, 384)
    catalog.set_meta("embedder", "all-MiniLM-L6-v2")
    catalog.set_meta("dim", "384")
    record_settings(catalog, IndexConfig())
    for start in range(0, segments, batch):
        ids = np.arange(start + 1, start + batch + 1, dtype=np.int64)
        rows = [
            SegmentRecord(segment_id=int(i), chunk_id=f"c{i // 2}", video_id=f"v{i // per_video:05d}",
                          video_path=f"/footage/v{i // per_video:05d}.mp4", start_s=float(i % per_video) * 30,
                          end_s=float(i % per_video) * 30 + 30, kind="caption", text=f"caption {i}", model="bench")
            for i in ids
        ]  # fmt: skip
        catalog.upsert_segments(rows)
        catalog.set_hubness(ids.tolist(), [0.3] * len(ids))
        catalog.set_context_ok(ids.tolist())
        for v in range(start // per_video, (start + batch) // per_video):
            path, duration_s = f"/footage/v{v:05d}.mp4", per_video * 30.0
            catalog.set_video(f"v{v:05d}", path=path, duration_s=duration_s, status="complete")
        for target in (vectors, context):
            x = rng.standard_normal((len(ids), 384)).astype(np.float32)
            target.upsert(ids, x / np.linalg.norm(x, axis=1, keepdims=True))
        print(f"  {start + batch:,} segments", flush=True)
    vectors.save()
    context.save()
    catalog.close()


def timed(command: list[str], runs: int) -> float:
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)  # warm-up: page cache, export made
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
        times.append(time.perf_counter() - start)
        assert done.stdout.strip(), done.stderr
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", type=Path, default=None, help="reuse (or keep) the index here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        if not (index / "vectors.faiss").exists():
            start = time.perf_counter()
            build(index, args.segments)
            print(f"built {args.segments:,} segments in {time.perf_counter() - start:.0f} s")
        search = ["search", QUERY, "--index", str(index), "--json", "-k", "10"]
        baseline = timed([sys.executable, "-c", BASELINE, *search], args.runs)
        ours = timed([sys.executable, "-m", "workers.cli", *search], args.runs)
    print(f"{'segments':>10} {'path':<40} {'cold search s':>14}")
    print(f"{args.segments:>10,} {'baseline: sentence-transformers (torch)':<40} {baseline:>14.2f}")
    ratio = f"{baseline / ours:.1f}x faster"
    print(f"{args.segments:>10,} {'vidseek: ONNX export, onnxruntime':<40} {ours:>14.2f}   {ratio}")


if __name__ == "__main__":
    main()

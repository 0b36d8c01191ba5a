"""What opening a large index costs, for writing (every `vidseek ingest` and `remove` starts by reconciling the
catalog and FAISS with the Parquet records) and for searching.

    python benchmarks/bench_index_open.py [--videos 1000] [--chunks 50]

Builds an index of VIDEOS x CHUNKS chunks (a caption and an event each, random unit vectors: the cost measured
here does not depend on what the text says), then times, each the median of 3:
  writer open     IndexWriter(...), which reconciles: record ids against catalog and FAISS ids
  baseline        reading every record whole (vectors included), what reconcile did before it compared ids only
  searcher open   Searcher(...), which maps the FAISS file
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class RandomEmbedder:
    name = "random-384"
    dim = 384

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def embed(self, texts: list[str]) -> np.ndarray:
        x = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(index: Path, videos: int, chunks: int) -> None:
    """The files an ingest leaves (compacted records and kept video rows, catalog rows with hubness, FAISS), written
    in bulk: going through IndexWriter would spend most of an hour on 1M hubness searches that opening does not
    touch."""
    from pipeline.index import Catalog, RecordStore, VectorIndex
    from pipeline.index.writer import record_rows
    from pipeline.types import ChunkDescription, ChunkSpan, Event

    embedder = RandomEmbedder()
    catalog, records = Catalog(index), RecordStore(index)
    vectors = VectorIndex(index, embedder.dim)  # default config: exact, then IVF past 200,000
    catalog.set_meta("embedder", embedder.name)
    catalog.set_meta("dim", str(embedder.dim))
    for v in range(videos):
        video_id, path = f"v{v:06d}", f"/footage/v{v:06d}.mp4"
        descriptions = [
            ChunkDescription(
                ChunkSpan(video_id, path, 60.0 * i, 60.0 * i + 60),
                f"caption {v} {i}",
                [Event(60.0 * i + 5, 60.0 * i + 9, "label", f"event {v} {i}")],
                model="bench",
            )
            for i in range(chunks)
        ]
        rows, vecs = record_rows(descriptions, embedder)
        records.write_chunk(video_id, "all", rows)
        records.compact(video_id)
        catalog.upsert_segments(rows)
        ids = [r.segment_id for r in rows]
        catalog.set_hubness(ids, [0.0] * len(ids))
        catalog.set_video(video_id, path=path, duration_s=chunks * 60.0, status="complete", num_chunks=chunks)
        records.write_video(catalog.video(video_id))
        vectors.upsert(np.array(ids), vecs)
    catalog.set_meta("hubness_full_at", str(catalog.count_segments()))  # as if the writer's last pass was at the end
    vectors.save()
    catalog.close()


def median_s(fn, after=lambda result: None) -> float:
    """Median of 3 timed calls of ``fn``; ``after`` gets each result, untimed (a writer must close to unlock)."""
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
        after(result)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=50, help="chunks per video (two segments each)")
    args = parser.parse_args()
    from pipeline.config import IndexConfig
    from pipeline.index import IndexWriter, RecordStore
    from pipeline.search import Searcher

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp)
        start = time.perf_counter()
        build(index, args.videos, args.chunks)
        print(f"built {args.videos:,} videos x {args.chunks} chunks in {time.perf_counter() - start:.0f} s")
        embedder = RandomEmbedder()
        writer_s = median_s(
            lambda: IndexWriter(index, embedder, index_cfg=IndexConfig(context_neighbours=0)), lambda w: w.close()
        )
        records = RecordStore(index)
        baseline_s = median_s(lambda: [len(records.rows(v)) for v in records.video_ids()])  # one video at a time
        searcher_s = median_s(lambda: Searcher(index, embedder))
    segments = args.videos * args.chunks * 2
    print(
        f"{'segments':>9} {'videos':>7} {'writer open s':>14} {'baseline s':>11} {'ratio':>6} {'searcher open s':>16}"
    )
    print(
        f"{segments:>9,} {args.videos:>7,} {writer_s:>14.2f} {baseline_s:>11.2f} {baseline_s / writer_s:>5.1f}x"
        f" {searcher_s:>16.2f}"
    )


if __name__ == "__main__":
    main()

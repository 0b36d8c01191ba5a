"""A cold `vidseek search` on an index with a frame index (#29 item 15): a new process embeds the words for the frame
index with the image-text model's ONNX text tower (now), against loading the model through transformers (before).
Each way is run three times in new processes; the median and the best are printed.

    python benchmarks/bench_cold_frames_search.py [--index DIR]

The index (frames of bikes.mp4 by the tiny random SigLIP, captions by the frame-count fake) is built when DIR
holds none. No real image-text weights are here: SigLIP 2 base's tower is larger, both ways.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
QUERY = "cyclists on a street"


def build(index: Path) -> None:
    from pipeline.config import load_config
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.embed import make_embedder
    from pipeline.index import IndexWriter
    from pipeline.job import run_local

    overrides = ["ray.enabled=false", "decode.chunk_s=4", "frames.enabled=true", "frames.device=cpu"]
    cfg = load_config("tiny.yaml", overrides)
    writer = IndexWriter(index, make_embedder(cfg.embed))
    run_local(cfg, [str(MEDIA / "bikes.mp4")], writer, FrameCountDescriber())
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, default=Path("/tmp/bench-cold-frames"))
    args = parser.parse_args()
    if not (args.index / "catalog.sqlite").exists():
        build(args.index)
    now = f"from pipeline.search import Searcher; Searcher.open({str(args.index)!r}).search({QUERY!r}, 5)"
    before = (
        "from pipeline.search import Searcher; from pipeline.embed.visual import SiglipEmbedder; "
        f"s = Searcher.open({str(args.index)!r}); s.frames._texts = SiglipEmbedder(s.frames.name, 'cpu', quiet=True); "
        f"s.search({QUERY!r}, 5)"
    )
    subprocess.run([sys.executable, "-c", now], check=True)  # the one-time export, not timed
    print("| a new search process | median s | best s |\n|---|---|---|")
    for name, code in (("ONNX text tower (now)", now), ("transformers (before)", before)):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""Frame embedding for a frame index: frames per second on this machine, and vectors per footage-hour with and
without merging near-identical consecutive frames, on a fixed-camera clip and a moving one from ../shared/media.

    python benchmarks/bench_frames.py [--seconds 60] [--min-cosine 0.95 0.99] [--device cuda]

Models: the tiny random SigLIP the tests use, and SigLIP's base architecture (12 layers, 768 wide, 224 px,
patch 16: what google/siglip2-base-patch16-224 computes) with random weights, built from its config, so the cost
is measured without downloading weights. Frames are decoded at 1 fps and 448 px as ingest does, then resized
by the processor. Random weights do not see: the merge rows show how often frames this model's vectors cannot
tell apart occur, which is the mechanics; with real weights the rates will differ (not measured).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"
CLIPS = {"fixed camera": "one-by-one-person-detection.mp4", "moving": "bikes.mp4"}


def decoded_frames(name: str, seconds: float) -> tuple[np.ndarray, np.ndarray, float]:
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.types import ChunkSpan

    info = probe(str(MEDIA / name))
    end = min(seconds, info.duration_s)
    chunk = open_reader(info, DecodeConfig(fps=1.0, max_side=448)).read(ChunkSpan("bench", info.path, 0.0, end))
    return chunk.frames, chunk.pts_s, end


def base_random_siglip(device: str = "cpu"):
    """SigLIP base with random weights (fp16 on a GPU, as the embedder loads real ones), and the tiny model's
    processor (the same image preprocessing)."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    from pipeline.embed.visual import TINY_SIGLIP, SiglipEmbedder

    embedder = SiglipEmbedder(TINY_SIGLIP, device=device)
    embedder.load()  # the processor
    torch.manual_seed(0)
    dtype = torch.float16 if embedder.device.type == "cuda" else torch.float32
    embedder.model = SiglipModel(SiglipConfig()).to(embedder.device, dtype).eval()
    embedder.dim, embedder.name = 768, "siglip-base (random weights)"
    return embedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="footage decoded from each clip")
    parser.add_argument("--min-cosine", type=float, nargs="+", default=[0.95, 0.99])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    import torch

    from pipeline.embed.visual import TINY_SIGLIP, SiglipEmbedder, frame_spans

    if args.device == "cpu":
        torch.set_num_threads(2)  # this machine's two cores, as the table in RESULTS was measured
    elif not torch.cuda.is_available():
        sys.exit("no CUDA GPU here")
    tiny = SiglipEmbedder(TINY_SIGLIP, device=args.device)
    tiny.load()
    clips = {kind: decoded_frames(name, args.seconds) for kind, name in CLIPS.items()}
    print(f"{'model':<30} {'frames/s':>9}  {'clip':<13} {'merge at':>8} {'vectors/footage h':>18} {'MB/footage h':>13}")
    for embedder in (tiny, base_random_siglip(args.device)):
        for kind, (frames, pts, end) in clips.items():
            embedder.embed_images(frames[:2])  # warm-up
            start = time.perf_counter()
            vectors = embedder.embed_images(frames)
            rate = len(frames) / (time.perf_counter() - start)
            per_hour = 3600.0 / end
            for min_cosine in [None, *args.min_cosine]:
                n = len(vectors) if min_cosine is None else len(frame_spans(vectors, pts, end, min_cosine))
                label = "none" if min_cosine is None else f"{min_cosine:.2f}"
                mb = n * per_hour * embedder.dim * 4 / 1e6
                print(f"{embedder.name:<30} {rate:>9.1f}  {kind:<13} {label:>8} {n * per_hour:>18,.0f} {mb:>13.2f}")


if __name__ == "__main__":
    main()

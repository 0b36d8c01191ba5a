"""Decode throughput: sampled frames per second at 1 fps from a long H.264 file, vidseek vs the ffmpeg CLI.

    python benchmarks/bench_decode.py [--hours 1] [--workers 1 2] [--backends decord pyav]

Both sides produce the same frames (1 fps, longest side 448) in the same run on the same file:
    baseline: ffmpeg -i F -vf fps=1,scale=W:H -f rawvideo -pix_fmt rgb24 -      (FFmpeg's own threading)
    vidseek:  the pipeline's reader (decord, or PyAV) over 60 s chunk spans, the file split into N time
              ranges decoded by N processes (what N decode workers do in the Ray job)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def long_video(hours: float) -> Path:
    out = HERE / "_work" / f"long_{hours:g}h.mp4"
    if not out.exists():
        out.parent.mkdir(exist_ok=True)
        subprocess.run([str(HERE / "make_long_video.sh"), str(hours), str(out)], check=True)
    return out


def ffmpeg_baseline(path: Path, width: int, height: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-vf",
            f"fps=1,scale={width}:{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        stdout=subprocess.PIPE,
    )
    nbytes = 0
    while block := proc.stdout.read(1 << 22):
        nbytes += len(block)
    proc.wait()
    return nbytes // (width * height * 3), time.perf_counter() - t0


def _decode_range(args) -> int:
    path, first, last, backend = args
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, plan_spans, probe

    cfg = DecodeConfig(fps=1.0, chunk_s=60, max_side=448, backend=backend)
    info = probe(path)
    spans = plan_spans(info, "bench", cfg)[first:last]
    reader = open_reader(info, cfg)
    frames = sum(len(reader.read(span).frames) for span in spans)
    reader.close()
    return frames


def vidseek_decode(path: Path, workers: int, backend: str) -> tuple[int, float]:
    from pipeline.config import DecodeConfig
    from pipeline.decode import plan_spans, probe

    n = len(plan_spans(probe(str(path)), "bench", DecodeConfig(chunk_s=60)))
    bounds = [round(i * n / workers) for i in range(workers + 1)]
    jobs = [(str(path), bounds[i], bounds[i + 1], backend) for i in range(workers)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        frames = sum(pool.map(_decode_range, jobs))
    return frames, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backends", nargs="+", default=["decord", "pyav"])
    args = parser.parse_args()
    path = long_video(args.hours)
    from pipeline.decode import probe
    from pipeline.decode.readers import target_size

    info = probe(str(path))
    width, height = target_size(info.width, info.height, 448)
    base_frames, base_s = ffmpeg_baseline(path, width, height)
    base_fps = base_frames / base_s
    print(
        f"file: {path.name}  {info.duration_s / 3600:.2f} h  {info.width}x{info.height} {info.codec}  "
        f"-> {width}x{height} at 1 fps"
    )
    print(f"{'method':<28}{'frames':>8}{'seconds':>10}{'frames/s':>10}{'vs ffmpeg':>11}")
    print(f"{'ffmpeg CLI (baseline)':<28}{base_frames:>8}{base_s:>10.1f}{base_fps:>10.1f}{1.0:>10.2f}x")
    for backend in args.backends:
        for workers in args.workers:
            frames, secs = vidseek_decode(path, workers, backend)
            label = f"vidseek {backend}, {workers} worker(s)"
            print(f"{label:<28}{frames:>8}{secs:>10.1f}{frames / secs:>10.1f}{frames / secs / base_fps:>10.2f}x")


if __name__ == "__main__":
    main()

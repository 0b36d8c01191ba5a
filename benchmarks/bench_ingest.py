"""Whole-ingest memory and overhead, with the tiny model (configs/tiny.yaml), on hours-long footage.

    python benchmarks/bench_ingest.py memory   [--hours 1 3]
    python benchmarks/bench_ingest.py overhead [--hours 1] [--repeat 3]

memory:   peak memory of `vidseek ingest`: the CLI process and every process under it (Ray's GCS, raylet,
          workers), sampled every 0.2 s, as the sum of PSS (shared pages split) and of RSS (shared pages
          counted in every process). Target: 3 h peak <= 1.2x the 1 h peak, and < 3 GB.
overhead: wall time of `vidseek ingest` (local Ray, as a user runs it) against the sum of its stages run alone
          in one process on the same input (decode every span; describe every chunk; embed and index every
          description). Target: whole / sum <= 1.1. Each is run --repeat times and the median reported (a single
          run of either varies by 10-20% on a shared 2-core machine); every run is printed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import contextlib

from benchmarks.bench_decode import long_video  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def tree_memory_bytes(proc: psutil.Process) -> tuple[int, int]:
    """(sum of PSS, sum of RSS) over the process and all its descendants. RSS counts shared pages (torch's
    libraries, Ray's object store) once per process; PSS splits them, so its sum is the tree's real footprint."""
    pss = rss = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                pss += getattr(info, "pss", info.rss)
                rss += info.rss
    return pss, rss


def run_ingest(video: Path, index: Path, extra: list[str]) -> tuple[float, tuple[int, int], int]:
    """(wall seconds, (peak tree PSS, peak tree RSS) in bytes, exit code) of one `vidseek ingest`."""
    cmd = [
        sys.executable,
        "-m",
        "workers.cli",
        "ingest",
        str(video),
        "--index",
        str(index),
        "--config",
        "tiny.yaml",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0, 0]
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            pss, rss = tree_memory_bytes(ps)
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    return time.perf_counter() - start, (peak[0], peak[1]), code


def memory(hours: list[float]) -> None:
    print(f"{'footage':>8}{'wall s':>9}{'peak PSS MB':>13}{'vs first':>10}{'peak RSS MB':>13}  exit")
    first = None
    for h in hours:
        with tempfile.TemporaryDirectory() as tmp:
            wall, (pss, rss), code = run_ingest(long_video(h), Path(tmp) / "idx", [])
        first = first or pss
        print(f"{h:>7g}h{wall:>9.0f}{pss / 1e6:>13.0f}{pss / first:>9.2f}x{rss / 1e6:>13.0f}  {code}")


def stages_alone(video: Path) -> dict[str, float]:
    """Each stage on the whole input, one after the other, in this process (no Ray)."""
    from pipeline.config import load_config
    from pipeline.decode import open_reader, plan_spans, probe
    from pipeline.describe import make_describer
    from pipeline.embed import make_embedder
    from pipeline.index import IndexWriter

    cfg = load_config("tiny.yaml")
    times = {}
    t = time.perf_counter()
    info = probe(str(video))
    reader = open_reader(info, cfg.decode)
    chunks = [reader.read(span) for span in plan_spans(info, "bench", cfg.decode)]
    times["decode"] = time.perf_counter() - t
    describer = make_describer(cfg.describe)
    describer.load()
    t = time.perf_counter()
    descriptions = [d for c in chunks for d in describer.describe([c])]
    times["describe"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        writer = IndexWriter(Path(tmp), make_embedder(cfg.embed))
        t = time.perf_counter()
        writer.begin_video("bench", str(video), 0, info.duration_s, "tiny", {})
        for d in descriptions:
            writer.write(d)
        writer.finish_video("bench", "complete", num_chunks=len(descriptions))
        times["embed+index"] = time.perf_counter() - t
        writer.close()
    return times


def overhead(hours: float, repeat: int) -> None:
    video = long_video(hours)
    alone_runs, wall_runs, local_runs = [], [], []
    for i in range(repeat):
        alone_runs.append(stages_alone(video))
        with tempfile.TemporaryDirectory() as tmp:
            wall, _, code = run_ingest(video, Path(tmp) / "idx", [])
            wall_local, _, _ = run_ingest(video, Path(tmp) / "idx_local", ["--set", "ray.enabled=false"])
        if code != 0:
            sys.exit(f"vidseek ingest exited with {code}")
        wall_runs.append(wall)
        local_runs.append(wall_local)
        runs = f"stages {sum(alone_runs[-1].values()):.1f} s, whole {wall:.1f} s, no Ray {wall_local:.1f} s"
        print(f"run {i + 1}/{repeat}: {runs}", file=sys.stderr, flush=True)
    alone = {name: statistics.median(run[name] for run in alone_runs) for name in alone_runs[0]}
    total = statistics.median(sum(run.values()) for run in alone_runs)
    wall, wall_local = statistics.median(wall_runs), statistics.median(local_runs)
    print(f"median of {repeat} runs each")
    for name, secs in alone.items():
        print(f"{'stage alone: ' + name:<34}{secs:>8.1f} s")
    print(f"{'sum of stages':<34}{total:>8.1f} s")
    print(f"{'whole ingest, local Ray (default)':<34}{wall:>8.1f} s  {wall / total:.2f}x of sum")
    print(f"{'whole ingest, no Ray (run_local)':<34}{wall_local:>8.1f} s  {wall_local / total:.2f}x of sum")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["memory", "overhead"])
    parser.add_argument("--hours", type=float, nargs="+")
    parser.add_argument("--repeat", type=int, default=3, help="overhead: runs of each, the median is reported")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the benchmarks build long footage with the ffmpeg CLI: apt-get install -y ffmpeg")
    if args.what == "memory":
        memory(args.hours or [1, 3])
    else:
        overhead((args.hours or [1])[0], args.repeat)


if __name__ == "__main__":
    main()

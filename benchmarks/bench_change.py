"""What change-aware sampling saves, and what it must not lose: decode.sampling fixed against change, through the
real ingest path (decode, the change signal, carrying, the writer), on two kinds of footage:

- a fixed-camera hour, built with ffmpeg from one-by-one-person-detection.mp4: its first frame (the empty room)
  held still with temporal noise and a slow lighting drift, the real clip inserted at 900 s and 2,400 s (7.7% of
  the hour is the clip; its labelled activity seconds, 6.3% of the hour, are those of
  benchmarks/activity_labels.json moved there), H.264 at 600 kbit/s as a camera records;
- the 288.5 s concatenation of real clips (moving footage, with its true clip boundaries and labelled activity).

    python benchmarks/bench_change.py [--out DIR] [--repeat 2]

The model is a stand-in that counts: each call's input tokens are Qwen3-VL's for the frames it was sent (the
geometry `--dry-run` uses, checked against the real processor in tests/test_change.py), its output 1,000 tokens.
Footage-hours per GPU-hour are computed, not measured, from the H200 cost model of benchmarks/RESULTS.md: prompt
tokens at 15,000 a second, and a decode step of 80 ms at batch 32 (2.5 ms a call per output token). The decode
cost of the signal is measured: the same spans read with and without it, best of --repeat runs each.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"
LABELS = json.loads((REPO / "benchmarks" / "activity_labels.json").read_text())
CAMERA, CONCAT = "one-by-one-person-detection.mp4", "concat_real_clips_640x360.mp4"
INSERTED_AT_S = (900.0, 2400.0)
HOUR_S = 3600.0
OUTPUT_TOKENS = 1000  # a call's output in the cost model
PREFILL_TOKENS_PER_S = 15_000  # H200, the 8B architecture (benchmarks/RESULTS.md)
DECODE_STEP_S, BATCH = 0.080, 32


def fixed_camera_hour(out: Path) -> Path:
    """The hour, built once (about two minutes on two cores) and kept in ``out``."""
    path = out / "fixed_camera_hour.mp4"
    if path.exists():
        return path
    src = MEDIA / CAMERA
    clip_s = float(
        subprocess.check_output(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(src)], text=True
        )
    )
    holds = [INSERTED_AT_S[0], INSERTED_AT_S[1] - INSERTED_AT_S[0] - clip_s, HOUR_S - INSERTED_AT_S[1] - clip_s]
    first = out / "first.png"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-frames:v", "1", first], check=True)
    graph = (
        "[0:v]noise=alls=8:allf=t,format=yuv420p,setsar=1,split=3[a][b][c];"
        f"[a]trim=duration={holds[0]},setpts=PTS-STARTPTS[h0];"
        f"[b]trim=duration={holds[1]},setpts=PTS-STARTPTS[h1];"
        f"[c]trim=duration={holds[2]},setpts=PTS-STARTPTS[h2];"
        "[1:v]fps=10,format=yuv420p,setsar=1,split=2[p0][p1];"
        "[h0][p0][h1][p1][h2]concat=n=5:v=1:a=0,"
        "eq=brightness='0.04*sin(2*PI*t/3600)':eval=frame,format=yuv420p[v]"  # daylight drifting over the hour
    )
    inputs = ["-loop", "1", "-framerate", "10", "-t", str(HOUR_S), "-i", str(first), "-i", str(src)]
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "600k", "-maxrate", "800k", "-bufsize", "1600k"]
    encode += ["-g", "100"]  # a camera's bitrate and keyframe interval
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]"]
    subprocess.run([*cmd, *encode, str(path)], check=True)
    return path


def activity(name: str) -> list[float]:
    """Labelled activity seconds on the footage's clock."""
    if name == "fixed camera hour":
        return [t + at for at in INSERTED_AT_S for a, b in LABELS[CAMERA] for t in range(a, b)]
    return [t for a, b in LABELS[CONCAT] for t in range(math.ceil(a), math.ceil(b))]


def boundaries(name: str) -> list[float]:
    """Clip boundaries (none in the fixed-camera hour: the clip begins and ends on the same empty room)."""
    if name == "fixed camera hour":
        return []
    segments = json.loads((MEDIA / CONCAT.replace(".mp4", ".segments.json")).read_text())
    return [s["start"] for s in segments[1:]]


class CountingModel:
    """The model's stand-in: Qwen3-VL's input tokens for what it is sent, OUTPUT_TOKENS out, a fixed caption."""

    name = "counting stand-in"

    def __init__(self, info, cfg) -> None:
        self.info, self.cfg = info, cfg

    def load(self) -> None:
        pass

    def describe(self, chunks):
        from pipeline.describe.estimate import estimate_frames
        from pipeline.types import ChunkDescription

        out = []
        for chunk in chunks:
            tokens_in, _ = estimate_frames(chunk, self.info, self.cfg.decode, self.cfg.describe)
            out.append(
                ChunkDescription(
                    chunk.span, "a room", model=self.name, input_tokens=tokens_in, output_tokens=OUTPUT_TOKENS
                )
            )
        return out


@dataclass
class Row:
    footage: str
    sampling: str
    duration_s: float
    frames_decoded: int
    frames_sent: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    activity_seen: float  # share of activity seconds with a sent frame within 1 s
    boundaries_seen: float  # share of clip boundaries with a sent frame in the second after
    covered: float  # share of the footage inside some caption's span
    decode_fps: float  # sampled frames per second of decoding (with the change signal for "change")

    def footage_hours_per_gpu_hour(self) -> float:
        gpu_s = self.input_tokens / PREFILL_TOKENS_PER_S + self.model_calls * OUTPUT_TOKENS * DECODE_STEP_S / BATCH
        return (self.duration_s / 3600.0) / (gpu_s / 3600.0)


def ingest(path: Path, name: str, sampling: str, out: Path, embedder) -> Row:
    from pipeline.config import load_config
    from pipeline.decode import probe
    from pipeline.index import Catalog, IndexWriter
    from pipeline.index.records import RecordStore
    from pipeline.job import run_local

    cfg = load_config(None, ["ray.enabled=false", f"decode.sampling={sampling}"])
    info = probe(str(path))
    index = out / f"index-{name.replace(' ', '-')}-{sampling}"
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [str(path)], writer, CountingModel(info, cfg))
    writer.close()
    (result,) = report.results
    assert result.status == "ingested", result.reason
    catalog = Catalog(index)
    (video,) = catalog.videos()
    rows = [r for r in RecordStore(index).rows(video.video_id) if r.kind == "caption"]
    catalog.close()
    sent = np.array(sorted(t for r in rows for t in r.frame_pts))
    seen = [np.any(np.abs(sent - t) <= 1.0) for t in activity(name)]
    edges = [np.any((sent >= b - 1e-3) & (sent <= b + 1.0)) for b in boundaries(name)] or [math.nan]
    spans = sorted((r.start_s, r.end_s) for r in rows)
    covered, reach = 0.0, 0.0
    for start, end in spans:
        covered += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    c = result.costs
    counts = (c.frames_decoded, c.frames_sent, c.model_calls, c.input_tokens, c.output_tokens)
    return Row(
        name,
        sampling,
        info.duration_s,
        *counts,
        float(np.mean(seen)),
        float(np.mean(edges)),
        covered / info.duration_s,
        0.0,
    )


def decode_rate(path: Path, sampling: str, repeat: int) -> float:
    """Sampled frames per second of reading every span, best of ``repeat`` (the change signal included)."""
    from pipeline.config import load_config
    from pipeline.decode import open_reader, plan_spans, probe
    from pipeline.decode.change import ChangeSampler

    cfg = load_config(None, [f"decode.sampling={sampling}"]).decode
    info = probe(str(path))
    best = 0.0
    for _ in range(repeat):
        reader = ChangeSampler(open_reader(info, cfg), cfg)
        start, frames = time.perf_counter(), 0
        for span in plan_spans(info, "bench", cfg):
            frames += reader.read(span).chunk.frames_decoded
        best = max(best, frames / (time.perf_counter() - start))
        reader.close()
    return best


def main() -> None:
    from pipeline.config import EmbedConfig
    from pipeline.embed import make_embedder

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-bench-change")
    parser.add_argument("--repeat", type=int, default=2, help="decode timings: best of this many runs each")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    footage = {"fixed camera hour": fixed_camera_hour(args.out), "concat (moving)": MEDIA / CONCAT}
    embedder = make_embedder(EmbedConfig())
    rows = []
    for name, path in footage.items():
        for sampling in ("fixed", "change"):
            row = ingest(path, name, sampling, args.out, embedder)
            rows.append(row)
        for row in rows[-2:]:  # interleaved, so machine noise hits both alike
            row.decode_fps = decode_rate(path, row.sampling, args.repeat)
    head = (
        f"{'footage':<18} {'sampling':<8} {'frames decoded':>14} {'frames sent':>11} {'model calls':>11} "
        f"{'input tokens':>12} {'output tokens':>13} {'activity seen':>13} {'boundaries':>10} {'covered':>7} "
        f"{'decode fps':>10} {'footage-h/GPU-h':>15}"
    )
    print(head)
    for r in rows:
        edges = "-" if math.isnan(r.boundaries_seen) else f"{r.boundaries_seen:.0%}"
        print(
            f"{r.footage:<18} {r.sampling:<8} {r.frames_decoded:>14,} {r.frames_sent:>11,} {r.model_calls:>11,} "
            f"{r.input_tokens:>12,} {r.output_tokens:>13,} {r.activity_seen:>13.1%} {edges:>10} "
            f"{r.covered:>7.1%} {r.decode_fps:>10.1f} {r.footage_hours_per_gpu_hour():>15.1f}"
        )
    print("\nchange / fixed, and the targets:")
    for name in footage:
        fixed, change = (next(r for r in rows if r.footage == name and r.sampling == s) for s in ("fixed", "change"))
        gpu = change.footage_hours_per_gpu_hour() / fixed.footage_hours_per_gpu_hour()
        print(
            f"  {name}: model calls {change.model_calls / fixed.model_calls:.2f}x, "
            f"frames sent {change.frames_sent / fixed.frames_sent:.3f}x, "
            f"input tokens {change.input_tokens / fixed.input_tokens:.3f}x, "
            f"decode with the signal {change.decode_fps / fixed.decode_fps:.2f}x the frames/s without it, "
            f"footage-hours per GPU-hour {gpu:.1f}x"
        )
    print("  targets: fixed camera calls <= 0.3x, frames sent <= 0.15x, every activity second seen, covered >= 99%;")
    print("           moving footage: every boundary and activity second seen, calls <= fixed; decode >= 0.9x")
    print(
        f"(computed GPU figures: {PREFILL_TOKENS_PER_S:,} prompt tokens/s, {DECODE_STEP_S * 1000:.0f} ms a decode "
        f"step at batch {BATCH}, {OUTPUT_TOKENS:,} output tokens a call; ran {time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()

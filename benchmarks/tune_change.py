"""How decode.change_threshold (and the thumbnail width) were chosen: measured on real clips, not guessed.

    python benchmarks/tune_change.py [--out DIR] [--max-side 448]

Frames are decoded as ingest decodes them (1 fps, 448 px by default, PyAV). Two kinds of footage:
- still: the first frame of the fixed-camera clip one-by-one-person-detection.mp4 held for 300 s with temporal
  noise (ffmpeg's noise filter at strength 8 and 20), a brightness drift of +-8% of full scale over 5 minutes, and
  H.264 at 600 kbit/s (a camera's bitrate: its compression flicker comes with it). Nothing happens: every frame
  kept after the first is a false keep. The largest signal against the first frame is the noise ceiling.
- labelled: one-by-one-person-detection.mp4 (tuning), car-detection.mp4 and the 288 s concat clip (held out),
  with the seconds in which something happens labelled by eye (benchmarks/activity_labels.json). A second is
  missed when no kept frame lies within 1 s of it.
For each thumbnail width, the threshold is set between the noise ceiling and the smallest threshold that misses
an activity second on the tuning clip (their geometric mean), then checked on the held-out clips. The width is
the one with the widest margin (first miss / noise ceiling) among those whose thumbnail pixel still averages at
least 4 x 4 pixels of a 448-px frame (<= 112 px wide), so sensor noise is averaged out before the comparison.
Wider thumbnails are printed too: their margins on the synthetic still footage are wider still, but they keep
more frames of the dark, held-out car park (its real sensor noise), which is why the averaging bound stays.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"
LABELS = json.loads((REPO / "benchmarks" / "activity_labels.json").read_text())
TUNING, HELD_OUT = "one-by-one-person-detection.mp4", ["car-detection.mp4", "concat_real_clips_640x360.mp4"]
WIDTHS = (48, 64, 96, 128, 160, 192)
MAX_WIDTH = 112  # 448 / 4: a thumbnail pixel averages at least 4 x 4 decoded pixels
THRESHOLDS = (8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64)


def still_clip(out: Path, noise: int) -> Path:
    path = out / f"still_noise{noise}.mp4"
    if not path.exists():
        first = out / "first.png"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(MEDIA / TUNING), "-frames:v", "1", first],
            check=True,
        )
        drift = f"noise=alls={noise}:allf=t,eq=brightness='0.08*sin(2*PI*t/300)':eval=frame,format=yuv420p"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-framerate", "10", "-i", first,
             "-t", "300", "-vf", drift, "-c:v", "libx264", "-preset", "veryfast", "-b:v", "600k", "-maxrate", "800k",
             "-bufsize", "1600k", "-g", "100", str(path)],
            check=True,
        )  # fmt: skip
    return path


def decoded(path: Path, max_side: int) -> tuple[list[np.ndarray], np.ndarray]:
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.types import ChunkSpan

    info = probe(str(path))
    chunk = open_reader(info, DecodeConfig(max_side=max_side)).read(ChunkSpan("tune", info.path, 0.0, info.duration_s))
    return list(chunk.frames), chunk.pts_s


def active(name: str, pts_s: np.ndarray) -> np.ndarray:
    return np.array([any(a <= math.floor(t) < b for a, b in LABELS[name]) for t in pts_s])


def missed(kept: list[int], pts_s: np.ndarray, activity: np.ndarray) -> int:
    seen = np.array([np.min(np.abs(pts_s[kept] - t)) <= 1.0 + 1e-6 for t in pts_s])
    return int((activity & ~seen).sum())


def main() -> None:
    from pipeline.decode.change import change_signal, changed_frames, thumbnail

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-tune-change")
    parser.add_argument("--max-side", type=int, default=448, help="decode.max_side the frames are decoded at")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stills = [decoded(still_clip(args.out, n), args.max_side)[0] for n in (8, 20)]
    clips = {name: decoded(MEDIA / name, args.max_side) for name in [TUNING, *HELD_OUT]}
    print(f"{'width':>5} {'noise ceiling':>13} {'first miss (tuning)':>19} {'margin':>6} {'chosen':>6}  held out there")
    rows = []
    for width in WIDTHS:
        ceiling = max(
            change_signal(thumbnail(f, width), thumbnail(frames[0], width)) for frames in stills for f in frames[1:]
        )
        thumbs = {name: [thumbnail(f, width) for f in frames] for name, (frames, _) in clips.items()}
        pts = {name: p for name, (_, p) in clips.items()}
        tuning_active = active(TUNING, pts[TUNING])
        misses = (missed(changed_frames(thumbs[TUNING], None, t), pts[TUNING], tuning_active) for t in THRESHOLDS)
        first_miss = next((t for t, m in zip(THRESHOLDS, misses, strict=True) if m), math.inf)
        chosen = round(math.sqrt(ceiling * first_miss)) if first_miss < math.inf else None
        notes = []
        if chosen is not None:
            false_keeps = sum(len(changed_frames([thumbnail(f, width) for f in s], None, chosen)) - 1 for s in stills)
            notes.append(f"false keeps on 600 s of still: {false_keeps}")
            for name in HELD_OUT:
                kept = changed_frames(thumbs[name], None, chosen)
                notes.append(
                    f"{name}: missed {missed(kept, pts[name], active(name, pts[name]))} of "
                    f"{int(active(name, pts[name]).sum())} active s, kept {len(kept)} of {len(pts[name])} frames"
                )
        rows.append((width, first_miss / ceiling))
        print(
            f"{width:>5} {ceiling:>13.1f} {first_miss:>19} {first_miss / ceiling:>6.2f} {chosen!s:>6}  "
            + "; ".join(notes)
        )
    width, margin = max((r for r in rows if r[0] <= MAX_WIDTH), key=lambda r: r[1])
    print(f"\nchosen: width {width} (the widest margin, {margin:.2f}, at <= {MAX_WIDTH} px)")
    print("\nthreshold sweep at width 96 (kept frames / missed active seconds), the rule ingest runs:")
    for name, (frames, p) in clips.items():
        thumbs96 = [thumbnail(f) for f in frames]
        cells = [
            f"{t}: {len(k)}/{missed(k, p, active(name, p))}"
            for t in THRESHOLDS
            if (k := changed_frames(thumbs96, None, t))
        ]
        print(f"  {name} ({len(frames)} frames, {int(active(name, p).sum())} active s): " + "  ".join(cells))


if __name__ == "__main__":
    main()

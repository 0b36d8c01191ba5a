"""Live speech: how long after a sentence is said it is searchable, and what Whisper is paid per second heard.

    python benchmarks/bench_live_speech.py [--chunk-s 10] [--margins 3 15] [--seconds 80]

ffmpeg serves the first ``--seconds`` of the talking clip (video and audio) as MPEG-TS over HTTP on loopback at
real-time pace; `vidseek watch`'s Watcher (frames described by a counting stand-in, so only speech costs) cuts
it into chunks and transcribes each with the bundled Whisper tiny.en once the audio has run ``speech.margin_s``
past it. Per sentence: latency = when it was searchable - when it ended. A sentence is held until the end of its
chunk plus the margin, so the baseline is (chunk end - sentence end) + margin_s, measured in the same run; what
the watch adds is latency - baseline (the audio's arrival, the transcription, the save), and ratio = latency /
baseline (large where a sentence ends just before its chunk does and the baseline is small). Whisper cost:
calls, and audio seconds transcribed per second heard (1 + 2 margin / chunk_s with margins that overlap).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"


def cut(seconds: float, folder: Path) -> Path:
    out = folder / "talking.ts"
    clip = ["-t", str(seconds), "-i", str(MEDIA / "talking_concat_640x360.mp4")]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mpegts", str(out)]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *clip, *codecs], check=True)
    return out


def run(chunk_s: float, margin_s: float, seconds: float, clip: Path) -> dict:
    from pipeline.config import load_config
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.embed import make_embedder
    from pipeline.index import IndexWriter
    from pipeline.live import Watcher
    from tests.stream_sender import StreamSender

    overrides = [f"decode.chunk_s={chunk_s}", "decode.fps=1", "speech.enabled=true", f"speech.margin_s={margin_s}"]
    cfg = load_config("tiny.yaml", overrides)
    heard: list[tuple[float, object]] = []
    calls = {"n": 0, "audio_s": 0.0, "busy_s": 0.0}
    sender = StreamSender(str(clip), audio=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        writer = IndexWriter(tmp, make_embedder(cfg.embed))
        watcher = Watcher([sender.url], cfg, writer, FrameCountDescriber(), on_speech=lambda s, said: heard.extend(
            (time.time(), u) for u in said))  # fmt: skip
        transcribe = watcher.transcriber.transcribe

        def counted(samples, offset_s):
            started = time.perf_counter()
            said = transcribe(samples, offset_s)
            calls["n"] += 1
            calls["audio_s"] += len(samples) / 16_000
            calls["busy_s"] += time.perf_counter() - started
            return said

        watcher.transcriber.transcribe = counted
        thread = threading.Thread(target=watcher.run, args=(seconds - 1,), daemon=True)  # before the loop repeats
        thread.start()
        thread.join(seconds + 120)
        sender.kill()
        writer.close()
    chunk_end = {id(u): (u.start_s // chunk_s + 1) * chunk_s for _, u in heard}  # chunks end on multiples
    latency = [at - u.end_s for at, u in heard]
    baseline = [chunk_end[id(u)] - u.end_s + margin_s for _, u in heard]
    watched_s = seconds - 1
    return {
        "chunk_s": chunk_s,
        "margin_s": margin_s,
        "sentences": len(heard),
        "latency": latency,
        "baseline": baseline,
        "calls": calls["n"],
        "audio_per_s": calls["audio_s"] / watched_s,
        "busy_per_s": calls["busy_s"] / watched_s,
        "texts": [u.text for _, u in heard],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-s", type=float, default=10.0)
    parser.add_argument("--margins", type=float, nargs="+", default=[3.0, 15.0])
    parser.add_argument("--seconds", type=float, default=80.0, help="of the talking clip (two sentences, by 48 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = cut(args.seconds, Path(tmp))
        rows = [run(args.chunk_s, margin, args.seconds, clip) for margin in args.margins]
    print(f"live speech: {args.seconds:.0f} s of talking_concat over HTTP, chunk_s {args.chunk_s:g}, Whisper tiny.en")
    print("| margin_s | sentences | latency s (each) | baseline s: chunk end + margin | over it s (max) | ratio (max) "
          "| Whisper calls | audio s transcribed / s heard | Whisper s / s heard |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pairs = list(zip(r["latency"], r["baseline"], strict=True))
        over = max((lat - base for lat, base in pairs), default=0.0)
        ratio = max((lat / base for lat, base in pairs), default=0.0)
        print(
            f"| {r['margin_s']:g} | {r['sentences']} | {', '.join(f'{x:.1f}' for x in r['latency'])} "
            f"| {', '.join(f'{x:.1f}' for x in r['baseline'])} | {over:.1f} | {ratio:.2f} | {r['calls']} "
            f"| {r['audio_per_s']:.2f} | {r['busy_per_s']:.3f} |"
        )
    for r in rows:
        print(f"margin {r['margin_s']:g}: {r['texts']}")


if __name__ == "__main__":
    main()

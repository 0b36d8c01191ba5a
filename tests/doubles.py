"""Test doubles that only these tests need (an oracle describer for the shared concatenated clip, decode workers
that hang or fail); the general fakes live beside their protocols (pipeline/describe/fake.py, embed/fake.py)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.types import ChunkDescription, Event, FrameChunk


def clip_name(source: str) -> str:
    """'intel_sample_videos/one-by-one-person-detection.mp4' -> 'one by one person detection'."""
    return Path(source).stem.replace("_", " ").replace("-", " ")


class SegmentsDescriber:
    """Says which true clips of concat_real_clips_640x360.mp4 a chunk covers, from its .segments.json.

    The caption names the clip covering most of the chunk; each clip touching the chunk becomes an event with
    its true boundaries clipped to the chunk, so search results can be checked against the ground truth.
    """

    name = "segments-oracle"

    def __init__(self, segments_json: str) -> None:
        self.segments = json.loads(Path(segments_json).read_text())

    def load(self) -> None:
        pass

    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription]:
        out = []
        for chunk in chunks:
            s, e = chunk.span.start_s, chunk.span.end_s
            touching = [g for g in self.segments if g["start"] < e and g["end"] > s]
            main = max(touching, key=lambda g: min(g["end"], e) - max(g["start"], s))
            events = [
                Event(
                    max(g["start"], s),
                    min(g["end"], e),
                    clip_name(g["source"]),
                    f"the clip {clip_name(g['source'])} plays",
                )
                for g in touching
            ]
            out.append(
                ChunkDescription(chunk.span, f"footage from {clip_name(main['source'])}", events, model=self.name)
            )
        return out


class HangingDecodeWorker:
    """A decode worker that hangs (like decord stuck in get_batch) on its first call for a file, once.

    The marker file makes only the first actor hang: its replacement finds the marker and decodes normally.
    """

    def __init__(self, cfg, marker: str = "") -> None:
        from workers.actors import DecodeWorker

        self.inner = DecodeWorker(cfg)

    def read(self, info, span, backend="auto"):
        import os
        import time

        marker = info.path + ".hung-once"
        if span.start_s == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(3600)
        return self.inner.read(info, span, backend)


class FailingFirstSpanDecodeWorker:
    """A decode worker that reports a decode error for the span at 0 s (a damaged stretch of a file) and reads the
    rest normally."""

    def __init__(self, cfg) -> None:
        from workers.actors import DecodeWorker

        self.inner = DecodeWorker(cfg)

    def read(self, info, span, backend="auto"):
        if span.start_s == 0:
            return None, {"error": "damaged packets at 0 s (test double)", "warning": "", "decoder": ""}
        return self.inner.read(info, span, backend)

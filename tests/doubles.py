"""Test doubles that only these tests need (an oracle describer for the shared concatenated clip, decode workers
that hang or fail); the general fakes live beside their protocols (pipeline/describe/fake.py, embed/fake.py)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.types import ChunkDescription, Event, FrameChunk, Needs


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

    def __init__(self, cfg, marker: str = "", frames=None, speech=None) -> None:
        from workers.actors import DecodeWorker

        self.inner = DecodeWorker(cfg, frames, speech)

    def read(self, info, span, backend="auto", needs=Needs(True, False, False)):
        import os
        import time

        marker = info.path + ".hung-once"
        if span.start_s == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(3600)
        return self.inner.read(info, span, backend, needs)


class FailingFirstSpanDecodeWorker:
    """A decode worker that reports a decode error for the span at 0 s (a damaged stretch of a file) and reads the
    rest normally."""

    def __init__(self, cfg, frames=None, speech=None) -> None:
        from workers.actors import DecodeWorker

        self.inner = DecodeWorker(cfg, frames, speech)

    def read(self, info, span, backend="auto", needs=Needs(True, False, False)):
        if span.start_s == 0:
            return None, {"error": "damaged packets at 0 s (test double)", "warning": "", "decoder": ""}
        return self.inner.read(info, span, backend, needs)


class ClipOracleVisual:
    """A visual embedder that knows which true clip of concat_real_clips_640x360.mp4 a frame comes from: each
    frame is matched to the nearest of the video's own frames (16x16 grey thumbnails, decoded once at 1 fps) and
    embedded as its clip's one-hot vector; a text naming a clip (``clip_name``) gets that clip's vector. So the
    frame index's moments can be checked against the true boundaries, as SegmentsDescriber does for captions."""

    name = "clip-oracle"

    def __init__(self, video: str, segments_json: str) -> None:
        from pipeline.config import DecodeConfig
        from pipeline.decode import open_reader, probe
        from pipeline.types import ChunkSpan

        self.segments = json.loads(Path(segments_json).read_text())
        self.dim = len(self.segments)
        info = probe(video)
        whole = open_reader(info, DecodeConfig(fps=1.0, max_side=224)).read(ChunkSpan("v", video, 0.0, info.duration_s))
        self.thumbs, self.pts_s = self._thumbs(whole.frames), whole.pts_s

    def load(self) -> None:
        pass

    @staticmethod
    def _thumbs(frames):
        import cv2
        import numpy as np

        grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA) for f in frames]
        return np.asarray(grey, dtype=np.float32).reshape(len(frames), -1)

    def clip_of(self, t: float) -> int:
        return next(i for i, g in enumerate(self.segments) if g["start"] <= t < g["end"])

    def embed_images(self, frames):
        import numpy as np

        out = np.zeros((len(frames), self.dim), np.float32)
        if len(frames):
            thumbs = self._thumbs(frames)
            nearest = ((thumbs[:, None, :] - self.thumbs[None]) ** 2).sum(-1).argmin(1)
            out[np.arange(len(frames)), [self.clip_of(float(self.pts_s[n])) for n in nearest]] = 1.0
        return out

    def embed_texts(self, texts):
        import numpy as np

        out = np.full((len(texts), self.dim), 1e-3, np.float32)
        for row, text in enumerate(texts):
            for i, g in enumerate(self.segments):
                if clip_name(g["source"]) in text:
                    out[row, i] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

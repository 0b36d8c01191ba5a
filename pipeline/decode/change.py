"""Change-aware sampling: of the frames sampled at ``decode.fps``, send the model only those that changed.

    frame -> thumbnail (grey, 96 px wide, area-averaged)
    signal(thumbnail, reference) = the largest |difference| after fitting the reference's brightness and
                                   contrast to the frame (least squares a * reference + b)
    a frame is kept when its signal against the last frame kept exceeds ``decode.change_threshold``

The area average (4.7 x 4.7 pixels of a 448-px frame per thumbnail pixel) removes sensor noise and compression
flicker, the fit removes lighting drift, and the largest difference (not the mean) keeps a person or a car that
fills a few thumbnail pixels. The width and the threshold were chosen by measurement on real fixed-camera and
moving clips (benchmarks/RESULTS.md, "Change-aware sampling": how).

A span's reference is the sample one step before it (the last frame of the span before, read again when the
spans are not read in order), so a span's decision depends on its own footage only: a retry, a resume or
another worker decides the same. A span with no frame kept is *still*: it is not sent to the model and carries
the description before it (pipeline.carry). Every ``max_still_s`` of the span grid one span is described
anyway (its first frame at least), so slow changes are not lost; the first span of a file is always described.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pipeline.config import DecodeConfig
from pipeline.decode.errors import DecodeError
from pipeline.types import ChunkSpan, FrameChunk

THUMB_WIDTH = 96  # pixels; the threshold is in grey levels at this width (measured, see the module docstring)
_EPS_S = 1e-3


def thumbnail(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, width) float32 grey, area-averaged, aspect kept."""
    import cv2

    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    height = max(1, round(width * frame.shape[0] / frame.shape[1]))
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def change_signal(thumb: np.ndarray, reference: np.ndarray) -> float:
    """The largest difference between two thumbnails once the reference's brightness and contrast are fitted to
    ``thumb``; infinite when their shapes differ (a stream that changed resolution)."""
    if thumb.shape != reference.shape:
        return math.inf
    x, y = reference.ravel().astype(np.float64), thumb.ravel().astype(np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    var = float(xc @ xc)
    gain = float(xc @ yc) / var if var > 1e-6 else 0.0  # a flat reference (a black frame): offset only
    return float(np.abs(yc - gain * xc).max())


def changed_frames(thumbs: list[np.ndarray], reference: np.ndarray | None, threshold: float) -> list[int]:
    """Indices of the frames that differ from the last frame kept (at first ``reference``; none: keep the
    first frame)."""
    kept: list[int] = []
    for i, thumb in enumerate(thumbs):
        if reference is None or change_signal(thumb, reference) > threshold:
            kept.append(i)
            reference = thumb
    return kept


def refresh_due(span: ChunkSpan, cfg: DecodeConfig) -> bool:
    """Whether the span is one of those described however still its footage (one every ``max_still_s`` of the
    span grid, the first span included)."""
    step_s = cfg.chunk_s - cfg.overlap_s
    every = max(1, math.floor(cfg.max_still_s / step_s + 1e-9))
    return round(span.start_s / step_s) % every == 0


@dataclass
class Sampled:
    """A span's decoded frames (all of them: the frame index embeds every one) and the ones the model gets."""

    chunk: FrameChunk
    kept: list[int]

    @property
    def still(self) -> bool:
        """Nothing changed since the frame before the span, and no refresh was due: not sent to the model."""
        return not self.kept

    def for_model(self) -> FrameChunk:
        """The frames to describe; for a still span (described after all), its first frame."""
        return self.chunk.subset(self.kept or [0])


class ChangeSampler:
    """Wraps a ChunkReader: reads a span's frames at ``decode.fps`` and picks those to describe. Remembers the
    thumbnail of the last frame it read, so spans read in order need no second look at the frame before them."""

    def __init__(self, reader, cfg: DecodeConfig) -> None:
        self.reader, self.cfg = reader, cfg
        self._last: tuple[float, np.ndarray] | None = None  # (PTS, thumbnail) of the last frame read

    @property
    def name(self) -> str:
        return self.reader.name

    @property
    def warning(self) -> str:
        return self.reader.warning

    def read(self, span: ChunkSpan) -> Sampled:
        if self.cfg.sampling == "fixed":
            chunk = self.reader.read(span)
            return Sampled(chunk, list(range(len(chunk.frames))))
        reference = self._reference(span)
        chunk = self.reader.read(span)
        thumbs = [thumbnail(f) for f in chunk.frames]
        self._last = (float(chunk.pts_s[-1]), thumbs[-1])
        kept = changed_frames(thumbs, reference, self.cfg.change_threshold)
        if not kept and refresh_due(span, self.cfg):
            kept = [0]
        return Sampled(chunk, kept)

    def _reference(self, span: ChunkSpan) -> np.ndarray | None:
        """The thumbnail of the sample one step before the span; None for a file's first span, or when that
        frame cannot be read (the span is then described)."""
        if span.start_s <= _EPS_S:
            return None
        before_s = span.start_s - 1.0 / self.cfg.fps
        if self._last is not None and before_s - _EPS_S <= self._last[0] < span.start_s:
            return self._last[1]  # read in order: the previous span's last sample
        try:
            peek = self.reader.read(replace(span, start_s=max(0.0, round(before_s, 6)), end_s=span.start_s))
        except DecodeError:
            return None
        return thumbnail(peek.frames[-1])

    def close(self) -> None:
        self.reader.close()

"""Read one chunk span's frames, sampled at ``fps`` and resized at decode time, each with its container PTS.

Sampling rule (every reader): for each target time ``start_s + k / fps`` take the first frame whose PTS is at or
after it, inside the span. Times are the frames' own PTS on the file's clock (pipeline.types), never
``index / fps``, so VFR files come out right. PyAV is the default; decord is supported; OpenCV reads what the
chosen reader cannot open or decode (rotation is applied by all three). A file that stops decoding inside a span
(corrupt or truncated) gives a chunk that ends at its last decoded frame (``ChunkSpan.decoded_end_s``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

import numpy as np

from pipeline.config import DecodeConfig
from pipeline.decode._decord import import_decord
from pipeline.decode.errors import DecodeError
from pipeline.types import ChunkSpan, FrameChunk, VideoInfo

log = logging.getLogger(__name__)
_EPS_S = 1e-4


class ChunkReader(Protocol):
    name: str
    warning: str  # set when the file decodes only partly (corrupt or truncated data)

    def read(self, span: ChunkSpan) -> FrameChunk: ...
    def close(self) -> None: ...


def target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) with the longest side at most ``max_side``, aspect kept, even sizes, never upscaled."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def sample_targets_s(span: ChunkSpan, fps: float) -> np.ndarray:
    return span.start_s + np.arange(math.ceil(span.duration_s * fps - _EPS_S)) / fps


def cut_short(span: ChunkSpan, last_frame_s: float, frame_s: float) -> ChunkSpan:
    """The span ending after its last decoded frame (shown for ``frame_s``), when decoding stopped more than a
    second before the span's end; else the span as planned."""
    if last_frame_s + frame_s < span.end_s - 1.0:
        return replace(span, decoded_end_s=round(max(last_frame_s + frame_s, span.covered_start_s + 1e-3), 3))
    return span


def starting_late(span: ChunkSpan, first_frame_s: float, frame_s: float) -> ChunkSpan:
    """The span starting at its first decoded frame where that comes more than a frame after the planned start
    (a video whose first frame is at 1.075 s: nothing is shown before it); else the span as planned."""
    if first_frame_s > span.start_s + frame_s + _EPS_S:
        return replace(span, decoded_start_s=round(first_frame_s, 3))
    return span


def sample_indices(frame_starts_s: np.ndarray, span: ChunkSpan, fps: float) -> np.ndarray:
    """Indices of the frames to keep for ``span``, given every frame's PTS (sorted)."""
    idx = np.searchsorted(frame_starts_s, sample_targets_s(span, fps) - _EPS_S, side="left")
    idx = idx[idx < len(frame_starts_s)]
    idx = idx[frame_starts_s[idx] < span.end_s - _EPS_S]
    return np.unique(idx)


Decoded = tuple[float, Callable[[], "np.ndarray | None"]]  # a frame's PTS, and how to get it as RGB


def sample_sequentially(decoded: Iterator[Decoded], span: ChunkSpan, fps: float) -> Sampled:
    """The sampling rule over frames decoded in order (PyAV, OpenCV): converts only the frames it keeps."""
    targets = list(sample_targets_s(span, fps))
    sampled = Sampled([], [])
    for t, rgb in decoded:
        if t >= span.end_s - _EPS_S:
            sampled.next_frame = (t, rgb)  # the first frame of a later span: the reader keeps it
            return sampled
        if t >= targets[0] - _EPS_S and t >= span.start_s - _EPS_S:
            if (frame := rgb()) is not None:
                sampled.frames.append(frame)
                sampled.pts_s.append(t)
            while targets and targets[0] <= t + _EPS_S:
                targets.pop(0)
            if not targets:
                return sampled
    sampled.ended = True
    return sampled


@dataclass
class Sampled:
    frames: list[np.ndarray]
    pts_s: list[float]
    next_frame: Decoded | None = None  # decoded past the span's end
    ended: bool = False  # the file's frames ran out (or stopped decoding) inside the span

    def chunk(self, info: VideoInfo, span: ChunkSpan, last_s: float, warning: str, decoder: str) -> FrameChunk:
        if not self.frames:
            raise DecodeError(info.path, warning or f"no frames in [{span.start_s:.3f}, {span.end_s:.3f}) s")
        span = starting_late(span, self.pts_s[0], _frame_s(info))
        if self.ended:
            span = cut_short(span, last_s, _frame_s(info))
        return FrameChunk(span, np.stack(self.frames), np.asarray(self.pts_s, dtype=np.float64), decoder=decoder)


class DecordReader:
    """decord with the frame index and PTS table read once at open; reads should move forward in time."""

    name = "decord"

    def __init__(self, info: VideoInfo, cfg: DecodeConfig) -> None:
        decord = import_decord()

        self.info, self.cfg, self.warning = info, cfg, ""
        width, height = target_size(info.width, info.height, cfg.max_side)
        try:
            self._vr = decord.VideoReader(
                info.path, ctx=decord.cpu(0), width=width, height=height, num_threads=cfg.threads
            )
            n = len(self._vr)
            # (N, 2) float32 [start, end) seconds from PTS, counted from the video stream's start; an int array,
            # not a slice (decord API)
            self._starts_s = self._vr.get_frame_timestamp(np.arange(n))[:, 0].astype(np.float64) + info.start_s
        except decord.DECORDError as exc:
            raise DecodeError(info.path, f"decord cannot open: {_first_line(exc)}") from None

    def read(self, span: ChunkSpan) -> FrameChunk:
        decord = import_decord()

        idx = sample_indices(self._starts_s, span, self.cfg.fps)
        if len(idx) == 0:
            raise DecodeError(self.info.path, f"no frames in [{span.start_s:.3f}, {span.end_s:.3f}) s")
        try:
            frames = self._vr.get_batch(idx).asnumpy()
        except decord.DECORDError as exc:
            raise DecodeError(
                self.info.path, f"decord failed in [{span.start_s:.1f}, {span.end_s:.1f}) s: {_first_line(exc)}"
            ) from None
        span = starting_late(span, float(self._starts_s[idx[0]]), _frame_s(self.info))
        if span.end_s > self._starts_s[-1] + 1.0 and span.end_s >= self.info.duration_s - 1e-3:
            span = cut_short(span, float(self._starts_s[-1]), _frame_s(self.info))  # the file's frames end early
        return FrameChunk(span, frames, self._starts_s[idx], decoder=self.name)

    def close(self) -> None:
        self._vr = None


class OpenCVReader:
    """Sequential OpenCV (FFmpeg backend) reader: slower to seek, but reads files decord refuses."""

    name = "opencv"

    def __init__(self, info: VideoInfo, cfg: DecodeConfig) -> None:
        self.info, self.cfg, self.warning = info, cfg, ""
        self._size = target_size(info.width, info.height, cfg.max_side)
        self._cap = None
        self._last_pts_s = -math.inf  # PTS of the frame the capture holds (grabbed, maybe not yet used)
        self._ended = False
        self._open()

    def _open(self) -> None:
        import cv2

        self.close()
        cap = cv2.VideoCapture(self.info.path)
        if not cap.isOpened():
            raise DecodeError(self.info.path, "OpenCV cannot open the file")
        self._cap, self._last_pts_s, self._ended = cap, -math.inf, False

    def _grab(self) -> bool:
        import cv2

        if self._ended or not self._cap.grab():
            self._ended = True
            return False
        self._last_pts_s = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 + self.info.start_s
        return True

    def _decoded(self) -> Iterator[Decoded]:
        if self._last_pts_s > -math.inf and not self._ended:  # grabbed by the previous read, not yet looked at
            yield self._last_pts_s, self._retrieve
        while self._grab():
            yield self._last_pts_s, self._retrieve

    def _retrieve(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._cap.retrieve()
        if not ok:
            return None
        return cv2.cvtColor(cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)

    def read(self, span: ChunkSpan) -> FrameChunk:
        if self._last_pts_s >= span.start_s + _EPS_S:
            self._open()  # backwards: start again (sequential reader)
        sampled = sample_sequentially(self._decoded(), span, self.cfg.fps)  # a frame past the end stays grabbed
        if self._ended and span.end_s < self.info.duration_s + _EPS_S and self._last_pts_s < span.end_s - 1.0:
            self.warning = (
                f"stream ends at {max(self._last_pts_s, 0):.1f} s but the container says "
                f"{self.info.duration_s:.1f} s (corrupt or truncated data)"
            )
        return sampled.chunk(self.info, span, self._last_pts_s, self.warning, self.name)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class PyAVReader:
    """PyAV (FFmpeg's libraries) decoding sequentially and converting only the sampled frames.

    On the decode benchmark it needs about half of decord's CPU per sampled frame (decord's threaded decoder
    keeps ~1.7 cores busy per reader), so ``decode.backend: pyav`` is the choice when CPU decode is the limit.
    """

    name = "pyav"

    def __init__(self, info: VideoInfo, cfg: DecodeConfig) -> None:
        import av

        self.info, self.cfg, self.warning = info, cfg, ""
        width, height = target_size(info.width, info.height, cfg.max_side)
        # convert at coded orientation, then rotate to display orientation
        self._size = (height, width) if info.rotation_deg % 180 else (width, height)
        self._turns = (info.rotation_deg // 90) % 4  # np.rot90 turns that put the picture upright
        try:
            self._container = av.open(info.path)
        except (av.FFmpegError, OSError) as exc:
            raise DecodeError(info.path, f"PyAV cannot open: {exc}") from None
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "SLICE" if cfg.threads == 1 else "AUTO"
        self._frames = None  # decoding iterator, positioned after self._last_s
        self._last_s = math.inf
        self._held: Decoded | None = None  # a decoded frame past the previous span's end

    def _seek(self, t_s: float) -> None:
        self._container.seek(int(t_s / self._stream.time_base), stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._held, self._last_s = None, -math.inf

    def _next(self):
        import av

        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except av.FFmpegError as exc:
            self.warning = f"decoding stopped at {max(self._last_s, 0):.1f} s: {exc} (corrupt or truncated data)"
            return None
        self._last_s = float(frame.time)
        return frame

    def _decoded(self) -> Iterator[Decoded]:
        if self._held is not None:
            held, self._held = self._held, None
            yield held
        while (frame := self._next()) is not None:
            yield float(frame.time), partial(self._rgb, frame)

    def _rgb(self, frame) -> np.ndarray:
        rgb = frame.to_ndarray(width=self._size[0], height=self._size[1], format="rgb24")
        return np.ascontiguousarray(np.rot90(rgb, self._turns)) if self._turns else rgb

    def read(self, span: ChunkSpan) -> FrameChunk:
        if (
            self._frames is None
            or self._last_s >= span.start_s
            or (self._held is None and self._last_s < span.start_s - 10)
        ):
            self._seek(span.start_s)  # backwards, first read, or far ahead: jump to the keyframe before the span
        sampled = sample_sequentially(self._decoded(), span, self.cfg.fps)
        self._held = sampled.next_frame
        return sampled.chunk(self.info, span, self._last_s, self.warning, self.name)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class FallbackReader:
    """The configured reader first; when it fails (open or read) the rest of the file is read with OpenCV."""

    def __init__(self, info: VideoInfo, cfg: DecodeConfig) -> None:
        self.info, self.cfg = info, cfg
        self._first_error = ""
        self._reader: ChunkReader | None = None
        try:
            self._reader = READERS[cfg.backend](info, cfg)
        except DecodeError as exc:
            self._switch_to_opencv(exc)

    @property
    def name(self) -> str:
        return self._reader.name

    @property
    def warning(self) -> str:
        if self._reader.warning and self._first_error:
            return f"{self._reader.warning}; {self._first_error}"
        return self._reader.warning

    def _switch_to_opencv(self, exc: DecodeError) -> None:
        log.warning("%s; falling back to OpenCV", exc)
        if self._reader is not None:
            self._reader.close()
        self._first_error = exc.reason
        self._reader = OpenCVReader(self.info, self.cfg)

    def read(self, span: ChunkSpan) -> FrameChunk:
        try:
            return self._reader.read(span)
        except DecodeError as exc:
            if self._reader.name == "opencv":
                raise
            self._switch_to_opencv(exc)
            return self._reader.read(span)

    def close(self) -> None:
        self._reader.close()


READERS = {"decord": DecordReader, "pyav": PyAVReader, "opencv": OpenCVReader}


class StagedReader:
    """A video on object storage, copied to local scratch on open and deleted on close; errors name the URL."""

    def __init__(self, info: VideoInfo, cfg: DecodeConfig, backend: str | None) -> None:
        from pipeline.storage import stage_local

        self.url = info.path
        self._local = stage_local(info.path, cfg.scratch_dir)
        try:
            self._reader = _local_reader(replace(info, path=str(self._local)), cfg, backend)
        except DecodeError as exc:
            self.close()
            raise DecodeError(self.url, exc.reason) from None

    name = property(lambda self: self._reader.name)
    warning = property(lambda self: self._reader.warning)

    def read(self, span: ChunkSpan) -> FrameChunk:
        try:
            return self._reader.read(span)
        except DecodeError as exc:
            raise DecodeError(self.url, exc.reason) from None

    def close(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self._reader.close()
        self._local.unlink(missing_ok=True)


def _local_reader(info: VideoInfo, cfg: DecodeConfig, backend: str | None) -> ChunkReader:
    return OpenCVReader(info, cfg) if backend == "opencv" else FallbackReader(info, cfg)


def open_reader(info: VideoInfo, cfg: DecodeConfig, backend: str | None = None) -> ChunkReader:
    """The configured reader with its OpenCV fallback (``backend="opencv"``: OpenCV only); remote videos staged."""
    from pipeline.storage import is_url

    if is_url(info.path):
        return StagedReader(info, cfg, backend)
    return _local_reader(info, cfg, backend)


def _frame_s(info: VideoInfo) -> float:
    """How long one frame shows, from the average rate (a guess of 1/25 s when the file states none)."""
    return 1.0 / info.avg_fps if info.avg_fps > 0 else 0.04


def _first_line(exc: BaseException) -> str:
    """decord's messages carry '[hh:mm:ss] /src/file.cc:123: ' prefixes; keep the last, readable part."""
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", str(exc)).strip().splitlines()
    return text[-1].rsplit(": ", 1)[-1][-200:] if text else exc.__class__.__name__

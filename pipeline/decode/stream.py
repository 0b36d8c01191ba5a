"""Frames from a source that does not end: a network stream (RTSP, RTMP, HTTP(S), UDP, HLS; FFmpeg through
PyAV), a camera device (``/dev/video0``), or a file still being written (FFmpeg's ``follow``).

Each sampled frame carries a UTC time: the stream's PTS mapped to the wall clock, anchored on the frame that
arrived earliest relative to its PTS, so a live time is never later than the frame's arrival. A growing file is
read from its start at real-time pace, its first frame mapped to when the watch opened it; the mapping is kept
across re-opens, which seek back to where reading stopped. Times only move forward: a
frame at or before the last one given is dropped, so a reconnect that replays data never duplicates it. A drop
becomes a ``StreamGap`` (from the last frame before it to the first frame after) and a reconnect with
exponential backoff.

Listening (``listen``: speech on), the first audio stream is decoded too, as 16 kHz mono ``StreamAudio`` pieces on
the frames' UTC clock (the same PTS anchor), each once; at every connect a ``StreamAudioNote`` says why there is
no audio ("" when there is), so a silent transcript can say so.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import DecodeConfig, LiveConfig
from pipeline.decode.audio import NO_AUDIO, SAMPLE_RATE, first_audio_stream, resampled, speech_resampler, why
from pipeline.decode.readers import target_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamFrame:
    utc_s: float
    rgb: np.ndarray  # (H, W, 3) uint8, upright, longest side <= decode.max_side


@dataclass(frozen=True)
class StreamDrop:
    """Given as soon as the source drops, so the chunk being filled can be committed without waiting."""

    at_s: float
    reason: str


@dataclass(frozen=True)
class StreamAudio:
    utc_s: float  # UTC of samples[0]
    samples: np.ndarray  # (n,) float32, 16 kHz mono (pipeline.decode.audio.SAMPLE_RATE)

    @property
    def end_s(self) -> float:
        return self.utc_s + len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class StreamAudioNote:
    reason: str  # why the source gives no audio now ("" when it does)


@dataclass(frozen=True)
class StreamGap:
    start_s: float  # UTC one sample period after the last frame before the drop (or of the failed first connect)
    end_s: float  # UTC of the first frame after it
    reason: str


def source_kind(source: str) -> str:
    """'device', 'file' (local, maybe growing) or 'network'."""
    if source.startswith("/dev/"):
        return "device"
    if source.endswith(".m3u8"):
        return "network"  # an HLS playlist, even on disk: FFmpeg's HLS demuxer reloads it as it grows
    if "://" not in source or source.startswith("file:"):
        return "file"
    return "network"


class StreamReader:
    def __init__(
        self, source: str, decode: DecodeConfig, live: LiveConfig, stop: threading.Event, listen: bool = False
    ) -> None:
        self.source, self.decode, self.live, self.stop, self.listen = source, decode, live, stop, listen
        self.kind = source_kind(source)
        self.connects = 0
        self._anchor: tuple[float, float] | None = None  # (wall-clock UTC, PTS) of the clock-setting frame
        self._last_utc: float | None = None
        self._last_pts: float | None = None
        self._heard_to = -math.inf  # UTC end of the last audio given: a replay after a reconnect is not given again

    def _open(self):
        import av  # lazy: FFmpeg

        timeout = self.live.read_timeout_s
        if self.kind == "device":
            return av.open(self.source, format="v4l2", timeout=timeout)
        if self.kind == "file":
            path = self.source.removeprefix("file:")
            if not Path(path).exists():
                raise FileNotFoundError(f"{path}: file not found")
            # follow: at the end of the file, wait for more bytes; the read timeout ends the wait
            return av.open(path, options={"follow": "1"}, timeout=timeout)
        options = {"rtsp_transport": "tcp"} if self.source.startswith("rtsp") else {}
        return av.open(self.source, options=options, timeout=timeout)

    def frames(self) -> Iterator[StreamFrame | StreamDrop | StreamGap | StreamAudio | StreamAudioNote]:
        """Sampled frames (listening: and audio, and notes) until ``stop`` is set; a ``StreamDrop`` when the source
        drops and a ``StreamGap`` once it is back (or the watch stops while it is away)."""
        backoff = self.live.reconnect_min_s
        gap_reason = ""
        gap_start = time.time()
        step = 1.0 / self.decode.fps
        hole_s = max(2.0, 2.5 * step)  # consecutive samples further apart than this leave a gap
        previous: float | None = None
        while not self.stop.is_set():
            container = None
            try:
                container = self._open()
                self.connects += 1
                for frame in self._decode(container):
                    if not isinstance(frame, StreamFrame):  # audio, or why there is none
                        yield frame
                        continue
                    if gap_reason:
                        yield StreamGap(gap_start, frame.utc_s, gap_reason)
                        gap_reason = ""
                    elif previous is not None and frame.utc_s - previous > hole_s:
                        # frames stopped and came back without a reconnect (a UDP sender restarting, lost
                        # packets): the same gap, and the chunk before it is committed first
                        start = previous + step
                        hole = f"no frames for {frame.utc_s - start:.1f} s"
                        yield StreamDrop(start, hole)
                        yield StreamGap(start, frame.utc_s, hole)
                    previous = frame.utc_s
                    backoff = self.live.reconnect_min_s
                    yield frame
                reason = "stream ended"
            except Exception as exc:  # any FFmpeg/OS error is a drop: record it and reconnect
                timed_out = exc.__class__.__name__ == "ExitError"  # PyAV's read timeout interrupts FFmpeg
                reason = (
                    f"no data for {self.live.read_timeout_s:.0f} s" if timed_out else f"{exc.__class__.__name__}: {exc}"
                )
                reason = reason[:300]
            finally:
                if container is not None:
                    container.close()
            if self.stop.is_set():
                break
            if not gap_reason:
                gap_reason = reason
                # the last frame stands for one sample period; the gap starts after it
                gap_start = self._last_utc + 1.0 / self.decode.fps if self._last_utc is not None else time.time()
                yield StreamDrop(gap_start, reason)
            log.warning("%s: %s; reconnecting in %.1f s", self.source, reason, backoff)
            self.stop.wait(backoff)
            backoff = min(backoff * 2, self.live.reconnect_max_s)
        if gap_reason:
            yield StreamGap(gap_start, time.time(), f"{gap_reason} (still away when the watch stopped)")

    def _decode(self, container) -> Iterator[StreamFrame | StreamAudio | StreamAudioNote]:
        stream = container.streams.video[0]
        if self.kind == "file" and self._last_pts is not None:
            container.seek(int(self._last_pts / stream.time_base), stream=stream, backward=True)
        if self.kind != "file":
            self._anchor = None  # a new connection is a new stream clock
        audio = None
        if self.listen:
            audio, why_not = first_audio_stream(container)
            yield StreamAudioNote("the source has no audio stream" if why_not == NO_AUDIO else why_not)
        resampler = speech_resampler() if audio is not None else None
        for packet in container.demux(*[s for s in (stream, audio) if s is not None]):
            if self.stop.is_set():
                return
            if packet.stream is audio:
                yield from self._hear(packet, resampler)
            else:
                yield from self._frames(packet)

    def _frames(self, packet) -> Iterator[StreamFrame]:
        step, time_base = 1.0 / self.decode.fps, packet.stream.time_base
        for frame in packet.decode():
            if frame.pts is None:
                continue
            pts = float(frame.pts * time_base)
            now = time.time()
            if self.kind != "file" and self._last_pts is not None and pts < self._last_pts - 1.0:
                self._anchor = None  # the stream clock went back (a restarted sender, a PTS wrap): a new clock
            if self._anchor is None or (self.kind != "file" and now - pts < self._anchor[0] - self._anchor[1]):
                # a live frame cannot have happened after it arrived: the earliest-arriving frame (relative to its
                # PTS) sets the clock, so buffered bursts at connect do not push times ahead of the wall clock
                self._anchor = (now, pts)
            utc = self._anchor[0] + (pts - self._anchor[1])
            if self.kind == "file" and utc > now:
                self.stop.wait(utc - now)  # a file is played at real-time pace: its times never run ahead
            if self._last_utc is not None and utc < self._last_utc + step - 1e-3:
                continue  # already given (a replay after reconnect), or between samples
            self._last_utc, self._last_pts = utc, pts
            yield StreamFrame(utc, self._rgb(frame))

    def _hear(self, packet, resampler) -> Iterator[StreamAudio | StreamAudioNote]:
        """A packet's audio on the frames' clock (none before the first frame sets it), each moment once; a
        damaged packet is skipped, and said."""
        import av

        if self._anchor is None:
            return
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as exc:
            yield StreamAudioNote(f"its audio cannot be decoded ({why(exc)})")
            return
        for frame in frames:
            if frame.pts is None:
                continue
            utc = self._anchor[0] + (float(frame.pts * frame.time_base) - self._anchor[1])
            samples = resampled(resampler, frame)
            end = utc + len(samples) / SAMPLE_RATE
            if end <= self._heard_to:
                continue  # already given (a replay after reconnect)
            if utc < self._heard_to:
                samples = samples[int(round((self._heard_to - utc) * SAMPLE_RATE)) :]
                utc = self._heard_to
            if len(samples):
                self._heard_to = end
                yield StreamAudio(utc, samples)

    def _rgb(self, frame) -> np.ndarray:
        turns = (int(getattr(frame, "rotation", 0) or 0) // 90) % 4
        width, height = target_size(frame.width, frame.height, self.decode.max_side)
        rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

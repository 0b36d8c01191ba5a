"""A stretch of a file's audio on the file's own clock: PyAV decodes the first audio stream from a seek before the
stretch, resamples it to 16 kHz mono float32 (what speech models take: any layout, 8 kHz to 96 kHz, 5.1), and
places the samples by the stream's PTS. An audio stream that starts 1.5 s after the video puts its speech 1.5 s
later; one that ends early gives a shorter clip (or none).

read_audio(path, start_s, end_s) -> AudioClip | None     None: the file has no audio stream; an empty clip:
                                                          its audio has ended (or not begun) by then
                                                          AudioError(reason): the audio cannot be decoded

Damaged packets are skipped (their time stays silent); the stretch fails only when nothing in it decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
SEEK_BACK_S = 1.0  # decoded before the stretch: a seek lands on a packet boundary at or before the time asked


class AudioError(RuntimeError):
    """The file's audio cannot be decoded in this stretch; ``reason`` says why, in one line."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass(frozen=True)
class AudioClip:
    samples: np.ndarray  # (n,) float32 in [-1, 1], SAMPLE_RATE per second
    start_s: float  # the file-clock time of samples[0]

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / SAMPLE_RATE


def read_audio(path: str, start_s: float, end_s: float) -> AudioClip | None:
    """The audio of ``[start_s, end_s)`` (see the module's docstring)."""
    import av

    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as exc:
        raise AudioError(path, f"cannot be opened for its audio ({why(exc)})") from None
    try:
        stream, why_not = first_audio_stream(container)
        if stream is None:
            if why_not == NO_AUDIO:
                return None
            raise AudioError(path, why_not)
        container = _seek(container, path, max(0.0, start_s - SEEK_BACK_S))
        first_s, parts, failures, last_error = _decode(container, container.streams.audio[0], start_s, end_s)
    finally:
        container.close()
    if first_s is None:
        if failures:
            raise AudioError(path, f"its audio cannot be decoded ({why(last_error)})")
        return AudioClip(np.zeros(0, np.float32), start_s)  # the audio stream ends before the stretch
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    skip = max(0, int(round((start_s - first_s) * SAMPLE_RATE)))
    keep = max(0, int(round((end_s - max(first_s, start_s)) * SAMPLE_RATE)))
    return AudioClip(np.clip(samples[skip : skip + keep], -1.0, 1.0), round(max(first_s, start_s), 6))


NO_AUDIO = "no audio stream"


def first_audio_stream(container):
    """(the container's first audio stream, ""), or (None, why there is none that decodes: ``NO_AUDIO``, or its
    codec is not one FFmpeg here decodes)."""
    if not container.streams.audio:
        return None, NO_AUDIO
    if container.streams.audio[0].codec_context is None:
        return None, "its audio codec cannot be decoded here"
    return container.streams.audio[0], ""


def _seek(container, path: str, seek_s: float):
    """The container at the packet boundary before ``seek_s``; a file that cannot seek (no index) is opened
    again and read from its start (what comes before is skipped while decoding)."""
    import av

    if seek_s <= 0:
        return container
    stream = container.streams.audio[0]
    try:
        container.seek(int(seek_s / float(stream.time_base)), stream=stream, backward=True, any_frame=False)
        return container
    except av.FFmpegError:
        container.close()
        return av.open(path)


def _decode(container, stream, start_s: float, end_s: float):
    """(time of the first sample, 16 kHz mono float32 parts, failed packets, the last failure)."""
    import av

    resampler = speech_resampler()
    base, parts, held = float(stream.time_base), [], 0
    first_s, failures, last_error = None, 0, None
    for packet in _packets(container, stream):
        if isinstance(packet, Exception):  # the container itself stopped reading
            failures, last_error = failures + 1, packet
            break
        if packet.pts is not None and packet.pts * base >= end_s:
            break
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as exc:
            failures, last_error = failures + 1, exc
            continue
        for frame in frames:
            if frame.pts is None or (frame.pts * frame.time_base) + 1.0 < start_s - SEEK_BACK_S:
                continue  # read from a file's start: long before the stretch
            at_s = float(frame.pts * frame.time_base)
            first_s = at_s if first_s is None else first_s
            if at_s - (first_s + held / SAMPLE_RATE) > 0.05:  # a gap (skipped packets, a discontinuity): silence
                parts.append(np.zeros(int(round((at_s - first_s) * SAMPLE_RATE)) - held, np.float32))
                held += len(parts[-1])
            parts.append(resampled(resampler, frame))
            held += len(parts[-1])
    if first_s is not None:
        parts.append(resampled(resampler, None))
    return first_s, parts, failures, last_error


def speech_resampler():
    """A resampler to what speech models take (16 kHz mono float32), from any layout and rate."""
    import av

    return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)


def resampled(resampler, frame) -> np.ndarray:
    """``frame``'s samples through ``resampler`` (``frame`` None: what it still holds)."""
    outs = resampler.resample(frame)
    if not outs:
        return np.zeros(0, np.float32)
    return np.concatenate([out.to_ndarray()[0].astype(np.float32, copy=False) for out in outs])


def _packets(container, stream):
    """The stream's packets; an error of the container ends them, given as the last item."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            yield next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            yield exc
            return


def why(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else exc.__class__.__name__

"""Cheap container probe with PyAV: duration, display size (rotation applied), codec.

decord scans every packet on open, so the probe uses PyAV's header read, and a packet scan (no decoding)
only when the container states no duration (e.g. some WebM files). Object-storage URLs are probed through range
reads, without downloading the video.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.decode.errors import DecodeError
from pipeline.storage import is_url, open_remote, remote_info
from pipeline.types import VideoInfo


def _duration_from_packets(container, stream) -> float:
    end = 0
    for packet in container.demux(stream):
        if packet.pts is not None:
            end = max(end, packet.pts + (packet.duration or 0))
    start = stream.start_time or 0
    return float((end - start) * stream.time_base)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Raises ``DecodeError`` naming the file when it is missing, empty, or has no decodable video stream."""
    import av  # lazy: PyAV loads FFmpeg

    path = str(path)
    if is_url(path):
        remote_info(path)  # missing / empty objects fail here with the URL named
        source = open_remote(path)  # range reads: only the header (and the first frame) is fetched
    else:
        p = Path(path)
        if not p.exists():
            raise DecodeError(path, "file not found")
        if p.is_dir():
            raise DecodeError(path, "is a directory")
        if p.stat().st_size == 0:
            raise DecodeError(path, "empty file (0 bytes)")
        source = path
    try:
        container = av.open(source)
    except (av.FFmpegError, OSError) as exc:
        raise DecodeError(path, f"not a readable video container ({exc.__class__.__name__}: {exc})") from None
    with container:
        if not container.streams.video:
            raise DecodeError(path, "no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.name is None or ctx.width == 0:
            raise DecodeError(path, f"unsupported video codec ({stream.codec_context.name or 'unknown'})")
        rotation = 0
        try:
            frame = next(container.decode(stream))
            rotation = int(getattr(frame, "rotation", 0) or 0)
        except (StopIteration, av.FFmpegError) as exc:
            raise DecodeError(path, f"no decodable frame ({exc.__class__.__name__}: {exc})") from None
        if stream.duration:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        else:
            container.seek(0)
            duration_s = _duration_from_packets(container, stream)
        width, height = ctx.width, ctx.height
        if rotation % 180:
            width, height = height, width
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if duration_s <= 0:
            raise DecodeError(path, "video has no duration and no timed packets")
        return VideoInfo(path, duration_s, width, height, rotation, fps, ctx.name)

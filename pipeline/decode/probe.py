"""Cheap container probe with PyAV: duration, display size (rotation applied), codec.

decord scans every packet on open, so the probe uses PyAV's header read, and a packet scan (no decoding)
only when the container states no duration (e.g. some WebM files). Object-storage URLs are probed through range
reads, without downloading the video.
"""

from __future__ import annotations

import errno
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


IMAGE_FORMATS = ("image2", "gif", "webp", "apng")  # and FFmpeg's "<codec>_pipe" image readers


def _check_file(p: Path) -> None:
    """A named local file that cannot be a video: say why in the words a user would look for."""
    try:
        st = p.stat()
    except FileNotFoundError:
        why = f"a broken symlink (to {os.readlink(p)})" if p.is_symlink() else "file not found"
        raise DecodeError(str(p), why) from None
    except OSError as exc:  # a symlink loop, no permission
        why = exc.strerror or exc.__class__.__name__
        raise DecodeError(str(p), f"a symlink loop ({why})" if exc.errno == errno.ELOOP else why) from None
    if p.is_dir():
        raise DecodeError(str(p), "is a directory")
    if st.st_size == 0:
        raise DecodeError(str(p), "empty file (0 bytes)")


def _is_still_image(format_name: str, frames) -> bool:
    """An image format with a single frame (a PNG, a JPEG, a one-frame GIF): one picture is not footage."""
    names = format_name.split(",")
    if not any(n in IMAGE_FORMATS or n.endswith("_pipe") for n in names):
        return False
    import av

    try:
        next(frames)
        return False
    except (StopIteration, av.FFmpegError):  # a second frame that does not decode: the picture is all there is
        return True


def probe(path: str | os.PathLike) -> VideoInfo:
    """Raises ``DecodeError`` naming the file when it is missing, empty, or has no decodable video stream."""
    import av  # lazy: PyAV loads FFmpeg

    path = str(path)
    if is_url(path):
        remote_info(path)  # missing / empty objects fail here with the URL named
        source = open_remote(path)  # range reads: only the header (and the first frame) is fetched
    else:
        _check_file(Path(path))
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
            frames = container.decode(stream)
            frame = next(frames)
            rotation = int(getattr(frame, "rotation", 0) or 0)
        except (StopIteration, av.FFmpegError) as exc:
            raise DecodeError(path, f"no decodable frame ({exc.__class__.__name__}: {exc})") from None
        if _is_still_image(container.format.name, frames):
            raise DecodeError(path, f"a still image ({ctx.name}), not a video")
        # times are PTS as they are (ffprobe, browsers); decord and OpenCV count from the video stream's start
        start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if stream.duration:
            duration_s = start_s + float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = ((container.start_time or 0) + container.duration) / av.time_base
        else:
            container.seek(0)
            duration_s = start_s + _duration_from_packets(container, stream)
        width, height = ctx.width, ctx.height
        if rotation % 180:
            width, height = height, width
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if duration_s <= 0:
            raise DecodeError(path, "video has no duration and no timed packets")
        return VideoInfo(path, duration_s, width, height, rotation, fps, ctx.name, round(start_s, 6))

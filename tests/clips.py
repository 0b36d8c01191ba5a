"""Small clips made on the spot with PyAV (no ffmpeg CLI), for cases the shared media do not cover."""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np


def write_late_video(path: Path, video_start_s: float = 1.075, seconds: float = 4.0, fps: int = 25) -> Path:
    """A WebM (VP8 + Opus, plays in any Chromium) whose audio starts at 0 and whose video starts at
    ``video_start_s``, as in PySceneDetect's delayed_start.mp4. Frame i is a flat grey of level 7 * i % 255."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libvpx", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        for start in range(0, int((seconds + video_start_s) * 48000), 960):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, fractions.Fraction(1, 48000)
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 7 * i % 255, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round((video_start_s + i / fps) * 1000), fractions.Fraction(1, 1000)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path


def write_images(folder: Path) -> dict[str, Path]:
    """A PNG, a JPEG and a one-frame GIF (still pictures), and an animated GIF of 10 frames (footage)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, codec, frames in (
        ("still.png", "png", 1),
        ("still.jpg", "mjpeg", 1),
        ("one.gif", "gif", 1),
        ("animated.gif", "gif", 10),
    ):
        path = folder / name
        with av.open(str(path), "w", format="gif" if name.endswith(".gif") else "image2") as container:
            stream = container.add_stream(codec, rate=5)
            stream.width, stream.height = 64, 48
            stream.pix_fmt = {"png": "rgb24", "mjpeg": "yuvj420p", "gif": "rgb8"}[codec]
            for i in range(frames):
                image = np.full((48, 64, 3), 20 * i, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        made[name] = path
    return made

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


def write_fixed_camera(
    path: Path, source: str, plan: list[tuple], size: tuple[int, int] = (384, 216), fps: int = 10, noise: float = 2.0
) -> Path:
    """A fixed camera's footage made of a real one (``source``, e.g. one-by-one-person-detection.mp4), as H.264:
    ``plan`` is a list of ``("hold", seconds)`` (the source's first frame, held, with Gaussian sensor noise of
    ``noise`` grey levels redrawn every frame) and ``("clip", start_s, end_s)`` (the source's own frames, from
    its clock). A still scene with activity inserted at known seconds."""
    import av

    width, height = size
    with av.open(source) as src:
        frames = [
            (float(f.time), f.to_ndarray(width=width, height=height, format="rgb24")) for f in src.decode(video=0)
        ]
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "23", "g": str(5 * fps)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

        def put(rgb: np.ndarray) -> None:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)

        for step in plan:
            if step[0] == "hold":
                for _ in range(round(step[1] * fps)):
                    put(np.clip(frames[0][1] + rng.normal(0, noise, frames[0][1].shape), 0, 255).astype(np.uint8))
            else:
                picked = [rgb for t, rgb in frames if step[1] <= t < step[2]]
                for i in range(round((step[2] - step[1]) * fps)):  # the source's rate resampled to fps
                    put(picked[min(len(picked) - 1, i * len(picked) // round((step[2] - step[1]) * fps))])
        for packet in stream.encode():
            container.mux(packet)
    return path

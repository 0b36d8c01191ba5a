"""Write a short synthetic test clip with PyAV (no ffmpeg CLI needed): moving coloured shapes, 30 s, 25 fps.

python scripts/make_sample_clip.py OUT.mp4 [--seconds 30]
"""

from __future__ import annotations

import argparse

import av
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    width, height, fps = 320, 240, 25
    with av.open(args.out, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(args.seconds * fps)):
            t = i / fps
            img = np.zeros((height, width, 3), np.uint8)
            img[:] = (20, 60, 20) if t < args.seconds / 2 else (20, 20, 80)  # the scene changes half-way
            x = int((t * 40) % (width - 60))
            img[100:160, x : x + 60] = (220, 30, 30)  # a red box crossing the frame
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


if __name__ == "__main__":
    main()

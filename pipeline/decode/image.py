"""Still images for image queries (`vidseek search --image`, ``POST /search/image``): untrusted bytes decoded with
bounds (file size, pixel count: a small file may declare a huge picture) into RGB, or a ValueError naming the file
and the reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGE_PIXELS = 40_000_000


def decode_image(data: bytes, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from JPEG, PNG, WebP, BMP, GIF (its first frame) ... bytes."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes, more than an image query may have ({MAX_IMAGE_BYTES})")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{name}: {width}x{height} pixels, more than {MAX_IMAGE_PIXELS}")
            return np.array(image.convert("RGB"), dtype=np.uint8)  # a copy: writable, as torch wants
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name}: not an image that can be read ({exc.__class__.__name__})") from None


def read_image(path: Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than an image query may have ({MAX_IMAGE_BYTES})")
    return decode_image(path.read_bytes(), str(path))

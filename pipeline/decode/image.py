"""Still images for image queries (`vidseek search --image`, ``POST /search/image``): untrusted bytes decoded with
bounds (file size, pixel count: a small file may declare a huge picture) into RGB, or a ValueError naming the file
and the reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGE_PIXELS = 40_000_000
MIN_IMAGE_SIDE = 8  # smaller is no picture to search by (and a model's processor cannot tell its layout)
KEPT_SIDE = 1024  # decoded pictures are scaled down to this: image-text models see 224-512 px


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the header alone, within the bounds; a ValueError naming ``name`` and the reason."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes, more than an image query may have ({MAX_IMAGE_BYTES})")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name}: not an image that can be read ({exc.__class__.__name__})") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{name}: {width}x{height} pixels, more than {MAX_IMAGE_PIXELS}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValueError(f"{name}: {width}x{height} pixels, less than {MIN_IMAGE_SIDE} on a side")
    return width, height


def decode_image(data: bytes, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from JPEG, PNG, WebP, BMP, GIF (its first frame) ... bytes, at most ``KEPT_SIDE`` on
    its longer side."""
    from PIL import Image, UnidentifiedImageError

    image_size(data, name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (KEPT_SIDE, KEPT_SIDE))  # a JPEG decodes at a fraction of its size (others ignore it)
            picture = image.convert("RGB")
        picture.thumbnail((KEPT_SIDE, KEPT_SIDE))
        return np.array(picture, dtype=np.uint8)  # a copy: writable, as torch wants
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name}: not an image that can be read ({exc.__class__.__name__})") from None


def read_image(path: Path) -> np.ndarray:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not an image file (give one picture to search by)")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than an image query may have ({MAX_IMAGE_BYTES})")
    return decode_image(path.read_bytes(), str(path))

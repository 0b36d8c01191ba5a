"""Find the video files a user named, and give each a content id (a hash of its bytes, cached by size+mtime)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

VIDEO_SUFFIXES = {
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".flv",
    ".wmv",
    ".3gp",
    ".ogv",
    ".mxf",
}


def discover(paths: list[str]) -> list[str]:
    """Files as named (even non-videos: they fail with a reason later) and every video file under folders."""
    found: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        else:
            found.append(str(p))
    return list(dict.fromkeys(found))  # de-duplicated, order kept


def content_id(path: str, block_bytes: int = 1 << 20) -> str:
    """blake2b of the whole file (32 hex chars): the same bytes anywhere give the same id."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns

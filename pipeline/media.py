"""Find the video files a user named (local paths or object-storage URLs), and give each a content id: a hash of
its bytes, cached by size+mtime, or the store's own checksum for objects."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipeline.storage import discover_url, is_url, remote_content_id, remote_info

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
    """Files as named (even non-videos: they fail with a reason later) and every video file under folders.
    Local paths are made absolute, so the catalog's paths still work from another folder (``vidseek serve``)."""
    found: list[str] = []
    for raw in paths:
        if is_url(raw):
            found.extend(discover_url(raw, VIDEO_SUFFIXES))
            continue
        if raw.startswith("file://"):
            raw = unquote(urlparse(raw).path)
        p = Path(os.path.abspath(raw))  # not resolve(): a symlink stays the name the user gave
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


def identify(path: str, catalog=None, remember: bool = False) -> tuple[str, int]:
    """(content id, size in bytes). A local file is hashed once per size+mtime (cached in ``catalog``, written
    there when ``remember``); an object on storage is identified by its checksum without downloading it."""
    if is_url(path):
        info = remote_info(path)
        return remote_content_id(info), int(info["size"])
    size, mtime_ns = file_stamp(path)
    video_id = catalog.cached_video_id(path, size, mtime_ns) if catalog else None
    if video_id is None:
        video_id = content_id(path)
        if catalog and remember:
            catalog.remember_video_id(path, size, mtime_ns, video_id)
    return video_id, size

"""Find the video files a user named (local paths or object-storage URLs), and give each a content id: a hash of
its bytes, cached by size+mtime, or the store's own checksum for objects."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
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
    ".gif",  # animated: footage; a one-frame GIF is refused by the probe as a still image
}


@dataclass
class Discovery:
    """The files to ingest, and what was passed over with why (a folder's other files, loops, files outside the
    media roots, a folder without videos)."""

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): nothing is wrong with the rest
    empty: list[tuple[str, str]] = field(default_factory=list)  # (folder, why): named, yet holds no video


def discover(paths: list[str], roots: list[Path] | None = None) -> Discovery:
    """Files as named (even non-videos: they fail with a reason later) and the video files under folders, by
    name (``VIDEO_SUFFIXES``); symlinked folders are followed once. Local paths are made absolute, so the
    catalog's paths still work from another folder (``vidseek serve``). With ``roots``, each file is resolved
    (symlinks followed) and kept, as its real path, only when it lies under one of them."""
    found = Discovery()
    for raw in paths:
        if is_url(raw):
            found.files.extend(discover_url(raw, VIDEO_SUFFIXES))
            continue
        if raw.startswith("file://"):
            raw = unquote(urlparse(raw).path)
        p = Path(os.path.abspath(raw))  # not resolve(): a symlink stays the name the user gave
        if p.is_dir():
            _walk(p, found)
        else:
            found.files.append(str(p))
    found.files = list(dict.fromkeys(found.files))  # de-duplicated, order kept
    if roots is not None:
        _confine(found, roots)
    return found


def _walk(folder: Path, found: Discovery) -> None:
    videos, others, seen = [], Counter(), set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink back into the tree: walked already
            found.skipped.append((dirpath, f"a symlink loop (to {real}), not followed again"))
            dirnames[:] = []
            continue
        seen.add(real)
        for name in filenames:
            path = os.path.join(dirpath, name)
            suffix = Path(name).suffix.lower()
            if suffix not in VIDEO_SUFFIXES:
                others[suffix or "no suffix"] += 1
            elif not os.path.exists(path):
                found.skipped.append((path, "a broken symlink or a symlink loop"))
            else:
                videos.append(path)
    found.files.extend(sorted(videos))
    kinds = ", ".join(f"{suffix} x{n}" for suffix, n in sorted(others.items()))
    not_videos = f"{sum(others.values())} files that are not videos by their name ({kinds})"
    if not videos:
        found.empty.append((str(folder), "no video files here" + (f"; {not_videos}" if others else "")))
    elif others:
        found.skipped.append((str(folder), not_videos))


def _confine(found: Discovery, roots: list[Path]) -> None:
    kept = []
    for path in found.files:
        real = Path(path).resolve()
        if any(real.is_relative_to(root) for root in roots):
            kept.append(str(real))
        else:
            found.skipped.append((path, f"outside the media roots (it leads to {real})"))
    found.files = list(dict.fromkeys(kept))


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

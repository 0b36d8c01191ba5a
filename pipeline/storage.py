"""Videos on object storage (``s3://``, ``gs://``, any fsspec URL): list them, identify them from the store's own
checksum, and copy one to local scratch for decoding (streamed in blocks, never whole in memory).

Decoders need a seekable local file (decord and OpenCV take paths only), so a remote video is staged once per
decode worker and deleted when the worker moves on. The matching filesystem package (``s3fs``, ``gcsfs``) must be
installed; fsspec names it when it is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

COPY_BLOCK_BYTES = 8 << 20


def default_cache_dir() -> Path:
    """Where vidseek keeps what it builds or mirrors locally (the tiny model, object-storage index copies)."""
    return Path(os.environ.get("VIDSEEK_CACHE", Path.home() / ".cache" / "vidseek"))


def is_url(path: str) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def filesystem(url: str):
    """(fsspec filesystem, path inside it); import errors name the package to install."""
    import fsspec  # lazy: only remote inputs need it

    return fsspec.core.url_to_fs(url)


def discover_url(url: str, suffixes: set[str]) -> list[str]:
    """A URL to one object as given; a prefix ("folder") to every video object under it, as full URLs."""
    fs, path = filesystem(url)
    if not fs.isdir(path):
        return [url]
    found = sorted(p for p in fs.find(path) if Path(p).suffix.lower() in suffixes)
    return [fs.unstrip_protocol(p) for p in found]


def remote_info(url: str) -> dict:
    """The store's metadata for one object; a missing one is a ``DecodeError`` naming the URL."""
    from pipeline.decode.errors import DecodeError  # here: pipeline.decode imports this module

    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise DecodeError(url, "file not found") from None
    if info.get("type") == "directory":
        raise DecodeError(url, "is a directory")
    if not info.get("size"):
        raise DecodeError(url, "empty file (0 bytes)")
    return info


def remote_content_id(info: dict) -> str:
    """Identity from the store's checksum (S3 ETag, GCS md5/crc32c) and size, given ``remote_info``: the object is
    not downloaded, and rewriting it with new bytes gives a new id. Falls back to the modification time when a
    store has no checksum."""
    checksum = next((str(info[k]) for k in ("ETag", "etag", "md5Hash", "crc32c", "checksum") if info.get(k)), None)
    if checksum is None:
        checksum = f"mtime:{info.get('LastModified') or info.get('mtime') or info.get('updated')}"
    return hashlib.blake2b(f"{info['size']}:{checksum}".encode(), digest_size=16).hexdigest()


def open_remote(url: str):
    """A seekable binary file object over the object (range reads), for header probes."""
    fs, path = filesystem(url)
    return fs.open(path, "rb")


def stage_local(url: str, scratch_dir: str | None = None) -> Path:
    """Copy the object to a private file under ``scratch_dir`` (default: the system temp dir); caller deletes it."""
    from pipeline.decode.errors import DecodeError

    fs, path = filesystem(url)
    scratch = Path(scratch_dir or tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    fd, local = tempfile.mkstemp(prefix="vidseek-", suffix=Path(path).suffix, dir=scratch)
    try:
        with os.fdopen(fd, "wb") as out, fs.open(path, "rb", block_size=COPY_BLOCK_BYTES) as src:
            shutil.copyfileobj(src, out, COPY_BLOCK_BYTES)
    except FileNotFoundError:
        os.unlink(local)
        raise DecodeError(url, "file not found") from None
    except OSError as exc:
        os.unlink(local)
        raise DecodeError(url, f"cannot copy to {scratch}: {exc}") from None
    return Path(local)

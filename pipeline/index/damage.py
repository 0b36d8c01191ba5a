"""A damaged index file is named with its remedy. The Parquet records are the durable copy: `vidseek index
rebuild` recreates the catalog and FAISS files from them, setting an unreadable catalog aside rather than
deleting it."""

from __future__ import annotations

import time
from pathlib import Path


class IndexDamaged(ValueError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path} cannot be read, damaged or truncated ({reason}); "
            f"`vidseek index rebuild --index {path.parent}` rebuilds it from the records"
        )


def set_aside(path: Path) -> Path:
    """Rename ``path`` (and SQLite's -wal/-shm files beside it) to ``<name>.damaged-<unix time>``."""
    stamp = f".damaged-{int(time.time())}"
    for suffix in ("-wal", "-shm", ""):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(part.with_name(part.name + stamp))
    return path.with_name(path.name + stamp)

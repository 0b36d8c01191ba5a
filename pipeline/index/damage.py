"""A damaged index file is named with its remedy. The Parquet records are the durable copy: `vidseek index
rebuild` recreates the catalog and FAISS files from them, setting an unreadable catalog or record aside (never
deleting it)."""

from __future__ import annotations

import time
from pathlib import Path


class IndexDamaged(ValueError):
    """``index_dir`` defaults to the file's folder; a record's is two levels up (``DIR/records/<file>``)."""

    def __init__(self, path: Path, reason: str, index_dir: Path | None = None, remedy: str = "") -> None:
        self.path, self.reason = Path(path), reason
        index_dir = index_dir or self.path.parent
        remedy = remedy or "rebuilds it from the records"
        super().__init__(
            f"{path} cannot be read, damaged or truncated ({reason}); "
            f"`vidseek index rebuild --index {index_dir}` {remedy}"
        )


class IndexNotWritten(IndexDamaged):
    """A vector file the writer never saved: the ingest stopped (killed) before its first save. Nothing is lost
    (the records hold what it would hold), but nothing can be searched until it is written."""

    def __init__(self, path: Path, listed: str, index_dir: Path, remedy: str) -> None:
        self.path, self.reason = Path(path), "never written"
        ValueError.__init__(
            self,
            f"{path} was never written: the ingest that indexed {listed} stopped before its first save (the records "
            f"hold them); `vidseek index rebuild --index {index_dir}` writes it (so does the next `vidseek ingest` "
            "into this index)",
        )


def stamp() -> str:
    return f".damaged-{int(time.time())}"


def set_aside(path: Path) -> Path:
    """Rename ``path`` (and SQLite's -wal/-shm files beside it) to ``<name>.damaged-<unix time>``."""
    suffix = stamp()
    for extra in ("-wal", "-shm", ""):
        part = path.with_name(path.name + extra)
        if part.exists():
            part.rename(part.with_name(part.name + suffix))
    return path.with_name(path.name + suffix)

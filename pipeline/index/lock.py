"""One writer per index: an exclusive lease (``flock`` on ``DIR/writer.lock``) held while an IndexWriter is open.

Two overlapping ingests (a slow nightly run and a manual one) cannot both write: the second waits up to
``wait_s`` seconds, then stops with a message naming the holder. The kernel drops the lease when the holder's
process dies, even by ``kill -9``, so a crashed run never leaves the index locked.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from pipeline.index.layout import IndexLayout


class IndexBusy(RuntimeError):
    """Another process is writing this index."""


class IndexLock:
    def __init__(self, index_dir: Path) -> None:
        self.path = IndexLayout(index_dir).lock
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
            return f"pid {info['pid']} on {info['host']} since {since}"
        except (OSError, ValueError, KeyError):
            return "another process"

    def acquire(self, wait_s: float = 0.0) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusy(
                        f"{self.path.parent} is being written by {self.holder()}; wait for it to finish "
                        "(or pass --wait SECONDS)"
                    ) from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
        self._fd = fd

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lease now (a reader's check: it opens the file read-only)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

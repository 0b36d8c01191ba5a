"""Ends a local Ray's processes when the driver that started them dies, even by ``kill -9``.

Ray ties its GCS and raylet to the driver (the kernel kills them with it), but the raylet's own children (the
dashboard and runtime-env agents, stuck reporting to a dead GCS, about 210 MB, and workers still starting)
outlived a killed driver by a minute or more. So before ``ray.init`` the driver puts a token in its environment,
which every process Ray starts inherits, and starts this watcher with a pipe it never writes to. When the pipe
closes (the driver is gone, however it went) the watcher kills every process whose environment holds the token.
Linux only (/proc); elsewhere it is not started.

    python -m workers.ray_reaper TOKEN   (stdin: the driver's pipe)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

OWNER_VARIABLE = "VIDSEEK_RAY_OWNER"


def owned_by(token: str) -> list[int]:
    """The processes whose environment carries ``token`` (this one excepted)."""
    marker = f"{OWNER_VARIABLE}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def reap(token: str, rounds: int = 5) -> int:
    """Kill the token's processes, again while some appear (a worker being started); returns how many."""
    killed = 0
    for _ in range(rounds):
        pids = owned_by(token)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.2)
    return killed


def start_reaper() -> subprocess.Popen | None:
    """Mark this process's environment and start the watcher; it lives until this process does. None where
    /proc is missing."""
    if not Path("/proc/self/environ").exists():
        return None
    token = os.environ[OWNER_VARIABLE] = uuid.uuid4().hex  # fresh: one inherited from a parent is the parent's
    read_end, write_end = os.pipe()  # not inherited by the processes Ray starts (os.pipe fds are not inheritable)
    reaper = subprocess.Popen(
        [sys.executable, "-m", "workers.ray_reaper", token],
        stdin=read_end,
        start_new_session=True,  # a Ctrl-C to the terminal's group reaches the driver, not its watcher
    )
    os.close(read_end)
    _HELD.append(write_end)
    return reaper


_HELD: list[int] = []  # the driver's end of the pipe, open until the process ends


if __name__ == "__main__":
    while os.read(sys.stdin.fileno(), 1):  # nothing is ever written: this returns b"" when the driver is gone
        pass
    reap(sys.argv[1])

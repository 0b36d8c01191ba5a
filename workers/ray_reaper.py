"""Ends a local Ray's processes when the driver that started them dies, even by ``kill -9``.

Ray ties its GCS and raylet to the driver (the kernel kills them with it), but the raylet's own children (the
dashboard and runtime-env agents, stuck reporting to a dead GCS, about 210 MB, and workers still starting)
outlived a killed driver by a minute or more. So the driver starts this watcher with a pipe it never writes to;
the watcher notes the driver's descendants once a second, and when the pipe closes (the driver is gone, however
it went) it kills those still running, and any process whose environment holds the token the driver set before
``ray.init`` (a worker started since the last look; the agents rewrite their environment area with their
process title, so for them the list is what counts). Linux only (/proc); elsewhere it is not started.

    python -m workers.ray_reaper DRIVER_PID TOKEN   (stdin: the driver's pipe)
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

OWNER_VARIABLE = "VIDSEEK_RAY_OWNER"
LOOK_EVERY_S = 1.0


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time in clock ticks), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):  # gone meanwhile
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The processes below ``root``: pid -> start time (so a pid used again later is not mistaken for one)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != os.getpid():
                found[child] = table[child][1]
                todo.append(child)
    return found


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


def reap(token: str, known: dict[int, str], rounds: int = 5) -> int:
    """Kill the known descendants still running and the token's processes, again while some appear (a worker
    being started); returns how many."""
    killed = 0
    for _ in range(rounds):
        table = _processes()
        pids = {pid for pid, started in known.items() if pid in table and table[pid][1] == started}
        pids |= set(owned_by(token))
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
        [sys.executable, "-m", "workers.ray_reaper", str(os.getpid()), token],
        stdin=read_end,
        start_new_session=True,  # a Ctrl-C to the terminal's group reaches the driver, not its watcher
    )
    os.close(read_end)
    _HELD.append(write_end)
    return reaper


_HELD: list[int] = []  # the driver's end of the pipe, open until the process ends


def watch(driver_pid: int, token: str) -> None:
    known: dict[int, str] = {}
    while True:
        known.update(descendants(driver_pid, _processes()))
        ready, _, _ = select.select([sys.stdin], [], [], LOOK_EVERY_S)
        if ready and not os.read(sys.stdin.fileno(), 1):  # nothing is ever written: b"" once the driver is gone
            break
    reap(token, known)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])

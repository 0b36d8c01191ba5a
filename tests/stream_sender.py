"""Real streams on loopback for the live tests: ffmpeg plays a clip in real time (looped) as MPEG-TS served over
HTTP or UDP, as an HLS playlist that grows in a folder, or as a growing MPEG-TS file. ``kill`` and ``start`` again
simulate a source dropping."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamSender:
    def __init__(self, clip: str, kind: str = "http", folder: Path | None = None, audio: bool = False) -> None:
        if shutil.which("ffmpeg") is None:
            pytest.skip("the ffmpeg CLI is not installed (scripts/test.sh installs it)")
        self.clip, self.kind, self.proc = clip, kind, None
        self._streams = ["-c", "copy"] if audio else ["-an", "-c:v", "copy"]
        if kind == "http":
            self.url = f"http://127.0.0.1:{free_port()}/live.ts"
            self._out = ["-f", "mpegts", "-listen", "1", self.url]
        elif kind == "udp":  # datagrams: the receiver sees no disconnect, only a pause and a restarted clock
            self.url = f"udp://127.0.0.1:{free_port()}"
            self._out = ["-f", "mpegts", self.url + "?pkt_size=1316"]
        elif kind == "hls":
            assert folder is not None
            folder.mkdir(parents=True, exist_ok=True)
            self.url = str(folder / "live.m3u8")
            self._out = ["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_flags", "append_list", self.url]
        elif kind == "file":  # an MPEG-TS file that grows in real time, as a recorder writes it
            assert folder is not None
            folder.mkdir(parents=True, exist_ok=True)
            self.url = str(folder / "recording.ts")
            self._out = ["-y", "-f", "mpegts", self.url]
        else:
            raise ValueError(kind)

    def start(self) -> StreamSender:
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", self.clip]
            + [*self._streams, *self._out],
            stdin=subprocess.DEVNULL,
        )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

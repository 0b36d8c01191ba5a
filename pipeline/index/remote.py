"""An index kept on object storage (``s3://``, ``gs://``, any fsspec URL).

SQLite (WAL, locking) and FAISS need a local filesystem, so the store holds the index's files and each command
works on a local mirror under ``$VIDSEEK_CACHE/indexes/``: ``pull`` fetches what changed on the store, ``push``
uploads what changed locally (Parquet records first, then the catalog, then the vectors: the order the writer's
crash repair relies on). A writer takes a lease object (``LEASE.json``: owner, host, expiry) instead of
``flock``; it is renewed on every push and expires on its own if the holder dies. Object stores have no
compare-and-swap here, so two runs starting in the same second are told apart by re-reading the lease after
writing it: best effort, which a nightly schedule with concurrency forbidden does not stress.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from pathlib import Path

from pipeline.index.layout import LEASE, MIRROR_MANIFEST, IndexLayout
from pipeline.index.lock import IndexBusy
from pipeline.storage import default_cache_dir, filesystem

_NAMES = IndexLayout(".")
_SKIP = _NAMES.local_only()
_SKIP_SUFFIXES = ("-wal", "-shm", ".tmp")
_PUSH_ORDER = {_NAMES.records.name: 0, _NAMES.catalog.name: 1}  # everything else (vectors, config, runs) after


class RemoteIndex:
    def __init__(self, url: str, cache_dir: Path | None = None, lease_ttl_s: float = 3600.0) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = filesystem(self.url)
        key = hashlib.blake2b(self.url.encode(), digest_size=8).hexdigest()
        self.local = (cache_dir or default_cache_dir()) / "indexes" / key
        self.lease_ttl_s = lease_ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._leased = False
        self._last_push = 0.0

    # -- files ----------------------------------------------------------------------------------------------
    def _remote_files(self) -> dict[str, dict]:
        if not self.fs.exists(self.root):
            return {}
        found = self.fs.find(self.root, detail=True)
        return {
            os.path.relpath(path, self.root): info
            for path, info in found.items()
            if info.get("type") != "directory" and os.path.relpath(path, self.root) not in _SKIP
        }

    def _local_files(self) -> dict[str, tuple[int, int]]:
        out = {}
        for f in self.local.rglob("*"):
            rel = str(f.relative_to(self.local))
            cache = rel.startswith(_NAMES.thumbnails.name + "/")
            if f.is_file() and rel not in _SKIP and not rel.endswith(_SKIP_SUFFIXES) and not cache:
                st = f.stat()
                out[rel] = (st.st_size, st.st_mtime_ns)
        return out

    def _manifest(self) -> dict:
        path = self.local / MIRROR_MANIFEST
        return json.loads(path.read_text()) if path.exists() else {"local": {}, "remote": {}}

    def _save_manifest(self, manifest: dict) -> None:
        tmp = self.local / (MIRROR_MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest))
        tmp.replace(self.local / MIRROR_MANIFEST)

    @staticmethod
    def _remote_sig(info: dict) -> str:
        checksum = info.get("ETag") or info.get("md5Hash") or info.get("crc32c")
        return str(checksum or (info.get("size"), info.get("mtime")))

    def pull(self) -> Path:
        """Bring the local mirror up to date with the store; returns its folder. A file the store no longer has
        is deleted here too; local files the store never had (records of a run that could not push) are kept:
        the writer's repair indexes them."""
        self.local.mkdir(parents=True, exist_ok=True)
        manifest = self._manifest()
        remote_files = self._remote_files()
        for rel in [r for r in manifest["remote"] if r not in remote_files]:  # deleted on the store: drop here too
            (self.local / rel).unlink(missing_ok=True)
            manifest["remote"].pop(rel)
            manifest["local"].pop(rel, None)
        for rel, info in remote_files.items():
            sig = self._remote_sig(info)
            target = self.local / rel
            if manifest["remote"].get(rel) == sig and target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            self.fs.get_file(f"{self.root}/{rel}", str(tmp))
            tmp.replace(target)
            st = target.stat()
            manifest["remote"][rel], manifest["local"][rel] = sig, [st.st_size, st.st_mtime_ns]
        self._save_manifest(manifest)
        return self.local

    def push(self, records_only: bool = False) -> int:
        """Upload what changed locally since the last pull/push; returns how many files. ``records_only``: just
        the immutable Parquet records (safe while a writer is open: catalog and vectors are rebuilt from them)."""
        manifest = self._manifest()
        records = _NAMES.records.name + "/"
        changed = [
            rel
            for rel, stamp in self._local_files().items()
            if manifest["local"].get(rel) != list(stamp) and (not records_only or rel.startswith(records))
        ]
        changed.sort(key=lambda rel: _PUSH_ORDER.get(rel.split("/", 1)[0], 2))
        for rel in changed:
            self.fs.put_file(str(self.local / rel), f"{self.root}/{rel}")
            st = (self.local / rel).stat()
            manifest["local"][rel] = [st.st_size, st.st_mtime_ns]
            manifest["remote"][rel] = self._remote_sig(self.fs.info(f"{self.root}/{rel}"))
        self._save_manifest(manifest)
        self._last_push = time.monotonic()
        if self._leased:
            self._write_lease()  # renewed
        return len(changed)

    def push_records_every(self, interval_s: float = 300.0):
        """An ``IndexWriter`` listener: during a long run, upload new records at most every ``interval_s``, so a
        lost machine costs minutes of work (the next run pulls them and skips those chunks)."""

        def listener(rows) -> None:
            if time.monotonic() - self._last_push >= interval_s:
                self.push(records_only=True)

        return listener

    # -- lease ----------------------------------------------------------------------------------------------
    def _lease_path(self) -> str:
        return f"{self.root}/{LEASE}"

    def _read_lease(self) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(self._lease_path()))
        except (FileNotFoundError, ValueError):
            return None

    def _write_lease(self) -> None:
        lease = {"owner": self.owner, "host": socket.gethostname(), "expires": time.time() + self.lease_ttl_s}
        self.fs.pipe_file(self._lease_path(), json.dumps(lease).encode())

    def acquire(self, wait_s: float = 0.0, settle_s: float = 1.0) -> None:
        """Take the writer lease, waiting up to ``wait_s`` for another holder; raises ``IndexBusy``."""
        deadline = time.monotonic() + wait_s
        while True:
            held = self._read_lease()
            if held is None or held["expires"] < time.time() or held["owner"] == self.owner:
                self._write_lease()
                time.sleep(settle_s)  # another run writing at the same moment: the last write wins, re-read
                held = self._read_lease()
                if held and held["owner"] == self.owner:
                    self._leased = True
                    return
            if time.monotonic() >= deadline:
                until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(held["expires"])) if held else "?"
                holder = held["owner"] if held else "another run"
                raise IndexBusy(
                    f"{self.url} is being written by {holder} (lease until {until}); wait for it to finish "
                    "(or pass --wait SECONDS)"
                )
            time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))

    def release(self) -> None:
        if self._leased and (self._read_lease() or {}).get("owner") == self.owner:
            self.fs.rm_file(self._lease_path())
        self._leased = False

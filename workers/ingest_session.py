"""One way to write an index, shared by `vidseek ingest`, `vidseek watch` and the API's ingest jobs: the model that
will really run, the index's lease (and, for ``--index s3://...``, the store's), one writer with standing queries
and record pushes attached, the run's configuration kept beside the index, the same Ray or no-Ray choice
(``ray.enabled``) and the same run summary (``DIR/runs/``).

    with IngestSession.open(index, cfg, wait_s) as session:
        report = session.ingest(paths, progress)        # or: Watcher(..., session.writer, ...)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.config import VidseekConfig
from pipeline.embed.base import Embedder
from pipeline.index.lock import IndexLock
from pipeline.job import IngestReport, Progress, write_run_summary


class IngestSession:
    def __init__(self, index: Path, cfg: VidseekConfig, writer, alerting, lock: IndexLock, remote) -> None:
        self.index, self.cfg, self.writer, self.alerting = index, cfg, writer, alerting
        self._lock, self._remote = lock, remote
        self.started = time.time()

    @classmethod
    def open(
        cls,
        index: Path,
        cfg: VidseekConfig,
        wait_s: float = 0.0,
        remote=None,
        embedder: Embedder | None = None,
        on_alert: Callable | None = None,
    ) -> IngestSession:
        """Lease the index (waiting up to ``wait_s``, else IndexBusy), then open its writer. ``cfg`` should hold
        the model that will run (``describe.factory.resolve_model``); ``remote``: the store behind a mirrored
        index, leased too, and what another run pushed meanwhile pulled first."""
        from pipeline.alerts import Alerting
        from pipeline.embed import make_embedder
        from pipeline.index import IndexWriter

        index.mkdir(parents=True, exist_ok=True)
        lock = IndexLock(index)
        lock.acquire(wait_s)  # before anything starts: a second overlapping run waits or stops here
        try:
            if remote:
                remote.acquire(wait_s)
                remote.pull()
            writer = IndexWriter(index, embedder or make_embedder(cfg.embed), index_cfg=cfg.index, lock=lock)
        except BaseException:
            lock.release()
            if remote:
                remote.release()
            raise
        alerting = Alerting(writer, on_alert=on_alert)  # standing queries see every committed chunk
        if remote:
            writer.listeners.append(remote.push_records_every())
        (index / "config.yaml").write_text(json.dumps(cfg.model_dump(), indent=2))  # JSON is valid YAML
        return cls(index, cfg, writer, alerting, lock, remote)

    def ingest(
        self, paths: list[str], progress: Progress | None = None, roots: list[Path] | None = None
    ) -> IngestReport:
        """Ingest ``paths`` (only files under ``roots`` when given), on Ray or in this process as configured. The
        frame index is embedded by the decode workers on Ray, in this process without it."""
        if self.cfg.ray.enabled:
            from workers.ray_job import run_ray

            model = self.cfg.describe.model if self.cfg.describes else ""
            report = run_ray(self.cfg, paths, self.writer, model, progress, roots=roots)
        else:
            from pipeline.describe import make_describer
            from pipeline.job import run_local

            report = run_local(self.cfg, paths, self.writer, make_describer(self.cfg.describe), progress, roots)
        self.summary = write_run_summary(self.index, report, self.started, paths)
        return report

    def close(self, interrupted: bool = False) -> None:
        """Save and release everything, also after an error (a server goes on writing this index). An interrupted
        run uploads only its finished records; the next run skips those chunks."""
        try:
            self.writer.close()  # saves the vectors, releases the lease
            self.alerting.close()
        finally:
            if self._remote:
                self._remote.push(records_only=interrupted)
                self._remote.release()

    def __enter__(self) -> IngestSession:
        return self

    def __exit__(self, error_type, error, trace) -> None:
        self.close(interrupted=error_type is not None)

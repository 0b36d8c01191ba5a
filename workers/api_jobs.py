"""Ingest job routes of the HTTP service: ``POST /ingest``, ``GET /jobs/{id}``, ``DELETE /jobs/{id}``. Jobs run one
at a time on one runner thread (the index has a single writer), as `vidseek ingest` runs them; a cancelled job
stops between chunks, keeping what it committed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from workers.api_guard import documented

MAX_QUEUED_JOBS = 16  # ingest jobs waiting for the one that runs; more are refused with 429
MAX_KEPT_JOBS = 1000  # finished jobs remembered for GET /jobs/{id}


@dataclass
class Job:
    id: str
    paths: list[str]
    state: str = "queued"  # queued | running | done | failed | cancelled
    cancel_requested: bool = False
    results: list[dict] = field(default_factory=list)
    error: str = ""
    chunks_done: int = 0
    chunks_total: int = 0
    started: float = 0.0
    finished: float = 0.0


MediaPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[MediaPath] = Field(..., min_length=1, max_length=1000)


def add_job_routes(app: FastAPI, service, guarded: list, metrics: dict) -> None:
    @app.post("/ingest", dependencies=guarded, status_code=202, responses=documented(403, 413, 429))
    def ingest(body: IngestRequest):
        """Ingest files or folders under the media roots, one job at a time; a file a folder leads to outside
        the roots (a symlink) is skipped with that reason."""
        if not service.media_roots:
            raise HTTPException(403, "no media roots are configured: start `vidseek serve --media-root DIR`")
        job = Job(uuid.uuid4().hex, [str(service.allowed(p)) for p in body.paths])
        service.submit(job, lambda queued: _run_job(service, queued, metrics))
        return {"job_id": job.id, "state": job.state}

    @app.get("/jobs/{job_id}", dependencies=guarded, responses=documented(404))
    def job_status(job_id: str):
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.__dict__

    @app.delete("/jobs/{job_id}", dependencies=guarded, responses=documented(404, 409))
    def cancel_job(job_id: str):
        """Cancel a queued or running ingest job. A running one stops after the chunk it is committing: chunks
        already committed stay, and the next ingest of those files describes only what is missing."""
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        if job.state not in ("queued", "running"):
            raise HTTPException(409, f"job {job_id} has already ended ({job.state})")
        job.cancel_requested = True
        if job.state == "queued":
            job.state, job.finished = "cancelled", time.time()
        return job.__dict__


def _run_job(service, job: Job, metrics) -> None:
    """One ingest, in the runner thread (one at a time), as `vidseek ingest` runs it (on Ray when ray.enabled)."""
    from pipeline.describe.factory import resolve_model
    from pipeline.job import Cancelled, NoProgress
    from workers.ingest_session import IngestSession

    class Counting(NoProgress):
        """Counts for GET /jobs/{id}, and stops the job between chunks once DELETE /jobs/{id} asked."""

        def start(self, num_videos: int, num_chunks: int, footage_s: float) -> None:
            job.chunks_total = num_chunks
            if job.cancel_requested:
                raise Cancelled

        def chunk_done(self, span) -> None:
            job.chunks_done += 1
            if job.cancel_requested:
                raise Cancelled

    if job.cancel_requested:  # cancelled while it waited
        return
    job.state, job.started = "running", time.time()
    try:
        describe_cfg, _ = resolve_model(service.cfg.describe)
        cfg = service.cfg.model_copy(update={"describe": describe_cfg})
        with IngestSession.open(service.index_dir, cfg, embedder=service.embedder) as session:
            report = session.ingest(job.paths, Counting(), roots=service.media_roots)
        job.results = [r.as_dict() for r in report.results]
        job.state = "done"
    except Cancelled:  # its videos are marked cancelled, the session closed the index: what was committed stays
        job.state = "cancelled"
    except Exception as exc:  # a job's failure is reported through its status
        job.state, job.error = "failed", f"{exc.__class__.__name__}: {exc}"
    job.finished = time.time()
    metrics["jobs"].labels(job.state).inc()

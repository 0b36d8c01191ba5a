"""The HTTP service: search, videos (metadata, range-streamed file, thumbnails, WebVTT), ingest jobs, health,
Prometheus metrics, alerts (list and live feed), answers (ask, summarize), and the web page at ``/``.

Security: loopback by default; an API key (header ``X-API-Key``) is required when one is configured and always
when binding elsewhere; only files under the configured media roots (symlinks resolved) are streamed or
ingested; ``k``, query length and request bodies are bounded; every error is JSON with a message.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from pipeline.config import VidseekConfig
from pipeline.export import render, video_segments
from pipeline.index.context import ContextVectors
from pipeline.index.vectors import VectorIndex
from pipeline.search import Filters, Searcher
from pipeline.timefmt import TimeRangeError
from workers.api_alerts import add_alert_routes
from workers.api_answers import add_answer_routes

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 500


@dataclass
class Job:
    id: str
    paths: list[str]
    state: str = "queued"  # queued | running | done | failed
    results: list[dict] = field(default_factory=list)
    error: str = ""
    chunks_done: int = 0
    chunks_total: int = 0
    started: float = 0.0
    finished: float = 0.0


class IngestRequest(BaseModel):
    paths: list[str] = Field(..., min_length=1, max_length=1000)


class Service:
    """Loads the embedder and index once; reloads the index when an ingest commits a new version."""

    def __init__(self, index_dir: Path, cfg: VidseekConfig, media_roots: list[Path], api_key: str | None) -> None:
        self.index_dir, self.cfg, self.api_key = index_dir, cfg, api_key
        self.media_roots = [r.resolve() for r in media_roots]
        from pipeline.embed import make_embedder

        self.embedder = make_embedder(cfg.embed)
        self.lock = threading.Lock()
        self.searcher: Searcher | None = None
        self._stamp = None
        self.jobs: dict[str, Job] = {}
        self.ingest_lock = threading.Lock()  # one ingest at a time: the index has a single writer
        self.text_model = None  # for /ask and summaries: made on first use (workers.api_answers)

    def current(self) -> Searcher:
        """The searcher for the last committed index (FAISS files are replaced atomically, SQLite is WAL)."""
        files = (self.index_dir / VectorIndex.FILE, self.index_dir / ContextVectors.FILE)  # contexts saved after
        stamp = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
        with self.lock:
            if self.searcher is None or stamp != self._stamp:
                if not (self.index_dir / "catalog.sqlite").exists():
                    raise HTTPException(503, f"{self.index_dir} holds no index yet; ingest something first")
                try:
                    self.searcher = Searcher(self.index_dir, self.embedder)
                except ValueError as exc:  # a damaged FAISS file: say which, and how to rebuild it
                    raise HTTPException(503, str(exc)) from None
                self._stamp = stamp
            return self.searcher

    def allowed(self, raw: str) -> Path:
        """The resolved path if it lies under a media root (symlinks followed), else a 403."""
        path = Path(raw).resolve()
        if not any(path.is_relative_to(root) for root in self.media_roots):
            raise HTTPException(403, "path is outside the configured media roots")
        return path


def _metrics():
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    return registry, {
        "requests": Counter("vidseek_http_requests", "HTTP requests", ["path", "status"], registry=registry),
        "search_s": Histogram("vidseek_search_seconds", "search latency", registry=registry),
        "jobs": Counter("vidseek_ingest_jobs", "ingest jobs by outcome", ["state"], registry=registry),
    }


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="vidseek", version="0.1.0", description="Search hours of video to the second.")
    registry, metrics = _metrics()
    app.state.service = service

    @app.middleware("http")
    async def bounded_and_counted(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        response = await call_next(request)
        route = request.scope.get("route")
        metrics["requests"].labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(TimeRangeError)
    async def time_range_error(request: Request, exc: TimeRangeError):
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error ({exc.__class__.__name__})"}, status_code=500)

    def authorised(request: Request) -> None:
        """The key comes in the X-API-Key header, or as ?key= for media the browser loads itself (<video>,
        <img> and <track> cannot send headers)."""
        if service.api_key is None:
            return
        given = request.headers.get("x-api-key") or request.query_params.get("key", "")
        if not hmac.compare_digest(given.encode(), service.api_key.encode()):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    guarded = [Depends(authorised)]

    def video_row(video_id: str) -> dict:
        row = service.current().catalog.video(video_id)
        if row is None:
            raise HTTPException(404, f"no video with id {video_id!r}")
        return row

    add_alert_routes(app, service.index_dir, guarded)
    add_answer_routes(app, service, guarded)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/metrics", dependencies=guarded)
    def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/search", dependencies=guarded)
    def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
        k: int = Query(10, ge=1, le=100),
        video: str | None = None,
        after: float | None = Query(None, ge=0),
        before: float | None = Query(None, ge=0),
        kind: str | None = Query(None, pattern="^(caption|event)$"),
        label: str | None = Query(None, max_length=200),
    ):
        filters = Filters(video, after, before, kind, label)
        searcher = service.current()
        start = time.perf_counter()
        try:
            hits = searcher.search(q, k, filters)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
        metrics["search_s"].observe(time.perf_counter() - start)
        ids = searcher.catalog.ids_by_path()
        return {"query": q, "results": [dict(h.__dict__, video_id=ids.get(h.video)) for h in hits]}

    @app.get("/videos", dependencies=guarded)
    def videos():
        # Each row's ingest config (a JSON text) is left to GET /videos/{id}: a list of thousands need not repeat it.
        return {
            "videos": [{k: v for k, v in row.items() if k != "config"} for row in service.current().catalog.videos()]
        }

    @app.get("/videos/{video_id}", dependencies=guarded)
    def video(video_id: str):
        row = video_row(video_id)
        segments = video_segments(service.current().catalog, video_id)
        row["config"] = json.loads(row["config"] or "{}")  # the config it was ingested with
        return row | {
            "captions": [s for s in segments if s["kind"] == "caption"],
            "events": [s for s in segments if s["kind"] == "event"],
            "gaps": service.current().catalog.gaps(video_id),  # live sources: stretches not captured
        }

    @app.get("/videos/{video_id}/stream", dependencies=guarded)
    def stream(video_id: str):
        path = service.allowed(video_row(video_id)["path"])
        if not path.is_file():
            raise HTTPException(404, "the video file is no longer there")
        return FileResponse(path, media_type="video/mp4" if path.suffix.lower() in (".mp4", ".m4v", ".mov") else None)

    @app.get("/videos/{video_id}/thumbnail", dependencies=guarded)
    def thumbnail(video_id: str, t: float = Query(0.0, ge=0, le=1e6)):
        row = video_row(video_id)
        path = service.allowed(row["path"])
        cache = service.index_dir / "thumbnails" / f"{video_id}-{int(t * 1000)}.jpg"
        if not cache.exists():
            cache.parent.mkdir(exist_ok=True)
            _write_thumbnail(path, min(t, max((row["duration_s"] or 0) - 0.05, 0)), cache)
        return FileResponse(cache, media_type="image/jpeg")

    @app.get("/videos/{video_id}/captions.vtt", dependencies=guarded)
    def captions(video_id: str):
        video_row(video_id)
        return PlainTextResponse(
            render(video_segments(service.current().catalog, video_id), "vtt"), media_type="text/vtt"
        )

    @app.post("/ingest", dependencies=guarded, status_code=202)
    def ingest(body: IngestRequest):
        if not service.media_roots:
            raise HTTPException(403, "no media roots are configured: start `vidseek serve --media-root DIR`")
        paths = [str(service.allowed(p)) for p in body.paths]
        job = Job(uuid.uuid4().hex, paths)
        service.jobs[job.id] = job
        threading.Thread(target=_run_job, args=(service, job, metrics), daemon=True).start()
        return {"job_id": job.id, "state": job.state}

    @app.get("/jobs/{job_id}", dependencies=guarded)
    def job_status(job_id: str):
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.__dict__

    if WEB_DIR.exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def _write_thumbnail(path: Path, t_s: float, out: Path) -> None:
    """The frame shown at ``t_s`` (the first frame at or after it), as a JPEG at most 320 px wide."""
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.types import ChunkSpan

    info = probe(str(path))
    start = min(t_s, max(info.duration_s - 0.1, 0))
    chunk = open_reader(info, DecodeConfig(fps=10, max_side=320)).read(
        ChunkSpan("thumb", str(path), start, min(start + 2.0, info.duration_s))
    )
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(chunk.frames[0], cv2.COLOR_RGB2BGR))
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(out)


def _run_job(service: Service, job: Job, metrics) -> None:
    """One ingest at a time, in this process, with the same stages as the CLI's local run."""
    from pipeline.alerts import Alerting
    from pipeline.describe import make_describer
    from pipeline.describe.factory import resolve_model
    from pipeline.index import IndexWriter
    from pipeline.job import NoProgress, run_local

    class Counting(NoProgress):
        def start(self, num_videos: int, num_chunks: int, footage_s: float) -> None:
            job.chunks_total = num_chunks

        def chunk_done(self, span) -> None:
            job.chunks_done += 1

    with service.ingest_lock:
        job.state, job.started = "running", time.time()
        try:
            describe_cfg, _ = resolve_model(service.cfg.describe)
            cfg = service.cfg.model_copy(update={"describe": describe_cfg})
            writer = IndexWriter(service.index_dir, service.embedder, index_cfg=cfg.index)
            alerting = Alerting(writer)  # standing queries see API ingests too
            report = run_local(cfg, job.paths, writer, make_describer(cfg.describe), Counting())
            writer.close()
            alerting.close()
            job.results = [r.__dict__ for r in report.results]
            job.state = "done"
        except Exception as exc:  # noqa: BLE001 - a job's failure is reported through its status
            job.state, job.error = "failed", f"{exc.__class__.__name__}: {exc}"
        job.finished = time.time()
        metrics["jobs"].labels(job.state).inc()

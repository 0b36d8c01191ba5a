"""The HTTP service: search, videos (metadata, range-streamed file, thumbnails, WebVTT), ingest jobs, health,
Prometheus metrics, alerts (list and live feed), answers (ask, summarize), and the web page at ``/``.

Security (workers.api_guard acts before any route): loopback by default, answering only the Host names it was
bound to; an API key (header ``X-API-Key``) is required when one is configured and always when binding
elsewhere, and is checked before a body is read; bodies are counted as they stream; only files under the
configured media roots (symlinks resolved, also inside folders) are streamed or ingested; ``k``, query length,
queued ingest jobs and the thumbnail cache are bounded; every error is JSON with a message and documented in
the OpenAPI schema.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.config import VidseekConfig
from pipeline.decode.image import MAX_IMAGE_BYTES
from pipeline.index.folder import Index
from pipeline.search import Searcher
from pipeline.timefmt import TimeRangeError
from workers.api_alerts import add_alert_routes
from workers.api_answers import add_answer_routes
from workers.api_guard import DOCS_PATHS, Guard, documented
from workers.api_jobs import MAX_KEPT_JOBS, MAX_QUEUED_JOBS, Job, add_job_routes
from workers.api_search import add_search_routes
from workers.api_videos import add_video_routes

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_BODY_BYTES = 64 * 1024


class Service:
    """Loads the embedder and index once; reloads the index when an ingest commits a new version."""

    def __init__(
        self,
        index_dir: Path,
        cfg: VidseekConfig,
        media_roots: list[Path],
        api_key: str | None,
        allowed_hosts: set[str] | None = None,
    ) -> None:
        self.index_dir, self.cfg, self.api_key = index_dir, cfg, api_key
        self.allowed_hosts = allowed_hosts
        self.media_roots = [r.resolve() for r in media_roots]
        from pipeline.embed import make_embedder

        self.embedder = make_embedder(cfg.embed)
        self.lock = threading.Lock()
        self.searcher: Searcher | None = None
        self._stamp = None
        self.jobs: dict[str, Job] = {}
        self.job_queue: queue.Queue[Job] = queue.Queue(MAX_QUEUED_JOBS)
        self._job_runner: threading.Thread | None = None
        self.text_model = None  # for /ask and summaries: made on first use (workers.api_answers)

    def current(self) -> Searcher:
        """The searcher for the last committed index (FAISS files are replaced atomically, SQLite is WAL)."""
        index = Index(self.index_dir)
        stamp = index.saved_at()
        with self.lock:
            if self.searcher is None or stamp != self._stamp:
                if not index.exists:
                    raise HTTPException(503, f"{self.index_dir} holds no index yet; ingest something first")
                try:
                    self.searcher = Searcher.open(self.index_dir, self.embedder)
                except ValueError as exc:  # a damaged or stale FAISS file: say which, and how to rebuild it
                    raise HTTPException(503, str(exc)) from None
                self._stamp = stamp
            return self.searcher

    def allowed(self, raw: str) -> Path:
        """The resolved path if it lies under a media root (symlinks followed), else a 403."""
        path = Path(raw).resolve()
        if not any(path.is_relative_to(root) for root in self.media_roots):
            raise HTTPException(403, "path is outside the configured media roots")
        return path

    def submit(self, job: Job, run) -> None:
        """Queue ``job`` for the one runner thread (the index has a single writer); 429 when the queue is full."""
        try:
            self.job_queue.put_nowait(job)
        except queue.Full:
            raise HTTPException(429, f"{MAX_QUEUED_JOBS} ingest jobs are already waiting; try again later") from None
        self.jobs[job.id] = job
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed", "cancelled")]
        for old in finished[: max(0, len(self.jobs) - MAX_KEPT_JOBS)]:
            del self.jobs[old.id]
        with self.lock:
            if self._job_runner is None:
                self._job_runner = threading.Thread(target=self._run_jobs, args=(run,), daemon=True)
                self._job_runner.start()

    def _run_jobs(self, run) -> None:
        while True:
            run(self.job_queue.get())


def _metrics():
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    return registry, {
        "requests": Counter("vidseek_http_requests", "HTTP requests", ["path", "status"], registry=registry),
        "search_s": Histogram("vidseek_search_seconds", "search latency", registry=registry),
        "jobs": Counter("vidseek_ingest_jobs", "ingest jobs by outcome", ["state"], registry=registry),
    }


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="vidseek",
        version="0.1.0",
        description='Search hours of video to the second. Every error answers `{"error": "..."}`.',
        responses=documented(400, 401, 422),
    )
    registry, metrics = _metrics()
    app.state.service = service
    web_files = {f"/{f.name}" for f in WEB_DIR.iterdir()} if WEB_DIR.exists() else set()
    app.add_middleware(
        Guard,
        api_key=service.api_key,
        allowed_hosts=service.allowed_hosts,
        public_paths={"/", "/healthz", "/openapi.json", *DOCS_PATHS, *web_files},
        max_body_bytes=MAX_BODY_BYTES,
        body_limits={"/search/image": MAX_IMAGE_BYTES},
    )

    @app.middleware("http")
    async def counted(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        metrics["requests"].labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    @app.exception_handler(StarletteHTTPException)  # FastAPI's, and Starlette's own (StaticFiles' 404)
    async def http_error(request: Request, exc: StarletteHTTPException):
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

    # The key itself is checked by the Guard, before a body is read; this documents it in the schema.
    guarded = [Depends(APIKeyHeader(name="X-API-Key", auto_error=False))]

    add_alert_routes(app, service.index_dir, guarded)
    add_answer_routes(app, service, guarded)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/metrics", dependencies=guarded, responses={200: {"content": {"text/plain": {}}}})
    def prometheus():
        """Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    add_search_routes(app, service, guarded, metrics)
    add_video_routes(app, service, guarded)
    add_job_routes(app, service, guarded, metrics)

    if WEB_DIR.exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app

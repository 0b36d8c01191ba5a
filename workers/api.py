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

import json
import queue
import threading
import time
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.config import VidseekConfig
from pipeline.export import render
from pipeline.index.context import ContextVectors
from pipeline.index.vectors import VectorIndex
from pipeline.search import MAX_RANKED, Filters, Searcher
from pipeline.timefmt import TimeRangeError
from workers.api_alerts import add_alert_routes
from workers.api_answers import add_answer_routes
from workers.api_guard import DOCS_PATHS, Guard, documented
from workers.api_jobs import MAX_KEPT_JOBS, MAX_QUEUED_JOBS, Job, add_job_routes

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 500
MAX_TIME_S = 1e11  # seconds: past any file, and past the year 5000 for live sources' Unix times
MAX_THUMBNAILS = 2000  # cached JPEGs; past this the oldest tenth is dropped
THUMBNAIL_STEP_S = 0.5  # thumbnail times are rounded down to this


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
        files = (self.index_dir / VectorIndex.FILE, self.index_dir / ContextVectors.FILE)  # contexts saved after
        stamp = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
        with self.lock:
            if self.searcher is None or stamp != self._stamp:
                if not (self.index_dir / "catalog.sqlite").exists():
                    raise HTTPException(503, f"{self.index_dir} holds no index yet; ingest something first")
                try:
                    self.searcher = Searcher(self.index_dir, self.embedder)
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

    @app.get("/metrics", dependencies=guarded, responses={200: {"content": {"text/plain": {}}}})
    def prometheus():
        """Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/search", dependencies=guarded, responses=documented(404, 503))
    def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S", description="words to find"),
        k: int = Query(10, ge=1, le=100, description="results, or videos with group_by=video"),
        offset: int = Query(0, ge=0, le=MAX_RANKED - 100, description="skip this many (the next page's start)"),
        group_by: Literal["video"] | None = Query(None, description="video: each video's best moments together"),
        video: str | None = Query(None, max_length=4096),
        after: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        before: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        kind: str | None = Query(None, pattern="^(caption|event)$"),
        label: str | None = Query(None, max_length=200),
    ):
        """Moments matching ``q``, best first; ``offset`` pages through one ranking (1,000 deep), and
        ``next_offset`` is the next page's (null on the last). With ``group_by=video``: ``groups``, each a video
        with up to 3 of its best moments, videos ranked by their best."""
        filters = Filters(video, after, before, kind, label)
        searcher = service.current()
        start = time.perf_counter()
        try:
            if group_by == "video":
                found = [g.__dict__ | {"results": [h.__dict__ for h in g.results]} for g in
                         searcher.search_by_video(q, k, offset, filters)]  # fmt: skip
            else:
                found = [h.__dict__ for h in searcher.search_page(q, k, offset, filters)]
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
        metrics["search_s"].observe(time.perf_counter() - start)
        following = offset + k if len(found) == k and offset + 2 * k <= MAX_RANKED else None
        return {"query": q, "offset": offset, "next_offset": following, "groups" if group_by else "results": found}

    @app.get("/videos", dependencies=guarded, responses=documented(503))
    def videos(
        offset: int = Query(0, ge=0, le=10**9),
        limit: int = Query(1000, ge=1, le=1000),
        status: Literal["ingesting", "complete", "failed", "live", "stopped"] | None = Query(None),
        path_prefix: str | None = Query(None, max_length=4096, description="only paths starting with this"),
    ):
        """The indexed videos by path, ``limit`` from ``offset``, with the ``total`` matching and ``next_offset``."""
        catalog = service.current().catalog
        rows = catalog.videos(status, path_prefix, offset, limit)
        total = catalog.count_videos(status, path_prefix)
        # Each row's ingest config (a JSON text) is left to GET /videos/{id}: a list of thousands need not repeat it.
        return {
            "total": total,
            "offset": offset,
            "next_offset": offset + limit if offset + limit < total else None,
            "videos": [{k: v for k, v in row.items() if k != "config"} for row in rows],
        }

    @app.delete("/videos/{video_id}", dependencies=guarded, responses=documented(404, 409, 503))
    def delete_video(video_id: str):
        """Remove the video's vectors, catalog rows and records, as `vidseek remove` does (409 while an ingest
        job writes the index)."""
        from pipeline.index.folder import Index
        from pipeline.index.lock import IndexBusy

        video_row(video_id)
        try:
            writer = Index(service.index_dir).writer(service.embedder)
        except (IndexBusy, ValueError) as exc:  # an ingest holds the lease; another embedder built the index
            raise HTTPException(409, str(exc)) from None
        try:
            removed = writer.remove_video(video_id)
        finally:
            writer.close()
        for cached in (service.index_dir / "thumbnails").glob(f"{video_id}-*.jpg"):
            cached.unlink(missing_ok=True)
        return {"video_id": video_id, "segments_removed": removed}

    @app.get("/videos/{video_id}", dependencies=guarded, responses=documented(404, 503))
    def video(video_id: str):
        row = video_row(video_id)
        segments = service.current().catalog.timeline(video_id)
        row["config"] = json.loads(row["config"] or "{}")  # the config it was ingested with
        return row | {
            "captions": [s for s in segments if s["kind"] == "caption"],
            "events": [s for s in segments if s["kind"] == "event"],
            "gaps": service.current().catalog.gaps(video_id),  # live sources: stretches not captured
        }

    @app.get(
        "/videos/{video_id}/stream",
        dependencies=guarded,
        responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "part of the file"}}
        | documented(403, 404, 416, 503),
    )
    def stream(video_id: str):
        path = service.allowed(video_row(video_id)["path"])
        if not path.is_file():
            raise HTTPException(404, "the video file is no longer there")
        return FileResponse(path, media_type="video/mp4" if path.suffix.lower() in (".mp4", ".m4v", ".mov") else None)

    @app.get(
        "/videos/{video_id}/thumbnail",
        dependencies=guarded,
        responses={200: {"content": {"image/jpeg": {}}}} | documented(403, 404, 503),
    )
    def thumbnail(video_id: str, t: float = Query(0.0, ge=0, le=MAX_TIME_S, allow_inf_nan=False)):
        row = video_row(video_id)
        path = service.allowed(row["path"])
        if not path.is_file():
            raise HTTPException(404, "the video file is no longer there")
        # clamped to the video and rounded down, so a cache entry is one of a bounded set of frames
        t = min(t, max((row["duration_s"] or 0) - 0.05, 0))
        t = t // THUMBNAIL_STEP_S * THUMBNAIL_STEP_S
        cache = service.index_dir / "thumbnails" / f"{video_id}-{int(t * 1000)}.jpg"
        if not cache.exists():
            _make_room(cache.parent)
            _write_thumbnail(path, t, cache)
        return FileResponse(cache, media_type="image/jpeg")

    @app.get(
        "/videos/{video_id}/captions.vtt",
        dependencies=guarded,
        responses={200: {"content": {"text/vtt": {}}}} | documented(404, 503),
    )
    def captions(video_id: str):
        video_row(video_id)
        return PlainTextResponse(render(service.current().catalog.timeline(video_id), "vtt"), media_type="text/vtt")

    add_job_routes(app, service, guarded, metrics)

    if WEB_DIR.exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def _make_room(folder: Path) -> None:
    """Keep the thumbnail cache under ``MAX_THUMBNAILS`` files: past it, drop the oldest tenth."""
    folder.mkdir(exist_ok=True)
    files = list(folder.glob("*.jpg"))
    if len(files) >= MAX_THUMBNAILS:
        files.sort(key=lambda f: f.stat().st_mtime)
        for old in files[: len(files) // 10 + 1]:
            old.unlink(missing_ok=True)


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

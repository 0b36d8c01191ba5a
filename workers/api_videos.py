"""Video routes of the HTTP service: the list (paged, filtered), one video's metadata, captions and events, its file
(range requests, so a browser seeks), thumbnails (bounded cache), WebVTT captions, and removal. Only files under
the media roots are served."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, PlainTextResponse

from pipeline.export import render
from pipeline.index.layout import IndexLayout
from pipeline.index.lock import IndexLock
from pipeline.limits import MAX_TIME_S
from pipeline.types import VideoRecord
from workers.api_guard import documented

MAX_THUMBNAILS = 2000  # cached JPEGs; past this the oldest tenth is dropped
THUMBNAIL_STEP_S = 0.5  # thumbnail times are rounded down to this


def add_video_routes(app: FastAPI, service, guarded: list) -> None:
    def video_record(video_id: str) -> VideoRecord:
        found = service.current().catalog.video(video_id)
        if found is None:
            raise HTTPException(404, f"no video with id {video_id!r}")
        return found

    @app.get("/videos", dependencies=guarded, responses=documented(503))
    def videos(
        offset: int = Query(0, ge=0, le=10**9),
        limit: int = Query(1000, ge=1, le=1000),
        status: Literal["ingesting", "complete", "failed", "cancelled", "live", "stopped"] | None = Query(None),
        path_prefix: str | None = Query(None, max_length=4096, description="only paths starting with this"),
    ):
        """The indexed videos by path, ``limit`` from ``offset``, with the ``total`` matching and ``next_offset``.
        Each says what it is for a person (``state``, ``state_note``: pipeline.types.VideoListing.state) beside
        the catalog's ``status``, which ``status=`` filters on."""
        catalog = service.current().catalog
        writing = IndexLock(service.index_dir).held_elsewhere()
        listed = catalog.videos(status, path_prefix, offset, limit)
        total = catalog.count_videos(status, path_prefix)
        # Each row's ingest config (a JSON text) is left to GET /videos/{id}: a list of thousands need not repeat it.
        return {
            "total": total,
            "offset": offset,
            "next_offset": offset + limit if offset + limit < total else None,
            "videos": [v.public_state(writing) for v in listed],
        }

    @app.delete("/videos/{video_id}", dependencies=guarded, responses=documented(404, 409, 503))
    def delete_video(video_id: str):
        """Remove the video's vectors, catalog rows and records, as `vidseek remove` does (409 while an ingest
        job writes the index)."""
        from pipeline.index.folder import Index
        from pipeline.index.lock import IndexBusy

        video_record(video_id)
        try:
            writer = Index(service.index_dir).writer(service.embedder)
        except (IndexBusy, ValueError) as exc:  # an ingest holds the lease; another embedder built the index
            raise HTTPException(409, str(exc)) from None
        try:
            removed = writer.remove_video(video_id)
        finally:
            writer.close()
        for cached in IndexLayout(service.index_dir).thumbnails.glob(f"{video_id}-*.jpg"):
            cached.unlink(missing_ok=True)
        return {"video_id": video_id, "segments_removed": removed}

    @app.get("/videos/{video_id}", dependencies=guarded, responses=documented(404, 503))
    def video(video_id: str):
        found = video_record(video_id)
        catalog = service.current().catalog
        segments = catalog.timeline(video_id)
        listing = catalog.listing(video_id)  # found above: it exists
        writing = IndexLock(service.index_dir).held_elsewhere()
        return listing.public_state(writing) | {
            "config": json.loads(found.config or "{}"),  # the config it was ingested with
            "captions": [s for s in segments if s["kind"] == "caption"],
            "events": [s for s in segments if s["kind"] == "event"],
            "speech": [s for s in segments if s["kind"] == "speech"],  # what is said, with its seconds
            "gaps": [asdict(g) for g in catalog.gaps(video_id)],  # live sources: stretches not captured
        }

    @app.get(
        "/videos/{video_id}/stream",
        dependencies=guarded,
        responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "part of the file"}}
        | documented(403, 404, 416, 503),
    )
    def stream(video_id: str):
        path = service.allowed(video_record(video_id).path)
        if not path.is_file():
            raise HTTPException(404, "the video file is no longer there")
        return FileResponse(path, media_type="video/mp4" if path.suffix.lower() in (".mp4", ".m4v", ".mov") else None)

    @app.get(
        "/videos/{video_id}/thumbnail",
        dependencies=guarded,
        responses={200: {"content": {"image/jpeg": {}}}} | documented(403, 404, 503),
    )
    def thumbnail(video_id: str, t: float = Query(0.0, ge=0, le=MAX_TIME_S, allow_inf_nan=False)):
        found = video_record(video_id)
        path = service.allowed(found.path)
        if not path.is_file():
            raise HTTPException(404, "the video file is no longer there")
        # clamped to the video and rounded down, so a cache entry is one of a bounded set of frames
        t = min(t, max((found.duration_s or 0) - 0.05, 0))
        t = t // THUMBNAIL_STEP_S * THUMBNAIL_STEP_S
        cache = IndexLayout(service.index_dir).thumbnails / f"{video_id}-{int(t * 1000)}.jpg"
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
        video_record(video_id)
        return PlainTextResponse(render(service.current().catalog.timeline(video_id), "vtt"), media_type="text/vtt")


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

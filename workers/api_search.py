"""Search routes of the HTTP service: moments matching words (captions, events, the frame index, or both fused), and
moments that look like an image (the frame index)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Literal

from fastapi import FastAPI, HTTPException, Query, Request

from pipeline.decode.image import MAX_IMAGE_PIXELS
from pipeline.describe.tiny import model_notices
from pipeline.limits import MAX_LABEL_CHARS, MAX_NAME_CHARS, MAX_QUERY_CHARS, MAX_RANKED, MAX_RESULTS, MAX_TIME_S
from pipeline.search import Filters
from workers.api_guard import documented


def add_search_routes(app: FastAPI, service, guarded: list, metrics: dict) -> None:
    @app.get("/search", dependencies=guarded, responses=documented(404, 503))
    def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S", description="words to find"),
        k: int = Query(10, ge=1, le=MAX_RESULTS, description="results, or videos with group_by=video"),
        offset: int = Query(0, ge=0, le=MAX_RANKED - MAX_RESULTS, description="skip this many (the next page's start)"),
        group_by: Literal["video"] | None = Query(None, description="video: each video's best moments together"),
        video: str | None = Query(None, max_length=MAX_NAME_CHARS),
        after: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        before: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        kind: str | None = Query(None, pattern="^(caption|event|speech)$", description="speech: what is said"),
        label: str | None = Query(None, max_length=MAX_LABEL_CHARS),
        modality: Literal["text", "visual", "both"] = Query(
            "both", description="captions and events (text), the frame index (visual), or both fused"
        ),
    ):
        """Moments matching ``q``, best first; ``offset`` pages through one ranking (1,000 deep), and
        ``next_offset`` is the next page's (null on the last). With ``group_by=video``: ``groups``, each a video
        with up to 3 of its best moments, videos ranked by their best. Moments found by their frames have kind
        ``frames``."""
        filters = Filters(video, after, before, kind, label)
        searcher = service.current()
        start = time.perf_counter()
        try:
            if group_by == "video":
                groups = searcher.search_by_video(q, k, offset, filters, modality=modality)
                hits = [h for g in groups for h in g.results]
                found = [g.__dict__ | {"results": [h.to_json() for h in g.results]} for g in groups]
            else:
                hits = searcher.search_page(q, k, offset, filters, modality)
                found = [h.to_json() for h in hits]
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
        metrics["search_s"].observe(time.perf_counter() - start)
        following = offset + k if len(found) == k and offset + 2 * k <= MAX_RANKED else None
        return {
            "query": q,
            "offset": offset,
            "next_offset": following,
            "groups" if group_by else "results": found,
            "notices": model_notices(h.model for h in hits),
        }

    @app.post(
        "/search/image",
        dependencies=guarded,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        responses=documented(404, 413, 415, 422, 503),
    )
    async def search_image(
        request: Request,
        k: int = Query(10, ge=1, le=MAX_RESULTS),
        video: str | None = Query(None, max_length=MAX_NAME_CHARS),
        after: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        before: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
    ):
        """Moments that look like the image in the body (JPEG, PNG, WebP...; at most 20 MiB), from the frame
        index, best first."""
        from starlette.concurrency import run_in_threadpool

        from pipeline.decode.image import decode_image, image_size

        if not is_image_type(request.headers.get("content-type", "")):
            raise HTTPException(415, "send the image itself as the body, with an image/* content type")
        body = await request.body()
        name = "the request's image"
        try:
            width, height = image_size(body, name)  # the header: bounds before any pixel is decoded
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        async with pixels_in_flight.hold(width * height):  # decoding and embedding, off the event loop
            try:
                picture = await run_in_threadpool(decode_image, body, name)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            filters = Filters(video, after, before)
            searcher = service.current()
            try:
                hits = await run_in_threadpool(searcher.search_image, picture, k, filters)
            except ValueError as exc:
                raise HTTPException(404, str(exc)) from None
        return {"results": [h.to_json() for h in hits], "notices": model_notices(h.model for h in hits)}

    pixels_in_flight = PixelBudget(MAX_IMAGE_PIXELS)


_MEDIA_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def is_image_type(content_type: str) -> bool:
    """Whether a Content-Type header names an image type: case-insensitive (RFC 9110), parameters ignored, a
    subtype required (a bare ``image/`` is not one)."""
    return bool(_MEDIA_TYPE.match(content_type.split(";", 1)[0].strip().lower()))


class PixelBudget:
    """At most ``limit`` pixels of image queries decoded at once across requests (one picture at the largest
    size, or many small ones): a burst of large pictures waits its turn instead of taking the server's memory.
    A request that waits longer than ``WAIT_S`` gets 503."""

    WAIT_S = 30.0

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._changed: asyncio.Condition | None = None  # made on the event loop, on first use

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int):
        self._changed = self._changed or asyncio.Condition()
        pixels = min(pixels, self.limit)
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.used + pixels <= self.limit), self.WAIT_S)
            except TimeoutError:
                raise HTTPException(503, "too many image queries at once; try again shortly") from None
            self.used += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.used -= pixels
                self._changed.notify_all()

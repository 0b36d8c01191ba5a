"""Answer routes of the HTTP service: ``POST /ask`` and ``GET /videos/{id}/summary``. The text model (the describe
model in text mode) loads on the first call and serves one request at a time."""

from __future__ import annotations

import threading

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from pipeline.answers import ask, summarize
from pipeline.describe.tiny import model_notices
from pipeline.limits import MAX_NAME_CHARS, MAX_QUERY_CHARS, MAX_TIME_S
from pipeline.search import Filters
from pipeline.timefmt import check_range
from workers.api_guard import documented


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    question: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S")
    video: str | None = Field(None, max_length=MAX_NAME_CHARS)
    after_s: float | None = Field(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False)
    before_s: float | None = Field(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False)


def add_answer_routes(app: FastAPI, service, guarded: list) -> None:
    lock = threading.Lock()

    def text_model():
        if service.text_model is None:
            from pipeline.describe.factory import make_text_model

            try:
                service.text_model = make_text_model(service.cfg.describe)
            except ValueError as exc:
                raise HTTPException(503, str(exc)) from None
        return service.text_model

    @app.post("/ask", dependencies=guarded, responses=documented(404, 413, 503))
    def ask_route(body: AskRequest):
        filters = Filters(body.video, body.after_s, body.before_s)
        searcher = service.current()
        with lock:
            try:
                answer = ask(body.question, searcher, text_model(), service.cfg.answer, filters)
            except ValueError as exc:  # no such video
                raise HTTPException(404, str(exc)) from None
        # each moment carries its video_id (the page plays moments by id) and the model that wrote it
        return answer.to_json() | {"notices": model_notices(m.model for m in answer.moments)}

    @app.get("/videos/{video_id}/summary", dependencies=guarded, responses=documented(404, 503))
    def summary_route(
        video_id: str,
        after_s: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
        before_s: float | None = Query(None, ge=0, le=MAX_TIME_S, allow_inf_nan=False),
    ):
        catalog = service.current().catalog
        if catalog.video(video_id) is None:
            raise HTTPException(404, f"no video with id {video_id!r}")
        check_range(after_s, before_s)  # before the text model loads
        with lock:
            try:
                return summarize(catalog, video_id, text_model(), service.cfg.answer, after_s, before_s).to_json()
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None

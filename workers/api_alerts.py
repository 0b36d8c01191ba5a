"""Alert routes of the HTTP service: the alerts raised so far, and a live feed of new ones as server-sent events."""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from pipeline.alerts import AlertStore

MAX_ID = 2**63 - 1  # SQLite's largest integer
POLL_S = 0.5  # the feed polls the alert store (alerts are written by another process: ingest or watch)


def add_alert_routes(app: FastAPI, index_dir, guarded: list) -> None:
    def store() -> AlertStore:
        return AlertStore(index_dir)

    @app.get("/alerts", dependencies=guarded)
    def alerts(after_id: int = Query(0, ge=0, le=MAX_ID), limit: int = Query(100, ge=1, le=1000)):
        s = store()
        try:
            return {
                "alerts": [a.to_json() for a in s.alerts(after_id, limit)],
                "queries": [q.__dict__ | {"webhook": bool(q.webhook)} for q in s.queries()],  # URLs may hold secrets
            }
        finally:
            s.close()

    @app.get("/alerts/stream", dependencies=guarded)
    async def alert_stream(request: Request, after_id: int = Query(0, ge=0, le=MAX_ID)):
        """Server-sent events, one per new alert (``id`` is the alert id; a reconnecting EventSource sends
        Last-Event-ID and resumes after it)."""
        resumed = request.headers.get("last-event-id", "")
        last = int(resumed) if resumed.isdigit() and int(resumed) <= MAX_ID else after_id

        async def events():
            nonlocal last
            s = store()
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    for alert in s.alerts(last):
                        last = alert.id
                        yield f"id: {alert.id}\nevent: alert\ndata: {json.dumps(alert.to_json())}\n\n"
                    await asyncio.sleep(POLL_S)
            finally:
                s.close()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

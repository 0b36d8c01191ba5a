"""`vidseek mcp`: an index's search, answers, videos and ingest as Model Context Protocol tools, for assistants and
agent frameworks, on the official SDK (``mcp``). Over stdio by default; ``--http`` serves streamable HTTP with the
API's rules (an API key for anything but loopback, sent as ``X-API-Key`` or a bearer token).

Every tool answers with plain data (times in seconds on the file's clock, as search gives them). A bad argument or
a video that does not exist is a tool error naming the reason; nothing reaches the client as a traceback. Ingest
takes only files under the media roots, as the API does, and runs as `vidseek ingest` does (one at a time).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from mcp.server.mcpserver.exceptions import ToolError  # a clear refusal: the client gets an error with its text

from pipeline.config import VidseekConfig
from pipeline.index.folder import Index
from pipeline.limits import check_page, check_text
from pipeline.search import Filters, Searcher

MAX_SEGMENTS = 2000  # captions and events one get_video call returns


class IndexTools:
    """What the tools share: the index (a searcher reopened when the writer saves), the text model, the roots."""

    def __init__(self, index: Path, cfg: VidseekConfig, media_roots: list[Path], play_url: str | None = None):
        self.index, self.cfg, self.play_url = Path(index), cfg, play_url.rstrip("/") if play_url else None
        self.media_roots = [Path(r).resolve() for r in media_roots]
        self._searcher, self._stamp, self._text_model = None, None, None
        self._lock, self._ingest_lock = threading.Lock(), threading.Lock()

    def searcher(self):
        stamp = Index(self.index).saved_at()
        with self._lock:
            if self._searcher is None or stamp != self._stamp:
                if not Index(self.index).exists:
                    raise ToolError(f"{self.index} holds no index yet; ingest something first")
                self._searcher, self._stamp = Searcher.open(self.index), stamp
            return self._searcher

    def text_model(self):
        with self._lock:
            if self._text_model is None:
                from pipeline.describe.factory import make_text_model

                try:
                    self._text_model = make_text_model(self.cfg.describe)
                except ValueError as exc:
                    raise ToolError(str(exc)) from None
            return self._text_model

    def moment(self, hit) -> dict:
        out = hit.to_json()
        if self.play_url:  # `vidseek serve` streams it; the media fragment starts the player at the moment
            out["url"] = f"{self.play_url}/videos/{hit.video_id}/stream#t={hit.start_s:.3f},{hit.end_s:.3f}"
        return out

    def video_id(self, video: str) -> str:
        return self.searcher().catalog.require_video(video).video_id

    def confined(self, raw: str) -> str:
        path = Path(raw).resolve()
        if not any(path.is_relative_to(root) for root in self.media_roots):
            raise ToolError(f"{raw!r} is outside the media roots ({', '.join(map(str, self.media_roots))})")
        return str(path)


def _summary(video) -> dict:
    """What the tools show of a video (a VideoRecord)."""
    keys = ("video_id", "path", "status", "duration_s", "num_chunks", "reason")
    return {k: getattr(video, k) for k in keys}


def build_server(tools: IndexTools):
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        name="vidseek",
        log_level="WARNING",  # stderr is the client's log: a refused argument is the client's news, not ours
        instructions="Search hours of indexed video to the second: find moments, answer questions citing them, "
        "summarise a time range, list and read videos, ingest new files.",
    )

    def guarded(call):
        try:
            return call()
        except ToolError:
            raise
        except ValueError as exc:  # no such video, a backwards range, an empty query
            raise ToolError(str(exc)) from None

    @server.tool()
    def search(
        query: str,
        k: int = 10,
        offset: int = 0,
        video: str | None = None,
        after_s: float | None = None,
        before_s: float | None = None,
        kind: Literal["caption", "event", "speech"] | None = None,
        label: str | None = None,
        modality: Literal["text", "visual", "both"] = "both",
    ) -> list[dict]:
        """Moments whose captions or events match the query, best first: video (path as ingested), video_id,
        start_s, end_s, score, text, kind, label, and a playable url when `vidseek serve` runs; ``offset`` skips
        that many (the next page). ``video`` keeps to one video (id, path or file name); after_s/before_s keep
        moments overlapping that window. Where the index has a frame index, ``modality`` searches the captions
        (text), what the frames look like (visual; kind ``frames``) or both, fused. The bounds are the API's:
        a query of at most 500 characters, k 1 to 100, offset + k at most 1,000."""
        guarded(lambda: (check_text(query), check_page(k, offset)))
        filters = guarded(lambda: Filters(video, after_s, before_s, kind, label))
        hits = guarded(lambda: tools.searcher().search_page(query, k, offset, filters, modality))
        return [tools.moment(h) for h in hits]

    @server.tool()
    def search_image(
        path: str, k: int = 10, video: str | None = None, after_s: float | None = None, before_s: float | None = None
    ) -> list[dict]:
        """Moments that look like the image at ``path`` (a file under the media roots: JPEG, PNG, WebP...), from
        the index's frame index, best first, as ``search`` returns them (kind ``frames``)."""
        from pipeline.decode.image import read_image

        guarded(lambda: check_page(k))
        picture = guarded(lambda: read_image(Path(tools.confined(path))))
        filters = guarded(lambda: Filters(video, after_s, before_s))
        return [tools.moment(h) for h in guarded(lambda: tools.searcher().search_image(picture, k, filters))]

    @server.tool()
    def list_videos(status: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        """The indexed videos (id, path, status, duration_s, chunks, reason, and ``state``/``state_note``: what the
        video is, e.g. cut short, cancelled, frames only), ``limit`` from ``offset``, with the total; ``status``:
        ingesting, complete, failed, cancelled, live or stopped."""
        from pipeline.index.lock import IndexLock

        if offset < 0 or not 1 <= limit <= 1000:
            raise ToolError("offset must be >= 0 and limit 1 to 1000")
        catalog = tools.searcher().catalog
        videos = catalog.videos(status, None, offset, limit)
        writing = IndexLock(tools.index).held_elsewhere()
        listed = [_summary(v) | dict(zip(("state", "state_note"), v.state(writing), strict=True)) for v in videos]
        return {"total": catalog.count_videos(status), "videos": listed}

    @server.tool()
    def get_video(video: str, after_s: float | None = None, before_s: float | None = None) -> dict:
        """A video's row and its captions and events overlapping (after_s, before_s), in time order (at most
        2,000; ``truncated`` says when there were more)."""
        guarded(lambda: Filters(video, after_s, before_s))  # the times' bounds and order
        catalog = tools.searcher().catalog
        found = guarded(lambda: catalog.require_video(video))
        low, high = after_s if after_s is not None else -1.0, before_s if before_s is not None else float("inf")
        segments = [s for s in catalog.timeline(found.video_id) if s["end_s"] > low and s["start_s"] < high]
        return {
            "video": _summary(found),
            "segments": segments[:MAX_SEGMENTS],
            "truncated": len(segments) > MAX_SEGMENTS,
        }

    @server.tool()
    def ask(
        question: str, video: str | None = None, after_s: float | None = None, before_s: float | None = None
    ) -> dict:
        """An answer from the indexed moments; each claim cites [video HH:MM:SS-HH:MM:SS], and a citation that is
        not among the retrieved moments is marked UNVERIFIED. Returns the answer, the moments and citations."""
        from pipeline.answers import ask as answer_question

        guarded(lambda: check_text(question, "question"))
        filters = guarded(lambda: Filters(video, after_s, before_s))
        searcher = tools.searcher()
        answer = guarded(lambda: answer_question(question, searcher, tools.text_model(), tools.cfg.answer, filters))
        return answer.to_json()

    @server.tool()
    def summarize(video: str, after_s: float | None = None, before_s: float | None = None) -> dict:
        """A summary of a video's time range with timestamps, built hierarchically from its chunk captions."""
        from pipeline.answers import summarize as summarize_range

        guarded(lambda: Filters(video, after_s, before_s))  # the times' bounds and order
        catalog = tools.searcher().catalog
        video_id = guarded(lambda: catalog.require_video(video)).video_id
        model, cfg = tools.text_model(), tools.cfg.answer
        return guarded(lambda: summarize_range(catalog, video_id, model, cfg, after_s, before_s)).to_json()

    @server.tool()
    def ingest(paths: list[str]) -> dict:
        """Ingest files or folders under the media roots, as `vidseek ingest` does (finished videos are skipped,
        interrupted ones resume); returns each video's outcome. One ingest at a time."""
        from pipeline.describe.factory import resolve_model
        from pipeline.index.lock import IndexBusy
        from workers.ingest_session import IngestSession

        if not paths:
            raise ToolError("no paths given")
        confined = [tools.confined(p) for p in paths]
        cfg = tools.cfg.model_copy(update={"describe": resolve_model(tools.cfg.describe)[0]})
        with tools._ingest_lock:
            try:
                with IngestSession.open(tools.index, cfg) as session:
                    report = session.ingest(confined, roots=tools.media_roots)
            except IndexBusy as exc:
                raise ToolError(str(exc)) from None
        return {"exit_code": report.exit_code, "videos": [r.as_dict() for r in report.results]}

    return server


def run_http(server, host: str, port: int, api_key: str | None, allowed_hosts: set[str] | None) -> None:
    """Streamable HTTP at ``/mcp`` behind the API's guard: Host names, the API key (``X-API-Key``) checked before
    a body is read, bodies bounded."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from workers.api_guard import Guard

    # the guard checks Host names (it knows --allowed-host); the SDK's own check would refuse those
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(host=host, transport_security=security, json_response=True)
    guarded = Guard(app, api_key=api_key, allowed_hosts=allowed_hosts, public_paths=set(), max_body_bytes=1 << 20)
    uvicorn.run(guarded, host=host, port=port, log_level="warning")

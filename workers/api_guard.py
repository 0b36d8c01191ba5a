"""The service's outer wall: pure ASGI middleware, so it acts before any route reads a request.

- ``Host`` must be one of the names the server answers to (those it was bound to, or ``--allowed-host``): a
  loopback server without a key is otherwise open to DNS rebinding from any web page
- a path or query holding a NUL byte is refused (400)
- the API key (``X-API-Key``, or ``?key=`` on the GET routes the browser loads itself: ``KEY_IN_URL``) is checked
  before a body is read;
  the page's own files, ``/healthz`` and the API docs stay open
- a body is counted as it streams, chunked or not, and refused past ``max_body_bytes`` (413) without reading on
- every error answer is JSON (``{"error": ...}``), also those Starlette writes itself (unknown routes, Range)
- every answer carries a Content-Security-Policy (no inline script), ``nosniff`` and no referrer (media URLs
  may carry the key)
"""

from __future__ import annotations

import hmac
import json
import re
from http import HTTPStatus
from urllib.parse import parse_qs, unquote_to_bytes

from pydantic import BaseModel, Field

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load their scripts from a CDN and start them with an inline script
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = {"/docs", "/docs/oauth2-redirect", "/redoc"}
# ``?key=`` is taken only here: what the browser loads itself (<video>, <img>, <track>, EventSource), which cannot
# send a header. Anywhere else a key in the URL (kept by logs and histories) is not looked at.
KEY_IN_URL = re.compile(r"^/videos/[^/]+/(?:stream|thumbnail|captions\.vtt)$|^/alerts/stream$")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class ErrorBody(BaseModel):
    error: str = Field(..., description="what went wrong, in one line")


def documented(*codes: int) -> dict:
    """OpenAPI ``responses`` for error statuses, each answered as ``ErrorBody``."""
    why = {
        400: "a bad request: a Host not served here, a NUL byte, or nothing in the range asked for",
        401: "missing or wrong API key",
        403: "the path is outside the media roots",
        404: "no such video or job, or the index has no frame index for a visual search",
        409: "the index is busy (an ingest job writes it), or the job has already ended",
        413: "request body too large",
        415: "the body is not of the media type the route takes",
        416: "the Range cannot be satisfied",
        422: "a parameter or the body is invalid",
        429: "too many ingest jobs are waiting",
        503: "the index is missing or damaged",
    }
    return {code: {"model": ErrorBody, "description": why[code]} for code in codes}


# A Host header (RFC 9110 7.2): a DNS name or IPv4 address, or an IPv6 literal in brackets, then an optional port;
# nothing else (no user info, path or second host: '127.0.0.1:8000@evil.example' is no Host served here)
_HOST_HEADER = re.compile(
    r"^(?:(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?)|\[(?P<ipv6>[0-9a-f:.]+)\])(?::[0-9]{1,5})?$"
)


def host_name(value: str) -> str:
    """The name in a Host header or a bind address: 'example.com:8000' -> 'example.com', '[::1]:8000' -> '::1',
    '::1' -> '::1'; '' where ``value`` is neither (what follows the port, user info, odd characters)."""
    value = value.strip().lower()
    if (parsed := _HOST_HEADER.match(value)) is not None:
        return (parsed["name"] or parsed["ipv6"]).rstrip(".")
    if _bare_ipv6(value):  # a bind address such as '::1' or '::'
        return value
    return ""


def _bare_ipv6(value: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


def allowed_hosts_for(bind: str, extra: list[str]) -> set[str] | None:
    """The Host names a server bound to ``bind`` answers: loopback names for a loopback bind, the address itself
    otherwise, plus ``extra`` (``--allowed-host``). None (any) for a wildcard bind without ``extra``: such a server
    needs an API key anyway."""
    names = {host_name(h) for h in extra}
    if host_name(bind) in LOOPBACK_NAMES:
        return names | LOOPBACK_NAMES
    if host_name(bind) in ("0.0.0.0", "::", ""):
        return names or None
    return names | {host_name(bind)}


class Guard:
    def __init__(
        self,
        app,
        *,
        api_key: str | None,
        allowed_hosts: set[str] | None,
        public_paths: set[str],
        max_body_bytes: int,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        """``body_limits``: a larger bound for the paths that take files (an image query)."""
        self.app, self.api_key, self.allowed_hosts = app, api_key, allowed_hosts
        self.public_paths, self.max_body_bytes, self.body_limits = public_paths, max_body_bytes, body_limits or {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _secured(send, scope["path"], json_errors=scope["method"] != "HEAD")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _send_json(send, *refusal)
            return
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") or "transfer-encoding" in headers:
            limit = self.body_limits.get(scope["path"], self.max_body_bytes)
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await _send_json(send, 413, f"request body over {limit} bytes")
                return
            body = await _read_body(receive, limit)
            if body is None:
                await _send_json(send, 413, f"request body over {limit} bytes")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        given_host = headers.get("host", "")
        host = host_name(given_host)
        if not host and given_host:
            return 400, f"the Host header {given_host[:100]!r} is not a host name with an optional port"
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return 400, f"host {host[:100]!r} is not served here; start `vidseek serve --allowed-host NAME` to allow it"
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"]):
            return 400, "the path or query holds a NUL byte"
        if self.api_key is None or scope["path"] in self.public_paths:
            return None
        given = headers.get("x-api-key")
        if given is None and scope["method"] in ("GET", "HEAD") and KEY_IN_URL.match(scope["path"]):
            keys = parse_qs(scope["query_string"].decode("latin-1")).get("key", [""])
            given = keys[0]
        if not hmac.compare_digest((given or "").encode("utf-8", "replace"), self.api_key.encode()):
            return 401, "missing or wrong X-API-Key header"
        return None


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` bytes (the rest is never read)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body read already, then passes on (a disconnect)."""
    given = False

    async def replay():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _secured(send, path: str, json_errors: bool):
    """``send`` adding the security headers, and rewriting a non-JSON error answer as ``{"error": its text}``."""
    csp = (DOCS_CSP if path in DOCS_PATHS else PAGE_CSP).encode()
    held: dict = {}

    async def wrapped(message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
            headers += [
                (b"content-security-policy", csp),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
            ]
            message = {**message, "headers": headers}
            content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
            if json_errors and message["status"] >= 400 and not content_type.startswith(b"application/json"):
                held.update(start=message, body=b"")
                return
        elif message["type"] == "http.response.body" and "start" in held:
            held["body"] += message.get("body", b"")
            if message.get("more_body"):
                return
            start = held.pop("start")
            text = held["body"][:500].decode("utf-8", "replace").strip() or HTTPStatus(start["status"]).phrase
            payload = json.dumps({"error": text}).encode()
            kept = [(k, v) for k, v in start["headers"] if k.lower() not in (b"content-type", b"content-length")]
            kept += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({**start, "headers": kept})
            message = {"type": "http.response.body", "body": payload}
        await send(message)

    return wrapped

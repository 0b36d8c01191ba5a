"""The bounds of a request, one set for the CLI, the HTTP API and the MCP tools: what one surface refuses, the
others refuse too, with the same words."""

from __future__ import annotations

import math

MAX_QUERY_CHARS = 500  # a search query or a question
MAX_RESULTS = 100  # results (or videos) one request returns
MAX_RANKED = 1000  # the deepest a page (offset + k) reaches into one ranking
MAX_TIME_S = 1e11  # seconds: past any file, and past the year 5000 for live sources' Unix times
MAX_NAME_CHARS = 4096  # a video's id, path or file name
MAX_LABEL_CHARS = 200


def check_text(text: str, what: str = "query") -> str:
    """A query or question with something in it, at most ``MAX_QUERY_CHARS``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the {what} is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"the {what} has {len(text)} characters, more than {MAX_QUERY_CHARS}")
    return text


def check_time(value: float | None, name: str) -> None:
    """A time filter: finite, from 0 to ``MAX_TIME_S`` seconds."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_TIME_S):
        raise ValueError(f"{name} must be a time from 0 to {MAX_TIME_S:.0e} seconds, got {value}")


def check_page(k: int, offset: int = 0) -> None:
    if not 1 <= k <= MAX_RESULTS:
        raise ValueError(f"k must be 1 to {MAX_RESULTS}, got {k}")
    if offset < 0 or offset + k > MAX_RANKED:
        raise ValueError(f"offset must be >= 0 and offset + k at most {MAX_RANKED}, got offset {offset}")


def check_length(value: str | None, name: str, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise ValueError(f"{name} has {len(value)} characters, more than {limit}")

"""How a time in the index reads. Files count seconds from their start; live sources store Unix time (UTC), so
a value past 2000-01-01 is a wall-clock time: no file is thirty years long."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

WALL_CLOCK_FROM_S = 946_684_800.0  # 2000-01-01T00:00:00Z


def is_wall_clock(seconds: float) -> bool:
    return seconds >= WALL_CLOCK_FROM_S


def hhmmss(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_time(seconds: float) -> str:
    """'00:01:35' for a file, '2026-11-24T23:59:01Z' for a live source."""
    if is_wall_clock(seconds):
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return hhmmss(seconds)


def format_span(start_s: float, end_s: float) -> str:
    """'00:01:35-00:02:35', or two full UTC timestamps for a live source."""
    return f"{format_time(start_s)}-{format_time(end_s)}"


_CLOCK = re.compile(r"\d+(\.\d+)?")


def parse_time(text: str | None) -> float | None:
    """Seconds from '95', '95.5', '1:35', '00:01:35', or a UTC time '2026-11-24T23:59:01Z' (live sources).
    Minutes and seconds after the first field are below 60; nothing negative, 'nan' or 'inf'."""
    if text is None:
        return None
    text = text.strip()
    shown = repr(text[:40] + ("..." if len(text) > 40 else ""))
    if "T" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{shown} is not an ISO time such as 2026-11-24T23:59:01Z") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    parts = text.split(":")
    if len(parts) > 3 or not all(_CLOCK.fullmatch(p) for p in parts):
        raise ValueError(f"{shown} is not a time: give seconds (95.5) or HH:MM:SS (00:01:35)")
    if any(float(p) >= 60 for p in parts[1:]):
        raise ValueError(f"{shown} is not a time: minutes and seconds go up to 59")
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    if not math.isfinite(total):
        raise ValueError(f"{shown} is too large a time")
    return total


class TimeRangeError(ValueError):
    """A time window that ends before it starts (the service answers it with 422)."""


def check_range(after_s: float | None, before_s: float | None) -> None:
    """A range filter means "overlaps [after, before]": after past before matches nothing, so it is a typo."""
    if after_s is not None and before_s is not None and after_s > before_s:
        raise TimeRangeError(
            f"after ({format_time(after_s)}) is later than before ({format_time(before_s)}): "
            "no moment can fall in that range"
        )

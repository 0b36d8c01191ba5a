"""A video's captions, events and speech as subtitles (SRT, WebVTT) or data (JSON, CSV), in time order.

A live source's times are UTC; its subtitles count from its first chunk (a WebVTT note says when that was), and
its JSON and CSV keep the UTC seconds.
"""

from __future__ import annotations

import csv
import io
import json

from pipeline.timefmt import format_time, is_wall_clock

FORMATS = ("srt", "vtt", "json", "csv")


def _clock(seconds: float, separator: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"


def _cue_text(seg: dict) -> str:
    return f"[{seg['label'] or 'event'}] {seg['text']}" if seg["kind"] == "event" else seg["text"]


def render(segments: list[dict], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(segments, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["start_s", "end_s", "kind", "label", "text"])
        writer.writeheader()
        writer.writerows(segments)
        return buf.getvalue()
    sep = "," if fmt == "srt" else "."
    origin = segments[0]["start_s"] if segments and is_wall_clock(segments[0]["start_s"]) else 0.0
    # a cue ends 1 ms early: spans are half-open, and a player shows a cue ending at 20.000 alongside the next
    cues = [
        f"{_clock(s['start_s'] - origin, sep)} --> {_clock(max(s['start_s'], s['end_s'] - 0.001) - origin, sep)}\n"
        f"{_cue_text(s)}\n"
        for s in segments
    ]
    if fmt == "srt":
        return "\n".join(f"{i}\n{cue}" for i, cue in enumerate(cues, 1))
    note = f"NOTE times count from {format_time(origin)}\n\n" if origin else ""
    return "WEBVTT\n\n" + note + "\n".join(cues)

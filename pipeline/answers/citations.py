"""Citations in an answer: ``[video HH:MM:SS-HH:MM:SS]`` (UTC ``...T..Z`` times for live sources). One is valid
only when it names a retrieved moment's video and lies within that moment (1 s of slack for rounding); anything
else is flagged, so an answer never presents an unsupported claim as fact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.timefmt import format_span
from pipeline.types import Hit

SLACK_S = 1.0
_TIME = r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|\d+:\d\d:\d\d)"
CITATION = re.compile(rf"\[(?P<video>[^\[\]]+?)\s+(?P<start>{_TIME})\s*-\s*(?P<end>{_TIME})\]")


def moment_label(hit: Hit) -> str:
    """How a moment is written in prompts and citations: '[bikes.mp4 00:00:05-00:00:10]'."""
    return f"[{Path(hit.video).name} {format_span(hit.start_s, hit.end_s)}]"


def _seconds(text: str) -> float:
    if "T" in text:
        return datetime.fromisoformat(text).timestamp()
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


@dataclass(frozen=True)
class Citation:
    text: str  # as written in the answer
    video: str  # the retrieved moment's full path when valid, else the name as written
    start_s: float
    end_s: float
    moment: int | None  # index into the retrieved moments; None: not supported by them

    @property
    def valid(self) -> bool:
        return self.moment is not None


def check_citations(answer: str, moments: list[Hit]) -> list[Citation]:
    out = []
    for m in CITATION.finditer(answer):
        name, start, end = m["video"].strip(), _seconds(m["start"]), _seconds(m["end"])
        match = next(
            (
                i
                for i, hit in enumerate(moments)
                if Path(hit.video).name == name
                and start >= hit.start_s - SLACK_S
                and end <= hit.end_s + SLACK_S
                and start <= end
            ),
            None,
        )
        video = moments[match].video if match is not None else name
        out.append(Citation(m.group(0), video, start, end, match))
    return out


def flag_unsupported(answer: str, citations: list[Citation]) -> str:
    """The answer with each unsupported citation marked, so it reads as unverified rather than as fact."""
    for c in citations:
        if not c.valid:
            answer = answer.replace(c.text, f"[UNVERIFIED: {c.text[1:-1]} is not among the retrieved moments]")
    return answer

"""`vidseek summarize`: a summary of a video's time range built from its chunk captions and what is said,
hierarchically.

Level 0 is the captions and speech in time order, each as ``[start-end] text`` (``said: "..."`` for speech).
While the lines do not fit one model call
(``answer.context_tokens``), consecutive lines are grouped into calls that do fit, and each group becomes one
line covering its time range. Each level at least halves the number of lines, so hours of footage take a few
levels; the last call writes the summary with timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config import AnswerConfig
from pipeline.describe.base import TextModel
from pipeline.index.catalog import Catalog
from pipeline.timefmt import check_range, format_span

GROUP_INSTRUCTIONS = (
    "Below are descriptions of consecutive stretches of one video, and what is said in it, each with its time "
    "range. Summarize what happens and what is said in two or three sentences, keeping the times of the main events."
)
FINAL_INSTRUCTIONS = (
    "Below are descriptions of consecutive stretches of one video, and what is said in it, each with its time "
    "range. Write a summary of the whole range: a few short paragraphs in time order, each starting with its "
    "[start-end] time range."
)


@dataclass(frozen=True)
class Line:
    start_s: float
    end_s: float
    text: str

    def render(self) -> str:
        return f"[{format_span(self.start_s, self.end_s)}] {' '.join(self.text.split())}\n"


@dataclass
class Summary:
    video: str
    start_s: float
    end_s: float
    text: str
    levels: list[list[Line]] = field(default_factory=list)  # levels[0]: the captions; each next: the group lines
    prompt_tokens: list[int] = field(default_factory=list)  # of every model call, in order

    def to_json(self) -> dict:
        return {
            "video": self.video,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "summary": self.text,
            "levels": [len(level) for level in self.levels],
            "model_calls": len(self.prompt_tokens),
        }


class _Caller:
    def __init__(self, model: TextModel, budget: int) -> None:
        self.model, self.budget, self.prompt_tokens = model, budget, []

    def fits(self, instructions: str, lines: list[Line]) -> bool:
        return self.tokens(instructions, lines) <= self.budget

    def tokens(self, instructions: str, lines: list[Line]) -> int:
        return self.model.count_tokens(self.prompt(instructions, lines))

    @staticmethod
    def prompt(instructions: str, lines: list[Line]) -> str:
        return f"{instructions}\n\n{''.join(line.render() for line in lines)}\nSummary:"

    def __call__(self, instructions: str, lines: list[Line]) -> str:
        prompt = self.prompt(instructions, lines)
        self.prompt_tokens.append(self.model.count_tokens(prompt))
        return self.model.complete(prompt)


def _shorten(line: Line, model: TextModel, max_tokens: int) -> Line:
    """A line too long to pair with another is cut (by characters, checked in tokens)."""
    text = line.text
    while model.count_tokens(line.render()) > max_tokens and len(text) > 20:
        text = text[: int(len(text) * 0.8)]
        line = Line(line.start_s, line.end_s, text + "...")
    return line


def _groups(lines: list[Line], call: _Caller) -> list[list[Line]]:
    """Consecutive lines in groups that fit one call; every group has at least two lines (but a last single)."""
    groups, current = [], []
    for line in lines:
        if current and len(current) >= 2 and not call.fits(GROUP_INSTRUCTIONS, [*current, line]):
            groups.append(current)
            current = []
        current.append(line)
    if current:
        groups.append(current)
    return groups


def summarize(
    catalog: Catalog,
    video_id: str,
    model: TextModel,
    cfg: AnswerConfig,
    after_s: float | None = None,
    before_s: float | None = None,
) -> Summary:
    video = catalog.video(video_id)
    if video is None:
        raise ValueError(f"no indexed video with id {video_id!r}")
    check_range(after_s, before_s)
    found = catalog.captions_between(video_id, after_s, before_s, ("caption", "speech"))
    lines = [Line(c.start_s, c.end_s, f'said: "{c.text}"' if c.kind == "speech" else c.text) for c in found]
    if not lines:
        raise ValueError(f"{video.path} has no captions in the requested range")
    call = _Caller(model, cfg.context_tokens)
    # two lines and the instructions must fit one call, or grouping cannot shrink a level
    per_line = (cfg.context_tokens - model.count_tokens(call.prompt(GROUP_INSTRUCTIONS, []))) // 2
    if per_line < 32:
        raise ValueError(f"answer.context_tokens ({cfg.context_tokens}) is too small for summaries")
    levels = [lines]
    while not call.fits(FINAL_INSTRUCTIONS, lines):
        lines = [_shorten(line, model, per_line) for line in lines]
        lines = [
            group[0] if len(group) == 1 else Line(group[0].start_s, group[-1].end_s, call(GROUP_INSTRUCTIONS, group))
            for group in _groups(lines, call)
        ]
        levels.append(lines)
    text = call(FINAL_INSTRUCTIONS, lines)
    return Summary(video.path, levels[0][0].start_s, levels[0][-1].end_s, text, levels, call.prompt_tokens)

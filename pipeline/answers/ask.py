"""`vidseek ask`: retrieve the moments a question is about, give them (with times) to the model, and check that
the answer cites only those moments."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.answers.citations import Citation, check_citations, flag_unsupported, moment_label
from pipeline.config import AnswerConfig
from pipeline.describe.base import TextModel
from pipeline.search import Filters, Searcher
from pipeline.types import Hit

ASK_INSTRUCTIONS = (
    "You answer questions about video footage using only the moments listed below. Each moment is written as "
    "[video start-end] followed by what was seen then. Cite the moment behind every claim by copying its "
    "[video start-end] label exactly. If the moments do not answer the question, say so; do not guess."
)


@dataclass
class Answer:
    question: str
    text: str  # the model's answer with unsupported citations marked UNVERIFIED
    raw: str  # the model's answer as given
    moments: list[Hit]
    citations: list[Citation] = field(default_factory=list)
    prompt: str = ""

    @property
    def unsupported(self) -> list[Citation]:
        return [c for c in self.citations if not c.valid]

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "moments": [m.to_json() | {"label": moment_label(m)} for m in self.moments],
            "citations": [c.__dict__ | {"valid": c.valid} for c in self.citations],
            "unsupported": [c.text for c in self.unsupported],
        }


def build_ask_prompt(question: str, moments: list[Hit], model: TextModel, budget_tokens: int) -> tuple[str, list[Hit]]:
    """The prompt and the moments that fit in ``budget_tokens`` (best first: the retrieval order)."""
    head = f"{ASK_INSTRUCTIONS}\n\nMoments:\n"
    tail = f"\nQuestion: {question}\nAnswer:"
    used = model.count_tokens(head + tail)
    lines, kept = [], []
    for hit in moments:
        line = f"{moment_label(hit)} {hit.text}\n"
        cost = model.count_tokens(line)
        if used + cost > budget_tokens:
            break
        lines.append(line)
        kept.append(hit)
        used += cost
    return head + "".join(lines) + tail, kept


def ask(question: str, searcher: Searcher, model: TextModel, cfg: AnswerConfig, filters: Filters | None = None):
    if not question.strip():
        raise ValueError("ask needs a question")
    hits = searcher.search(question, k=cfg.moments, filters=filters)
    prompt, moments = build_ask_prompt(question, hits, model, cfg.context_tokens)
    if not moments:
        return Answer(question, "Nothing in the index matches this question.", "", [], [], prompt)
    raw = model.complete(prompt)
    citations = check_citations(raw, moments)
    return Answer(question, flag_unsupported(raw, citations), raw, moments, citations, prompt)

"""Answers over footage: retrieval feeds the prompt, citations are parsed and checked, long ranges are summarized
level by level within the context budget. A scripted text model makes the mechanics checkable; the tiny random
Qwen3-VL runs the real text generate path (its text is noise, so only the mechanics are asserted)."""

from __future__ import annotations

import re

import pytest

from pipeline.answers import ask, check_citations, moment_label, summarize
from pipeline.config import AnswerConfig, load_config
from pipeline.index import Catalog, IndexWriter
from pipeline.search import Filters, Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Hit

SCENES = [
    "A red truck arrives at the warehouse gate and stops.",
    "Workers unload boxes from the red truck onto pallets.",
    "A forklift carries the pallets into the warehouse.",
    "The empty truck drives away through the gate.",
    "A cat walks across the empty yard.",
    "Rain starts falling on the parking lot.",
]


class ScriptedModel:
    """Two characters per token; cites the first moment it was given, and one that was never retrieved."""

    name = "scripted"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def load(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text) // 2 + 1

    def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if "Question:" in prompt:
            first = re.search(r"^(\[[^\]]+\])", prompt.split("Moments:\n", 1)[1], re.M).group(1)
            return f"The truck arrives {first}. It later flies away [yard.mp4 05:00:00-05:01:00]."
        lines = [line for line in prompt.splitlines() if line.startswith("[")]
        return f"{len(lines)} stretches: trucks, workers and a cat, from {lines[0].split(']')[0][1:]}."


@pytest.fixture
def index(tmp_path, embedder):
    """One hour of a yard camera in 60 s chunks, cycling through the scenes."""
    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("yard", "/footage/yard.mp4", 1, 3600.0, "test", {})
    writer.write_batch(
        [
            ChunkDescription(ChunkSpan("yard", "/footage/yard.mp4", s, s + 60), SCENES[i % len(SCENES)], model="t")
            for i, s in enumerate(range(0, 3600, 60))
        ]
    )
    writer.finish_video("yard", "complete", num_chunks=60)
    writer.close()
    return tmp_path


def test_retrieved_moments_feed_the_prompt_and_citations_are_checked(index, embedder):
    model = ScriptedModel()
    answer = ask("when does the red truck arrive?", Searcher(index, embedder), model, AnswerConfig(moments=5))
    (prompt,) = model.prompts
    assert 1 <= len(answer.moments) <= 5 and "red truck arrives" in answer.moments[0].text
    for hit in answer.moments:
        assert f"{moment_label(hit)} {hit.text}" in prompt  # every retrieved moment, with its times, in the prompt
    assert prompt.rstrip().endswith("Question: when does the red truck arrive?\nAnswer:")
    valid, invalid = answer.citations
    assert valid.valid and valid.video == "/footage/yard.mp4" and valid.moment == 0
    assert (valid.start_s, valid.end_s) == (answer.moments[0].start_s, answer.moments[0].end_s)
    assert not invalid.valid and answer.unsupported == [invalid]
    assert "[UNVERIFIED: yard.mp4 05:00:00-05:01:00" in answer.text and moment_label(answer.moments[0]) in answer.text


def test_citation_rules():
    moments = [
        Hit("/a/cam.mp4", 60.0, 120.0, 0.9, "x", "caption"),
        Hit("/b/live", 1_795_000_000.0, 1_795_000_002.0, 0.8, "y", "caption"),
    ]
    text = (
        "[cam.mp4 00:01:00-00:02:00] whole; [cam.mp4 00:01:10-00:01:20] inside; [cam.mp4 00:03:00-00:04:00] outside; "
        "[other.mp4 00:01:00-00:02:00] wrong video; [live 2026-11-18T11:06:40Z-2026-11-18T11:06:42Z] live"
    )
    assert [c.valid for c in check_citations(text, moments)] == [True, True, False, False, True]


def test_filters_and_budget_bound_the_moments(index, embedder):
    model = ScriptedModel()
    cfg = AnswerConfig(moments=50, context_tokens=256)
    answer = ask("truck", Searcher(index, embedder), model, cfg, Filters(after_s=1800))
    assert all(m.end_s > 1800 for m in answer.moments)
    assert model.count_tokens(answer.prompt) <= 256 and len(answer.moments) < 50


def test_long_range_is_summarized_hierarchically_within_budget(index):
    model = ScriptedModel()
    catalog = Catalog(index)
    summary = summarize(catalog, "yard", model, AnswerConfig(context_tokens=300))
    assert [len(level) for level in summary.levels][0] == 60 and len(summary.levels) >= 3
    assert all(len(b) <= (len(a) + 1) // 2 + 1 for a, b in zip(summary.levels, summary.levels[1:], strict=False))
    assert max(summary.prompt_tokens) <= 300 and len(summary.prompt_tokens) == len(model.prompts)
    assert (summary.start_s, summary.end_s) == (0.0, 3600.0) and summary.text.startswith(
        f"{len(summary.levels[-1])} stretches"
    )
    ranged = summarize(catalog, "yard", ScriptedModel(), AnswerConfig(context_tokens=300), 600, 1200)
    assert (ranged.start_s, ranged.end_s) == (600.0, 1200.0) and len(ranged.levels[0]) == 10
    with pytest.raises(ValueError, match=r"after \(00:20:00\) is later than before \(00:10:00\)"):
        summarize(catalog, "yard", ScriptedModel(), AnswerConfig(context_tokens=300), 1200, 600)


def test_tiny_qwen3vl_runs_the_text_path(index, embedder):
    """The real processor + generate in text mode; tokens counted by the real tokenizer."""
    from pipeline.describe import make_describer

    cfg = load_config("tiny.yaml")
    model = make_describer(cfg.describe)
    answer = ask(
        "when does the red truck arrive?",
        Searcher(index, embedder),
        model,
        cfg.answer.model_copy(update={"moments": 4}),
    )
    assert isinstance(answer.raw, str) and len(answer.moments) == 4
    assert all(c.valid == (c.moment is not None) for c in answer.citations)
    summary = summarize(Catalog(index), "yard", model, AnswerConfig(context_tokens=1024), 0, 1200)
    assert max(summary.prompt_tokens) <= 1024 and isinstance(summary.text, str)


def test_ask_and_summarize_commands(index):
    import json

    from tests.test_cli import vidseek

    asked = vidseek("ask", "when does the red truck arrive?", "--index", index, "--config", "tiny.yaml", "--json")
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    assert body["question"] == "when does the red truck arrive?" and body["moments"]
    assert body["moments"][0]["label"].startswith("[yard.mp4 ") and "its text is noise" in asked.stderr
    table = vidseek(
        "ask", "truck", "--index", index, "--config", "tiny.yaml", "--video", "yard.mp4", "--after", "00:30:00"
    )
    assert table.returncode == 0 and "Moments given to the model" in table.stdout
    summary = vidseek(
        "summarize",
        "yard.mp4",
        "--index",
        index,
        "--config",
        "tiny.yaml",
        "--set",
        "answer.context_tokens=512",
        "--json",
    )
    assert summary.returncode == 0, summary.stderr
    body = json.loads(summary.stdout)
    assert body["video"] == "/footage/yard.mp4" and body["levels"][0] == 60 and len(body["levels"]) >= 2
    missing = vidseek("summarize", "nope.mp4", "--index", index, "--config", "tiny.yaml")
    assert missing.returncode == 2 and "no indexed video matches" in missing.stderr

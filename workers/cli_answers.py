"""``vidseek ask`` and ``vidseek summarize``: the describe model in text mode over what the index holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from workers.cli_common import (
    IndexOpt,
    err,
    fail,
    labelled,
    load_config_or_exit,
    out,
    parse_time,
    require_text,
    with_runnable_model,
)


def _text_model(cfg):
    from pipeline.describe.factory import make_text_model

    try:
        return make_text_model(with_runnable_model(cfg).describe)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _searcher(index: Path):
    from pipeline.search import Searcher

    return Searcher.open(index)  # NotAnIndex: exit 2 (main)


def ask(
    question: str = typer.Argument(..., help="a question about the footage"),
    index: Path = IndexOpt,
    video: str = typer.Option(None, "--video", help="only this video (path as ingested, file name or id)"),
    after: str = typer.Option(None, "--after", help="only moments ending after this time"),
    before: str = typer.Option(None, "--before", help="only moments starting before this time"),
    config: str = typer.Option(None, "--config", "-c"),
    set_: list[str] = typer.Option([], "--set"),
    as_json: bool = typer.Option(False, "--json", help="the answer, moments and citations as one JSON object"),
) -> None:
    """Answer a question from the indexed moments; every claim cites [video HH:MM:SS-HH:MM:SS], and citations
    that are not among the retrieved moments are marked UNVERIFIED."""
    from pipeline.answers import ask as answer_question
    from pipeline.answers import moment_label
    from pipeline.search import Filters

    require_text(question, "question")
    try:
        filters = Filters(video, parse_time(after), parse_time(before))
    except ValueError as exc:
        raise fail(str(exc)) from None
    cfg = load_config_or_exit(config, set_)
    searcher = _searcher(index)
    try:
        answer = answer_question(question, searcher, _text_model(cfg), cfg.answer, filters)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(answer.to_json()) + "\n")
        return
    out.print(answer.text, highlight=False, soft_wrap=True)
    out.print("\nMoments given to the model", style="bold")
    cited = {c.moment for c in answer.citations if c.valid}
    for i, hit in enumerate(answer.moments):
        mark = "*" if i in cited else " "
        out.print(f"{mark} {moment_label(hit)} {hit.text}", highlight=False, soft_wrap=True)
    for c in answer.unsupported:
        err.print(labelled("unsupported citation", "red", f"{c.text}: not among the retrieved moments"), soft_wrap=True)


def summarize(
    video: str = typer.Argument(..., help="the video (path as ingested, file name or id)"),
    index: Path = IndexOpt,
    after: str = typer.Option(None, "--after", help="from this time (s, HH:MM:SS or UTC for live sources)"),
    before: str = typer.Option(None, "--before", help="until this time"),
    config: str = typer.Option(None, "--config", "-c"),
    set_: list[str] = typer.Option([], "--set"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Summarize a video's time range with timestamps, built hierarchically from its chunk captions so hours of
    footage fit the model's context (answer.context_tokens per call)."""
    from pipeline.answers import summarize as summarize_range
    from pipeline.timefmt import check_range

    after_s, before_s = parse_time(after), parse_time(before)
    try:
        check_range(after_s, before_s)  # before minutes of loading the model
    except ValueError as exc:
        raise fail(str(exc)) from None
    cfg = load_config_or_exit(config, set_)
    catalog = _searcher(index).catalog
    video_id = catalog.require_video(video).video_id
    try:
        summary = summarize_range(catalog, video_id, _text_model(cfg), cfg.answer, after_s, before_s)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json()) + "\n")
        return
    out.print(summary.text, highlight=False, soft_wrap=True)
    levels = " -> ".join(str(len(level)) for level in summary.levels)
    err.print(f"{summary.video}: {levels} lines, {len(summary.prompt_tokens)} model calls", soft_wrap=True)

"""Ingest progress (videos, chunks, footage seconds, ETA) and the closing summary table, with rich."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pipeline.config import VidseekConfig
from pipeline.dry_run import DryRunLine
from pipeline.job import IngestReport, VideoResult
from pipeline.types import ChunkCosts, ChunkSpan


class RichProgress:
    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[footage]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._footage_total = self._footage_done = 0.0

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def start(self, num_videos: int, num_chunks: int, footage_s: float) -> None:
        self._footage_total = footage_s
        self._videos = self._bar.add_task("videos", total=num_videos, footage="")
        self._chunks = self._bar.add_task("chunks", total=num_chunks, footage=self._footage())

    def _footage(self) -> str:
        return f"footage {self._footage_done:,.0f}/{self._footage_total:,.0f} s"

    def chunk_done(self, span: ChunkSpan) -> None:
        self._footage_done += span.duration_s
        self._bar.update(self._chunks, advance=1, footage=self._footage())

    def video_done(self, result: VideoResult) -> None:
        self._bar.update(self._videos, advance=1)


def print_summary(console: Console, report: IngestReport) -> None:
    table = Table(
        title=f"ingested {report.count('ingested')}, skipped {report.count('skipped')}, failed {report.count('failed')}"
    )
    for col in ("video", "status", "chunks", "model calls", "frames sent", "tokens in / out", "reason"):
        table.add_column(col, overflow="fold")
    style = {"ingested": "green", "skipped": "dim", "failed": "red"}
    for r in report.results:
        table.add_row(r.path, Text(r.status, style[r.status]), str(r.chunks), *cost_cells(r.costs), r.reason)
    console.print(table)
    if line := savings_line(report.costs):
        console.print(line, soft_wrap=True, highlight=False)


def cost_cells(c: ChunkCosts | None) -> tuple[str, str, str]:
    """Model calls (and chunks carried over still footage), frames sent of those decoded, tokens in / out: blank
    when nothing was described."""
    if c is None or not c.model_calls + c.carried:
        return "", "", ""
    calls = f"{c.model_calls:,}" + (f" ({c.carried:,} carried)" if c.carried else "")
    sent = f"{c.frames_sent:,} / {c.frames_decoded:,}" if c.frames_decoded else ""
    return calls, sent, f"{c.input_tokens:,} / {c.output_tokens:,}"


def savings_line(c: ChunkCosts) -> str:
    """What change-aware sampling saved, in one line ("" when nothing was described)."""
    chunks = c.model_calls + c.carried
    if not c.frames_decoded or not chunks:
        return ""
    return (
        f"model: {c.model_calls:,} calls for {chunks:,} chunks ({c.carried:,} still, carried without a call: "
        f"{c.carried / chunks:.0%} of the calls saved); {c.frames_sent:,} of {c.frames_decoded:,} frames sent "
        f"({1 - c.frames_sent / c.frames_decoded:.0%} unchanged, not sent); {c.input_tokens:,} input and "
        f"{c.output_tokens:,} output tokens"
    )


def print_runs(console: Console, runs: list[dict]) -> None:
    """The last runs' summaries (``DIR/runs/*.json``): what each ingested and what its model calls cost."""
    table = Table(title="last runs")
    known = set(ChunkCosts.__dataclass_fields__)
    for col in ("started", "ingested", "skipped", "failed", "model calls", "frames sent", "tokens in / out"):
        table.add_column(col, overflow="fold")
    for run in runs:
        counts = run.get("counts", {})
        c = ChunkCosts(**{k: v for k, v in run.get("costs", {}).items() if k in known})  # older runs: zeros
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.get("started", 0)))
        table.add_row(
            started,
            *(str(counts.get(k, 0)) for k in ("ingested", "skipped", "failed")),
            *cost_cells(c),
        )
    console.print(table)


def print_dry_run(console: Console, lines: list[DryRunLine], cfg: VidseekConfig, scanned: bool) -> None:
    """Chunks, model calls, frames, estimated tokens and cost per video, before any model call; then what the
    estimate assumes."""
    from pipeline.describe.estimate import ANSWER_TOKENS, PROMPT_TEXT_TOKENS, cost_usd, output_tokens

    describe = cfg.describe
    total = DryRunLine.total(lines)
    how = "decoded and compared; nothing described or written" if scanned else "nothing decoded, described or written"
    table = Table(title=f"dry run: {how}")
    columns = ("video", "footage", "chunks", "model calls", "frames sent", "input tokens", "output tokens")
    for col in (*columns, "est. cost $", "note"):
        table.add_column(col, overflow="fold")
    for line in [*lines, total]:
        c = line.costs
        table.add_row(
            line.path,
            f"{line.footage_s:,.0f} s" if line is not total else "",
            str(line.chunks),
            f"{c.model_calls:,}",
            f"{c.frames_sent:,} / {c.frames_decoded:,}",
            f"{c.input_tokens:,}",
            f"{c.output_tokens:,}",
            f"{cost_usd(c.input_tokens, c.output_tokens, describe):.4f}",
            line.note,
            style="bold" if line is total else None,
        )
    console.print(table)
    for note in dry_run_assumptions(cfg, scanned, output_tokens(describe), PROMPT_TEXT_TOKENS, ANSWER_TOKENS):
        console.print(f"- {note}", soft_wrap=True, highlight=False)


def dry_run_assumptions(cfg: VidseekConfig, scanned: bool, out_tokens: int, prompt: int, answer: int) -> list[str]:
    d, describe = cfg.decode, cfg.describe
    if not scanned:
        sent = (
            "every chunk is sent to the model with every frame sampled at "
            f"decode.fps = {d.fps:g}: an upper bound, since decode.sampling is change (frames that did not change "
            "are not sent, still chunks carry the description before them without a call); "
            "--scan decodes the footage (no model) to count what will really be sent"
            if d.sampling == "change"
            else f"every chunk is sent with every frame sampled at decode.fps = {d.fps:g} (decode.sampling: fixed)"
        )
    else:
        sent = (
            f"scanned: decoded at decode.fps = {d.fps:g} and compared as ingest will (decode.change_threshold "
            f"{d.change_threshold:g}, a still chunk described at least every decode.max_still_s = "
            f"{d.max_still_s:g} s); a chunk with no change is not sent"
        )
    return [
        sent,
        f"input: {prompt} prompt tokens a call, and Qwen3-VL's visual tokens: one per 32x32 pixels at "
        f"decode.max_side = {d.max_side} for each pair of consecutive frames (a frame sent alone takes a pair's)",
        f"output: {out_tokens:,} tokens a call: a Thinking model's whole describe.thinking_budget "
        f"({describe.thinking_budget:,}) and a {answer}-token answer, capped by describe.max_new_tokens (the model "
        "may stop earlier)",
        f"prices: ${describe.price.input_per_million}/1M input, ${describe.price.output_per_million}/1M output "
        "tokens (describe.price)",
    ]

"""Ingest progress (videos, chunks, footage seconds, ETA) and the closing summary table, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pipeline.config import DescribeConfig
from pipeline.job import DryRunLine, IngestReport, VideoResult
from pipeline.types import ChunkSpan


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
    for col in ("video", "status", "chunks", "reason"):
        table.add_column(col, overflow="fold")
    style = {"ingested": "green", "skipped": "dim", "failed": "red"}
    for r in report.results:
        table.add_row(r.path, Text(r.status, style[r.status]), str(r.chunks), r.reason)
    console.print(table)


def print_dry_run(console: Console, lines: list[DryRunLine], describe: DescribeConfig) -> None:
    """Chunks, estimated tokens and cost per video, before any model call."""
    from pipeline.describe.estimate import Estimate

    total = Estimate()
    table = Table(title="dry run: nothing is decoded, described or written")
    for col in ("video", "footage", "chunks", "input tokens", "output tokens", "est. cost $", "note"):
        table.add_column(col, overflow="fold")
    for line in lines:
        est = Estimate(line.chunks, line.input_tokens, line.output_tokens)
        total.chunks += est.chunks
        total.input_tokens += est.input_tokens
        total.output_tokens += est.output_tokens
        table.add_row(
            line.path,
            f"{line.footage_s:,.0f} s",
            str(line.chunks),
            f"{line.input_tokens:,}",
            f"{line.output_tokens:,}",
            f"{est.cost_usd(describe):.4f}",
            line.note,
        )
    table.add_row(
        "total",
        "",
        str(total.chunks),
        f"{total.input_tokens:,}",
        f"{total.output_tokens:,}",
        f"{total.cost_usd(describe):.4f}",
        "",
        style="bold",
    )
    console.print(table)
    console.print(
        f"prices: ${describe.price.input_per_million}/1M input, ${describe.price.output_per_million}/1M "
        f"output tokens (describe.price); tokens are estimates from Qwen3-VL's 32x32-pixel visual tokens",
        soft_wrap=True,
    )

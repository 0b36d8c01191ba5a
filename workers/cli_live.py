"""``vidseek watch`` (live sources) and ``vidseek alert`` (standing queries)."""

from __future__ import annotations

import logging
import signal
import statistics
from pathlib import Path

import typer

from pipeline.timefmt import format_span
from workers.cli_common import (
    IndexOpt,
    check_index_settings,
    check_models_here,
    err,
    fail,
    index_folder,
    labelled,
    load_config_or_exit,
    out,
    remote_of,
    with_runnable_model,
)

alert_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Standing queries: an alert when a new moment matches."
)


def print_alert(alert) -> None:
    err.print(
        labelled(
            "ALERT",
            "bold red",
            f"#{alert.id} {alert.query!r}: {alert.video} "
            f"{format_span(alert.start_s, alert.end_s)} score {alert.score:.3f}: {alert.text}",
        ),
        highlight=False,
        soft_wrap=True,
    )


def watch(
    sources: list[str] = typer.Argument(None, help="stream URLs, camera devices, HLS playlists or growing files"),
    index: Path = IndexOpt,
    config: str = typer.Option(None, "--config", "-c", help="YAML config (default configs/local.yaml)"),
    set_: list[str] = typer.Option([], "--set", help="override one config field"),
    duration: float = typer.Option(None, "--duration", min=0, help="stop after this many seconds"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Ingest live sources as they play: each chunk is searchable once described, and (speech on) what is said
    in it once the audio has run speech.margin_s past it; drops are reconnected and recorded as gaps; standing
    queries alert. Ctrl-C or SIGTERM finishes the chunks in flight, twice abandons them.
    Exit codes: 0 stopped cleanly, 2 usage error, 3 another run holds the index."""
    cfg = load_config_or_exit(config, set_)
    sources = sources or cfg.live.sources
    if not sources:
        raise fail("nothing to watch: give a SOURCE or set live.sources in the config")
    check_models_here(cfg)
    index_folder(index)  # a file, or a folder that cannot be made: exit 2 before any model loads
    check_index_settings(index, cfg)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from pipeline.describe import make_describer
    from pipeline.live import Watcher
    from workers.ingest_session import IngestSession

    cfg = with_runnable_model(cfg)
    # remote: --index s3://..., its records pushed as they come
    session = IngestSession.open(index, cfg, remote=remote_of(index), on_alert=print_alert)

    def on_chunk(c) -> None:
        caption = c.caption or ("(indexed by its frames)" if cfg.frames.enabled else "(not described: speech only)")
        if c.carried:
            caption = f"(no change, no model call) {caption}"
        out.print(
            f"{format_span(c.start_s, c.end_s)} {c.source} (+{max(0.0, c.latency_s):.1f} s): {caption}",
            highlight=False,
            soft_wrap=True,
        )

    def on_speech(source, utterances) -> None:  # a chunk's speech, speech.margin_s after its caption
        for u in utterances:
            out.print(f"{format_span(u.start_s, u.end_s)} {source} said: {u.text}", highlight=False, soft_wrap=True)

    def on_gap(source, gap) -> None:
        span = format_span(gap.start_s, gap.end_s)
        err.print(labelled("gap", "yellow", f"{source} {span}: {gap.reason}"), soft_wrap=True)

    watcher = Watcher(sources, cfg, session.writer, make_describer(cfg.describe), on_chunk, on_gap, on_speech=on_speech)

    def on_signal(signum, frame) -> None:
        if watcher.stop.is_set():
            raise KeyboardInterrupt  # second signal: abandon what is in flight (committed chunks stay)
        err.print("stopping: finishing the chunks in flight (again to abandon them)")
        watcher.stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        committed = watcher.run(duration)
    except KeyboardInterrupt:
        committed = watcher.committed
        err.print("abandoned the chunks in flight")
    finally:
        session.close()
    latencies = [c.latency_s for c in committed]
    gaps = sum(len(s.gaps) for s in watcher.sources.values())
    median = f"{statistics.median(latencies):.1f} s" if latencies else "-"
    carried = sum(c.carried for c in committed)
    out.print(
        f"watched {len(watcher.sources)} sources: {len(committed)} chunks ({carried} still, carried without a model "
        f"call), {gaps} gaps, median latency {median}"
    )


@alert_app.command("add")
def alert_add(
    query: str = typer.Argument(..., help="what should raise an alert, in words"),
    index: Path = IndexOpt,
    threshold: float = typer.Option(0.5, "--threshold", min=-1, max=1, help="minimum similarity score"),
    webhook: str = typer.Option("", "--webhook", help="URL to POST each alert to (JSON), with retries"),
    cooldown: float = typer.Option(60.0, "--cooldown", min=0, help="seconds: no repeat alert on the same video"),
) -> None:
    """Add a standing query; every chunk committed from now on (ingest or watch) is matched against it."""
    from pipeline.alerts import AlertStore

    if webhook and not webhook.startswith(("http://", "https://")):
        raise fail(f"--webhook must be an http(s) URL, got {webhook!r}")
    q = AlertStore(index).add_query(query, threshold, webhook, cooldown)
    if remote_of(index):
        remote_of(index).push()
    out.print(f"standing query #{q.id}: {q.query!r} (threshold {q.threshold}, cooldown {q.cooldown_s:.0f} s)")


@alert_app.command("list")
def alert_list(
    index: Path = IndexOpt,
    alerts: bool = typer.Option(False, "--alerts", help="list the alerts raised, not the standing queries"),
) -> None:
    """The standing queries (or, with --alerts, the alerts they raised)."""
    from rich.table import Table

    from pipeline.alerts import AlertStore

    store = AlertStore(index)
    if alerts:
        table = Table(title="alerts")
        for col in ("#", "query", "video", "when", "score", "delivered", "text"):
            table.add_column(col, overflow="fold")
        for a in store.alerts(limit=1000):
            delivered = "yes" if a.delivered else ("-" if not a.webhook else f"no ({a.attempts} tries)")
            when = format_span(a.start_s, a.end_s)
            table.add_row(str(a.id), a.query, a.video, when, f"{a.score:.3f}", delivered, a.text)
    else:
        table = Table(title="standing queries")
        for col in ("#", "query", "threshold", "cooldown", "webhook"):
            table.add_column(col, overflow="fold")
        for q in store.queries():
            table.add_row(str(q.id), q.query, f"{q.threshold}", f"{q.cooldown_s:.0f} s", q.webhook)
    out.print(table)


@alert_app.command("rm")
def alert_rm(query_id: int = typer.Argument(..., help="the # from `vidseek alert list`"), index: Path = IndexOpt):
    """Remove a standing query (its past alerts stay)."""
    from pipeline.alerts import AlertStore

    if not AlertStore(index).remove_query(query_id):
        raise fail(f"no standing query #{query_id}; see `vidseek alert list`")
    if remote_of(index):
        remote_of(index).push()
    out.print(f"removed standing query #{query_id}")

"""What every ``vidseek`` command shares: the consoles, the --index option, time parsing, and error exits."""

from __future__ import annotations

import sys
from datetime import datetime

import typer
from rich.console import Console

# Piped output (logs, scripts, CI) gets wide lines instead of Rich's 80-column default, so paths stay whole.
PIPED_WIDTH = 240
out = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)

IndexOpt = typer.Option(..., "--index", "-i", help="index folder (created by ingest)")


def parse_time(text: str | None) -> float | None:
    """Seconds from '95', '95.5', '1:35', '00:01:35', or a UTC time '2026-11-24T23:59:01Z' (live sources)."""
    if text is None:
        return None
    if "T" in text:
        try:
            return datetime.fromisoformat(text.strip()).timestamp()
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not an ISO time such as 2026-11-24T23:59:01Z") from None
    try:
        total = 0.0
        for part in text.strip().split(":"):
            total = total * 60 + float(part)
        return total
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not seconds or HH:MM:SS") from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error on one unwrapped line (scripts grep it) and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_config_or_exit(config: str | None, overrides: list[str]):
    from pipeline.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None

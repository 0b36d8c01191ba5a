"""What every ``vidseek`` command shares: the consoles, the --index option, time parsing, and error exits."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

# Piped output (logs, scripts, CI) gets wide lines instead of Rich's 80-column default, so paths stay whole.
# No console markup: paths, captions and reasons are printed as they are ("[/red]" in a caption is text), and
# colour comes only from ``labelled``.
PIPED_WIDTH = 240
out = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, markup=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH, markup=False)


def labelled(label: str, style: str, message: str) -> Text:
    """A coloured label, then ``message`` as it is."""
    return Text.assemble((label, style), " ", message)


_REMOTES: dict[Path, object] = {}  # local mirror -> RemoteIndex, for the --index values that were URLs


def local_index(value: Path | None) -> Path | None:
    """--index may be an object-storage URL: the index is mirrored to a local folder (pulled here; commands that
    write push it back, see ``remote_of``)."""
    if value is None:
        return None
    text = re.sub(r"^([a-z][a-z0-9+.-]*):/(?!/)", r"\1://", str(value))  # Path() folded the '//' of a URL
    from pipeline.storage import is_url

    if not is_url(text):
        return value
    from pipeline.index.remote import RemoteIndex

    remote = RemoteIndex(text)
    try:
        local = remote.pull()
    except (OSError, ImportError, ValueError) as exc:
        raise fail(f"cannot read the index at {text}: {exc.__class__.__name__}: {exc}") from None
    _REMOTES[local] = remote
    return local


def remote_of(index: Path):
    """The ``RemoteIndex`` behind a mirrored --index, or None for a local folder."""
    return _REMOTES.get(index)


IndexOpt = typer.Option(
    ..., "--index", "-i", help="index folder (created by ingest), or an s3:// / gs:// URL", callback=local_index
)


WaitOpt = typer.Option(0.0, "--wait", min=0, help="seconds to wait if another run is writing the index")


def index_folder(index: Path) -> Path:
    """The folder an ingest writes, created if needed; one that cannot be is exit 2 with the reason."""
    if index.exists() and not index.is_dir():
        raise fail(f"{index} cannot hold an index: it is a file, not a folder")
    try:
        index.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create the index folder {index}: {exc.strerror}") from None
    return index


def check_index_settings(index: Path, cfg) -> None:
    """A configuration that would change an existing index's recorded settings stops here with exit 2 and the
    remedy (SettingsConflict, in ``main``), before any model loads; the writer refuses it too."""
    from pipeline.index.folder import Index

    folder = Index(index)
    if folder.exists:
        folder.settings(cfg.index)
        if cfg.frames.enabled:
            folder.check_frame_model(cfg.frames.model)


def open_index(index: Path):
    """The ``Index`` in ``index``; a folder holding none is exit 2 with the remedy (NotAnIndex, in ``main``)."""
    from pipeline.index.folder import Index

    return Index.open(index)


def counted(n: int, noun: str) -> str:
    """ "1 video", "2 videos"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def parse_time(text: str | None) -> float | None:
    """``pipeline.timefmt.parse_time``, a bad value exiting with code 2 and the reason."""
    from pipeline.timefmt import parse_time as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


def require_text(text: str | None, what: str) -> str:
    """A query or question with something in it, within the bounds every surface shares (pipeline.limits); exit 2
    for an empty, blank or overlong one."""
    from pipeline.limits import check_text

    try:
        return check_text(text or "", what)
    except ValueError as exc:
        raise fail(str(exc)) from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error on one unwrapped line (scripts grep it) and return the exit to raise."""
    err.print(labelled("error:", "red", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_config_or_exit(config: str | None, overrides: list[str]):
    from pipeline.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def check_models_here(cfg) -> None:
    """With the frame index on, its image-text model must be here (a folder or the hub cache), and with speech on,
    its Whisper model: exit 2 before any work otherwise, naming the model and the reason."""
    from pipeline.embed.visual import why_unavailable

    if cfg.frames.enabled and (reason := why_unavailable(cfg.frames.model)):
        raise fail(f"frames.model {cfg.frames.model!r} cannot be loaded: {reason}")
    if cfg.speech.enabled:
        from pipeline.speech import why_unavailable as speech_unavailable

        if reason := speech_unavailable(cfg.speech):
            raise fail(f"speech.model {cfg.speech.model!r} cannot be loaded: {reason}")


def with_runnable_model(cfg):
    """The config with the model that will really run (the tiny one when the real one cannot load), printing the
    fallback notice."""
    from pipeline.describe.factory import resolve_model

    describe_cfg, notice = resolve_model(cfg.describe)
    if notice:
        err.print(notice, style="yellow", highlight=False, soft_wrap=True)
    return cfg.model_copy(update={"describe": describe_cfg})

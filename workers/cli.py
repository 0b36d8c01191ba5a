"""The ``vidseek`` command line. Each command imports what it needs when it runs, so ``--help`` stays instant.

vidseek ingest PATH... --index DIR [--config FILE] [--set key=value ...]
vidseek search "QUERY" --index DIR [-k 10] [--json]
vidseek status --index DIR
vidseek index rebuild --index DIR
vidseek watch SOURCE... --index DIR             (workers.cli_live)
vidseek alert add|list|rm ... --index DIR       (workers.cli_live)
vidseek ask "QUESTION" / summarize VIDEO ...    (workers.cli_answers)
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer

from pipeline.limits import MAX_RESULTS
from pipeline.timefmt import format_span, hhmmss
from workers.cli_answers import ask, summarize
from workers.cli_common import (
    IndexOpt,
    WaitOpt,
    check_index_settings,
    check_models_here,
    counted,
    err,
    fail,
    index_folder,
    labelled,
    load_config_or_exit,
    open_index,
    out,
    parse_time,
    remote_of,
    require_text,
    with_runnable_model,
)
from workers.cli_live import alert_app, print_alert, watch

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Make hours of video searchable to the second.",
)
index_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Maintain an index.")
app.add_typer(index_app, name="index")
eval_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Measure quality.")
app.add_typer(eval_app, name="eval")


@app.command()
def ingest(
    paths: list[str] = typer.Argument(..., help="video files or folders (searched recursively)"),
    index: Path = IndexOpt,
    config: str = typer.Option(None, "--config", "-c", help="YAML config (default configs/local.yaml)"),
    set_: list[str] = typer.Option([], "--set", help="override one config field, e.g. --set decode.fps=2"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print chunks, tokens and cost; call no model"),
    scan: bool = typer.Option(
        False, "--scan", help="with --dry-run: decode the footage (no model) to count what change-aware sampling sends"
    ),
    wait: float = WaitOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Decode, describe, embed and index videos. Finished videos are skipped; interrupted ones resume.
    Exit codes: 0 all succeeded, 1 some failed, 2 usage error, 3 another run holds the index."""
    cfg = load_config_or_exit(config, set_)
    if scan and not dry_run:
        raise fail("--scan goes with --dry-run")
    if dry_run:
        from pipeline.dry_run import dry_run as plan
        from workers.progress import print_dry_run

        print_dry_run(out, plan(paths, cfg, index, scan), cfg, scan)
        raise typer.Exit(0)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from workers.ingest_session import IngestSession
    from workers.progress import RichProgress, print_summary

    check_models_here(cfg)
    index_folder(index)  # before minutes of loading a model
    check_index_settings(index, cfg)
    cfg = with_runnable_model(cfg)
    # remote: --index s3://..., a leased local mirror; another run holding the index is exit 3 (main)
    session = IngestSession.open(index, cfg, wait, remote_of(index), on_alert=print_alert)
    with session, RichProgress(err) as progress:
        report = session.ingest(paths, progress)
    print_summary(out, report)
    raise typer.Exit(report.exit_code)


@app.command()
def search(
    query: str = typer.Argument(None, help="what you are looking for, in words (or give --image)"),
    index: Path = IndexOpt,
    k: int = typer.Option(10, "-k", min=1, max=MAX_RESULTS, help="number of results"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    video: str = typer.Option(None, "--video", help="only this video (path as ingested, file name or id)"),
    after: str = typer.Option(None, "--after", help="only moments ending after this time (s or HH:MM:SS)"),
    before: str = typer.Option(None, "--before", help="only moments starting before this time"),
    kind: str = typer.Option(None, "--kind", help="caption, event or speech (what is said)"),
    label: str = typer.Option(None, "--label", help="only events with this label"),
    offset: int = typer.Option(0, "--offset", min=0, help="skip this many results (videos with --group-by)"),
    group_by: str = typer.Option(None, "--group-by", help="video: each video's best moments together"),
    modality: str = typer.Option("both", "--modality", help="text (captions, events), visual (frames) or both"),
    image: Path = typer.Option(None, "--image", help="find moments that look like this image (the frame index)"),
) -> None:
    """Find the moments that match a query (words, or an image with --image): video, start-end, score, text."""
    from pipeline.decode.image import read_image
    from pipeline.frame_search import MODALITIES
    from pipeline.search import SEARCHED_KINDS, Filters, Searcher

    if image is None:
        require_text(query, "query")
    elif query or group_by:
        raise fail("--image searches by the image alone: give no query and no --group-by")
    if kind not in (None, *SEARCHED_KINDS):
        raise fail(f"--kind must be one of {', '.join(SEARCHED_KINDS)}, got {kind!r}")
    if group_by not in (None, "video"):
        raise fail(f"--group-by must be video, got {group_by!r}")
    if modality not in MODALITIES:
        raise fail(f"--modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    try:
        filters = Filters(video, parse_time(after), parse_time(before), kind, label)
        picture = read_image(image) if image is not None else None  # before the index and the models load
        searcher = Searcher.open(index)
        if picture is not None:
            hits = searcher.search_image(picture, offset + k, filters)[offset:]
            query = f"image {image.name}"
        elif group_by:
            groups = searcher.search_by_video(query, k, offset, filters, modality=modality)
            hits = [hit for group in groups for hit in group.results]
        else:
            hits = searcher.search_page(query, k, offset, filters, modality)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        if group_by:  # one line per video, its moments inside
            for g in groups:
                line = {"video": g.video, "video_id": g.video_id, "results": [h.to_json() for h in g.results]}
                sys.stdout.write(json.dumps(line) + "\n")
        else:
            for hit in hits:
                sys.stdout.write(json.dumps(hit.to_json()) + "\n")
        return
    from rich.table import Table

    from pipeline.config import TINY_MODEL

    if searcher.catalog.uses_model(TINY_MODEL):
        from pipeline.describe.tiny import TINY_NOTICE

        err.print(f"note: some videos were described by the {TINY_NOTICE}", style="yellow", soft_wrap=True)
    table = Table(title=f"{counted(len(hits), 'result')} for {query!r}")
    for col in ("#", "file", "start-end", "score", "kind", "text"):
        table.add_column(col, overflow="fold")
    for rank, hit in enumerate(hits, offset + 1):
        if group_by:  # ranks are the videos'
            rank = offset + 1 + [g.video_id for g in groups].index(hit.video_id)
        table.add_row(
            str(rank),
            Path(hit.video).name,
            format_span(hit.start_s, hit.end_s),
            f"{hit.score:.3f}",
            hit.kind,
            hit.text,
        )
    out.print(table)


def _last_runs(index: Path, n: int) -> list[dict]:
    """The last ``n`` run summaries, oldest first (an unreadable one is left out: it is a report, not the index)."""
    from pipeline.index.layout import IndexLayout

    folder = IndexLayout(index).runs
    paths = sorted(folder.glob("*.json"))[-n:] if folder.is_dir() else []
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return [r for r in runs if isinstance(r, dict)]


@app.command()
def status(index: Path = IndexOpt) -> None:
    """What an index holds: videos, chunks, events, model, embedder, size; and any damaged file, with its remedy.
    Exit codes: 0 sound, 2 not an index or a file is damaged."""
    from rich.table import Table

    from pipeline.index.catalog import Catalog
    from pipeline.index.damage import IndexDamaged
    from pipeline.index.folder import Index
    from pipeline.index.health import diagnose
    from pipeline.index.lock import IndexLock
    from workers.progress import cost_cells, print_runs

    open_index(index)
    problems = diagnose(index)
    try:
        catalog = Catalog(index) if Index(index).exists else None
    except IndexDamaged:
        catalog = None
    videos = catalog.videos() if catalog else []
    framed = any(v.framed for v in videos)
    transcribed = any(v.transcribed for v in videos)
    writing = IndexLock(index).held_elsewhere()
    costs = catalog.costs() if catalog else {}
    table = Table(title=f"{index}: {counted(len(videos), 'video')}")
    columns = ("video", "status", "duration", "described", "events") + (("framed",) if framed else ())
    columns += ("transcribed",) if transcribed else ()
    columns += ("model calls", "frames sent", "tokens in / out", "model", "note")
    for col in columns:
        table.add_column(col, overflow="fold")
    for v in videos:
        stages = (str(v.chunks), str(v.events)) + ((str(v.framed),) if framed else ())
        stages += (str(v.transcribed),) if transcribed else ()
        spent = cost_cells(costs.get(v.video_id))
        state, note = v.state(writing)
        table.add_row(v.path, state, hhmmss(v.duration_s or 0), *stages, *spent, v.model, note)
    out.print(table)
    for v in videos:
        for gap in catalog.gaps(v.video_id):
            out.print(f"gap in {v.path}: {format_span(gap.start_s, gap.end_s)} ({gap.reason})")
    size_bytes = sum(f.stat().st_size for f in index.rglob("*") if f.is_file())
    if catalog:
        out.print(
            f"embedder: {catalog.get_meta('embedder')} ({catalog.get_meta('dim')}-d)   "
            f"segments: {catalog.count_segments()}   on disk: {size_bytes / 1e6:.1f} MB"
        )
    if runs := _last_runs(index, 5):
        print_runs(out, runs)
    for problem in problems:
        err.print(labelled("problem:", "red", problem), highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)


@app.command()
def serve(
    index: Path = IndexOpt,
    host: str = typer.Option("127.0.0.1", help="address to bind; anything but loopback requires an API key"),
    port: int = typer.Option(8000, min=1, max=65535),
    media_root: list[Path] = typer.Option(
        None,
        "--media-root",
        help="folders whose files may be streamed or ingested (repeatable; default: the current folder)",
    ),
    config: str = typer.Option(None, "--config", "-c"),
    set_: list[str] = typer.Option([], "--set"),
    api_key_env: str = typer.Option("VIDSEEK_API_KEY", help="environment variable holding the API key"),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="a Host name clients may use besides those bound to (repeatable), e.g. behind a proxy or DNS name",
    ),
) -> None:
    """The HTTP API and web page: search, stream from the second, thumbnails, captions, ingest jobs, metrics.
    The page is at http://HOST:PORT/, the API's interactive docs at /docs and its schema at /openapi.json."""
    import os

    from workers.api_guard import LOOPBACK_NAMES, allowed_hosts_for, host_name

    cfg = load_config_or_exit(config, set_)
    api_key = os.environ.get(api_key_env) or None
    if host_name(host) not in LOOPBACK_NAMES and api_key is None:
        raise fail(f"binding to {host} needs an API key: set {api_key_env}")
    if index.exists() and not index.is_dir():
        raise fail(f"{index} is not a vidseek index: not a folder")
    check_index_settings(index, cfg)
    import uvicorn

    from workers.api import Service, create_app

    service = Service(index, cfg, media_root or [Path.cwd()], api_key, allowed_hosts_for(host, allowed_host))
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


@app.command()
def mcp(
    index: Path = IndexOpt,
    media_root: list[Path] = typer.Option(
        None, "--media-root", help="folders the ingest tool may read (repeatable; default: the current folder)"
    ),
    play_url: str = typer.Option(None, "--play-url", help="where `vidseek serve` runs: results carry a playable url"),
    http: bool = typer.Option(False, "--http", help="streamable HTTP at /mcp instead of stdio"),
    host: str = typer.Option("127.0.0.1", help="with --http: address to bind; anything but loopback needs a key"),
    port: int = typer.Option(8001, min=1, max=65535),
    config: str = typer.Option(None, "--config", "-c"),
    set_: list[str] = typer.Option([], "--set"),
    api_key_env: str = typer.Option("VIDSEEK_API_KEY", help="environment variable holding the API key"),
    allowed_host: list[str] = typer.Option([], "--allowed-host", help="with --http: another Host name to answer"),
) -> None:
    """The index as Model Context Protocol tools for assistants and agents: search, ask, summarize, list_videos,
    get_video and ingest (confined to --media-root). Speaks over stdio unless --http."""
    import os

    from workers.api_guard import LOOPBACK_NAMES, allowed_hosts_for, host_name

    cfg = load_config_or_exit(config, set_)
    api_key = os.environ.get(api_key_env) or None
    if http and host_name(host) not in LOOPBACK_NAMES and api_key is None:
        raise fail(f"binding to {host} needs an API key: set {api_key_env}")
    if index.exists() and not index.is_dir():
        raise fail(f"{index} is not a vidseek index: not a folder")
    check_index_settings(index, cfg)
    from workers.mcp_server import IndexTools, build_server, run_http

    server = build_server(IndexTools(index, cfg, media_root or [Path.cwd()], play_url))
    if http:
        run_http(server, host, port, api_key, allowed_hosts_for(host, allowed_host))
    else:
        server.run("stdio")


@app.command()
def remove(
    video: str = typer.Argument(..., help="path as ingested, file name or id"),
    index: Path = IndexOpt,
    wait: float = WaitOpt,
) -> None:
    """Remove a video's vectors, catalog rows and records from the index."""
    from pipeline.config import EmbedConfig
    from pipeline.embed import make_embedder
    from pipeline.index import Catalog

    folder = open_index(index)
    catalog = Catalog(index)
    found = catalog.require_video(video)
    embedder_name = catalog.get_meta("embedder") or EmbedConfig().model
    catalog.close()
    writer = folder.writer(make_embedder(EmbedConfig(model=embedder_name)), wait_s=wait)
    removed = writer.remove_video(found.video_id)
    writer.close()
    out.print(f"removed {found.path}: {counted(removed, 'segment')}")


@app.command()
def export(
    index: Path = IndexOpt,
    video: str = typer.Option(..., "--video", help="path as ingested, file name or id"),
    fmt: str = typer.Option("vtt", "--format", help="srt, vtt, json or csv"),
    kind: list[str] = typer.Option([], "--kind", help="only these: caption, event, speech (repeatable)"),
    output: Path = typer.Option(None, "--out", "-o", help="file to write (default: standard output)"),
) -> None:
    """Write a video's captions, events and speech as subtitles or data, in time order (``--kind speech``: what
    is said, as subtitles)."""
    from pipeline.export import FORMATS, render
    from pipeline.index import Catalog
    from pipeline.search import SEARCHED_KINDS

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if unknown := set(kind) - set(SEARCHED_KINDS):
        raise fail(f"--kind must be one of {', '.join(SEARCHED_KINDS)}, got {sorted(unknown)[0]!r}")
    open_index(index)
    catalog = Catalog(index)
    timeline = catalog.timeline(catalog.require_video(video).video_id)
    text = render([s for s in timeline if not kind or s["kind"] in kind], fmt)
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@eval_app.command("retrieval")
def eval_retrieval(
    captions: Path = typer.Option(None, help="ActivityNet-format JSON indexed as captions (with --queries: one pair)"),
    queries: Path = typer.Option(None, help="ActivityNet-format JSON whose sentences are queries"),
    sets: list[str] = typer.Option([], "--set-name", help="only these development sets (default: all)"),
    index: Path = typer.Option(
        None, "--index", help="where to build the evaluation indexes (one folder per set), reused by later runs"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: str = typer.Option(None, "--config", "-c", help="the method's embed and index settings"),
    set_: list[str] = typer.Option([], "--set", help="e.g. --set embed.model=PATH or --set index.context_neighbours=0"),
) -> None:
    """Recall@1/@5 at temporal IoU >= 0.5, over the whole index and within each query's video, for vidseek's
    search and for the plain baseline (MiniLM, exact inner product, one vector per sentence), measured in the same
    run. With no files: every development set in ../shared/eval, and the mixed 60 s chunk + sentence cases."""
    import tempfile

    from pipeline.config import EmbedConfig
    from pipeline.embed import make_embedder
    from pipeline.embed.sentence import resolve_model_path
    from pipeline.evaluate import SETS, evaluate, load_pair, load_set, prepared_index

    cfg = load_config_or_exit(config, set_)
    if (captions is None) != (queries is None):
        raise fail("--captions and --queries go together (one pair), or neither (every development set)")
    try:
        if captions:
            chosen = [load_pair(captions.stem, captions, queries)]
        else:
            chosen = [load_set(name) for name in (sets or SETS)]
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    embedder = make_embedder(cfg.embed)
    baseline_cfg = EmbedConfig(device=cfg.embed.device, batch_size=cfg.embed.batch_size)
    same = resolve_model_path(cfg.embed.model) == resolve_model_path(baseline_cfg.model)
    baseline_embedder = embedder if same else make_embedder(baseline_cfg)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for data in chosen:
            where = (index or Path(tmp)) / data.name
            err.print(f"{data.name}: {len(data.captions)} captions, {len(data.queries)} queries", highlight=False)
            try:
                prepared_index(data, where, embedder, cfg.index)
            except ValueError as exc:
                raise fail(str(exc)) from None
            results[data.name] = evaluate(where, data, embedder, baseline_embedder)
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    from rich.table import Table

    table = Table(
        title="Recall at temporal IoU >= 0.5: vidseek / plain baseline; the difference and its 95% interval "
        "(paired bootstrap over queries): above or below the baseline only beyond noise"
    )
    for col in ("set", "queries", "whole index R@1", "whole index R@5", "within video R@1", "within video R@5"):
        table.add_column(col)
    for name, r in results.items():
        cells = []
        for scope in ("global", "within_video"):
            for metric in ("r1", "r5"):
                ours, base = r["method"][scope][metric], r["baseline"][scope][metric]
                versus = r["versus_baseline"][scope][metric]
                low, high = versus["ci95_queries"]
                cells.append(
                    f"{ours:.3f} / {base:.3f}\n{versus['difference']:+.3f} [{low:+.3f}, {high:+.3f}] "
                    f"{versus['verdict']}"
                )
        table.add_row(name, str(r["queries"]), *cells)
    out.print(table)


@index_app.command("rebuild")
def index_rebuild(
    index: Path = IndexOpt,
    config: str = typer.Option(None, "--config", "-c"),
    set_: list[str] = typer.Option([], "--set"),
    wait: float = WaitOpt,
) -> None:
    """Rebuild the SQLite catalog and FAISS vectors from the Parquet records, beside the old ones, then swap.
    Exit codes: 0 rebuilt, 1 rebuilt but unreadable records were set aside (their videos marked failed), 2 usage
    error, 3 another run holds the index."""
    open_index(index)
    cfg = load_config_or_exit(config, set_)
    from pipeline.embed import make_embedder
    from pipeline.index import rebuild_index

    rebuilt = rebuild_index(index, make_embedder(cfg.embed), cfg.index, wait_s=wait)
    if rebuilt.damaged_catalog:
        err.print(f"the unreadable catalog was moved to {rebuilt.damaged_catalog}", highlight=False)
    for bad, moved in rebuilt.set_aside:
        err.print(labelled("unreadable:", "red", f"{bad.path} ({bad.reason}); moved to {moved}"), highlight=False)
    for path, reason in rebuilt.videos_failed.items():
        err.print(labelled("marked failed:", "red", f"{path}: {reason}"), highlight=False, soft_wrap=True)
    if rebuilt.videos_restored:
        err.print(
            f"catalog rows restored from the records for {counted(rebuilt.videos_restored, 'video')}; any that "
            "`vidseek status` lists as ingesting were cut short: ingest them again to finish them (only chunks "
            "missing from the records are described)",
            highlight=False,
        )
    out.print(f"rebuilt {index}: {rebuilt.segments} segments")
    raise typer.Exit(1 if rebuilt.set_aside or rebuilt.videos_failed else 0)


app.command()(watch)
app.add_typer(alert_app, name="alert")
app.command()(ask)
app.command()(summarize)


def main() -> None:
    from pipeline.index.catalog import NoSuchVideo
    from pipeline.index.damage import IndexDamaged
    from pipeline.index.layout import NotAnIndex
    from pipeline.index.lock import IndexBusy
    from pipeline.index.settings import SettingsConflict

    try:
        app()
    except IndexDamaged as exc:  # any command that opens the index: name the file and the remedy
        fail(str(exc))
        raise SystemExit(2) from None
    except IndexBusy as exc:
        fail(str(exc))
        raise SystemExit(3) from None
    except (SettingsConflict, NoSuchVideo, NotAnIndex) as exc:  # conflicting settings; no such video; no index
        fail(str(exc))
        raise SystemExit(2) from None
    except OSError as exc:  # a folder that cannot be created or read, a full disk: one line naming the file
        fail(f"{exc.strerror or exc.__class__.__name__}: {exc.filename or exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

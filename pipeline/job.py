"""An ingest job, independent of how it runs: find videos, skip finished ones, plan spans, report the outcome.

``run_local`` chains the stages in this process (tests, debugging); ``workers.ray_job.run_ray`` runs the same
stage functions on Ray actors. Both use ``prepare`` to plan and one ``IndexWriter`` to commit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pipeline.carry import StillChain
from pipeline.config import VidseekConfig
from pipeline.decode import DecodeError, open_reader, plan_spans, probe
from pipeline.decode.change import ChangeSampler
from pipeline.describe.base import Describer, describe_chunks
from pipeline.index.layout import IndexLayout
from pipeline.index.writer import IndexWriter
from pipeline.media import discover, identify
from pipeline.types import (
    ChunkCosts,
    ChunkDescription,
    ChunkFailure,
    ChunkSpan,
    FrameChunk,
    Needs,
    VideoInfo,
    VideoRecord,
)

log = logging.getLogger(__name__)
VideoStatus = Literal["ingested", "skipped", "failed"]


@dataclass
class VideoTask:
    """A video to ingest and the spans it still needs."""

    path: str
    video_id: str
    info: VideoInfo
    size_bytes: int
    spans: list[ChunkSpan]  # spans some stage has still to index
    num_chunks: int  # all spans, done or not
    problems: list[str] = field(default_factory=list)
    chunks_done: int = 0
    described: set[str] = field(default_factory=set)  # chunk ids already described (the describer skips them)
    framed: set[str] = field(default_factory=set)  # ... and already in the frame index
    transcribed: set[str] = field(default_factory=set)  # ... and whose audio is transcribed
    chain: StillChain | None = None  # still spans waiting to carry a description (made from ``spans`` if None)
    costs: ChunkCosts = field(default_factory=ChunkCosts)  # what describing this run's chunks took
    finished: bool = False  # marked in the index as complete or failed

    def __post_init__(self) -> None:
        if self.chain is None:
            self.chain = StillChain(self.spans, lambda chunk_id: None)

    def needs(self, span: ChunkSpan, cfg: VidseekConfig) -> Needs:
        """What ``span`` still needs of this run's stages."""
        return Needs(
            cfg.describes and span.chunk_id not in self.described,
            cfg.frames.enabled and span.chunk_id not in self.framed,
            cfg.speech.enabled and span.chunk_id not in self.transcribed,
        )


@dataclass
class VideoResult:
    path: str
    status: VideoStatus
    reason: str = ""
    chunks: int = 0
    footage_s: float = 0.0
    costs: ChunkCosts = field(default_factory=ChunkCosts)  # this run's, for this video

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    results: list[VideoResult] = field(default_factory=list)

    def count(self, status: VideoStatus) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def costs(self) -> ChunkCosts:
        total = ChunkCosts()
        for r in self.results:
            total += r.costs
        return total

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0


class Cancelled(Exception):
    """Raised by a ``Progress`` to stop the run between chunks (a cancelled API job): what it committed stays."""


class Progress(Protocol):
    def start(self, num_videos: int, num_chunks: int, footage_s: float) -> None: ...
    def chunk_done(self, span: ChunkSpan) -> None: ...
    def video_done(self, result: VideoResult) -> None: ...


class NoProgress:
    def start(self, num_videos: int, num_chunks: int, footage_s: float) -> None: ...
    def chunk_done(self, span: ChunkSpan) -> None: ...
    def video_done(self, result: VideoResult) -> None: ...


def discovered(paths: list[str], report: IngestReport, roots: list[Path] | None = None) -> list[str]:
    """The files to consider; what discovery passed over goes into the report (a folder without videos fails)."""
    found = discover(paths, roots)
    report.results.extend(VideoResult(path, "skipped", why) for path, why in found.skipped)
    report.results.extend(VideoResult(path, "failed", why) for path, why in found.empty)
    return found.files


@dataclass
class PlannedVideo:
    path: str
    video_id: str
    size_bytes: int
    info: VideoInfo
    spans: list[ChunkSpan]  # all of the file's spans
    todo: list[ChunkSpan]  # those its records do not hold yet

    @property
    def num_spans(self) -> int:
        return len(self.spans)


def plan_videos(
    paths: list[str],
    cfg: VidseekConfig,
    catalog,
    done_chunk_ids: Callable[[str], set[str]],
    report: IngestReport,
    roots: list[Path] | None = None,
    remember: bool = False,
) -> list[PlannedVideo]:
    """Probe and plan every file (ingest and dry run alike); what is not planned goes into the report: finished
    videos and second copies of one file skipped, unreadable files failed. ``remember``: cache content ids in the
    catalog, so a copy's path leads to its video too (``file_ids``)."""
    planned: dict[str, PlannedVideo] = {}
    framed = catalog.framed_chunks() if catalog and cfg.frames.enabled else {}
    transcribed = catalog.transcribed_videos() if catalog and cfg.speech.enabled else set()
    for path in discovered(paths, report, roots):
        try:
            info = probe(path)
            video_id, size = identify(path, catalog, remember=remember)
        except DecodeError as exc:
            report.results.append(VideoResult(path, "failed", exc.reason))
            continue
        if video_id in planned:
            report.results.append(VideoResult(path, "skipped", f"same content as {planned[video_id].path}"))
            continue
        known = catalog.video(video_id) if catalog else None
        if known and known.status == "complete" and _has_every_stage(known, cfg, framed, transcribed):
            report.results.append(VideoResult(path, "skipped", f"already indexed as {known.path}"))
            continue
        spans = plan_spans(info, video_id, cfg.decode)
        done = done_chunk_ids(video_id)
        todo = [s for s in spans if s.chunk_id not in done]
        if known and known.status == "failed" and not todo:
            # every chunk indexed, yet failed: these bytes decode only partly, and would again
            report.results.append(VideoResult(path, "failed", known.reason, known.num_chunks or 0, info.duration_s))
            continue
        planned[video_id] = PlannedVideo(path, video_id, size, info, spans, todo)
    return list(planned.values())


def _has_every_stage(video: VideoRecord, cfg: VidseekConfig, framed: dict[str, int], transcribed: set[str]) -> bool:
    """Whether a complete video went through each stage ``cfg`` asks for: described (a model is recorded; a
    frames-only run records none) and, with the frame index on, embedded into it, and with speech on,
    transcribed."""
    return (
        (bool(video.model) or not cfg.describes)
        and (not cfg.frames.enabled or video.video_id in framed)
        and (not cfg.speech.enabled or video.video_id in transcribed)
    )


def prepare(
    paths: list[str],
    cfg: VidseekConfig,
    writer: IndexWriter,
    report: IngestReport,
    model_name: str,
    progress: Progress,
    roots: list[Path] | None = None,
) -> list[VideoTask]:
    """The planned videos, each begun in the index (``ingesting``) and returned with the spans it still needs;
    ``progress`` is told how much there is."""
    tasks = []
    stages: dict[str, tuple[set[str], ...]] = {}  # video id -> chunks described, framed, transcribed: read once

    def done_chunk_ids(video_id: str) -> set[str]:
        """The chunks every stage ``cfg`` asks for has indexed."""
        stages[video_id] = (
            writer.done_chunk_ids(video_id),
            writer.framed_chunk_ids(video_id),
            writer.transcribed_chunk_ids(video_id),
        )
        wanted = (cfg.describes, cfg.frames.enabled, cfg.speech.enabled)
        return set.intersection(*[s for s, w in zip(stages[video_id], wanted, strict=True) if w])

    for v in plan_videos(paths, cfg, writer.catalog, done_chunk_ids, report, roots, remember=True):
        described, framed, transcribed = stages[v.video_id]
        known = writer.catalog.video(v.video_id)
        model = model_name
        if not model and known and len(described) >= v.num_spans:  # frames only, over a described video
            model = known.model
        writer.begin_video(v.video_id, v.path, v.size_bytes, v.info.duration_s, model, cfg.model_dump(), v.num_spans)
        done = v.num_spans - len(v.todo)
        chain = StillChain(v.spans, writer.catalog.caption_source)
        task = VideoTask(v.path, v.video_id, v.info, v.size_bytes, v.todo, v.num_spans, chunks_done=done, chain=chain)
        task.described, task.framed, task.transcribed = described, framed, transcribed
        tasks.append(task)
    with cancelling(tasks, writer):
        progress.start(len(tasks), sum(len(t.spans) for t in tasks), sum(t.info.duration_s for t in tasks))
    return tasks


@contextmanager
def cancelling(tasks: list[VideoTask], writer: IndexWriter):
    """On ``Cancelled``, each video the run began and did not finish is marked ``cancelled`` with how far it got
    (not left ``ingesting`` for ever), then the cancellation goes on."""
    try:
        yield
    except Cancelled:
        for task in tasks:
            if task.finished:
                continue
            if task.chunks_done == task.num_chunks and not task.problems:  # cancelled once all was committed
                writer.finish_video(task.video_id, "complete", "", task.chunks_done)
            else:
                why = f"cancelled after {task.chunks_done} of {task.num_chunks} chunks; the next ingest does the rest"
                writer.finish_video(task.video_id, "cancelled", why, task.chunks_done)
        raise


def finish(task: VideoTask, writer: IndexWriter, report: IngestReport, progress: Progress) -> VideoResult:
    status: VideoStatus = "failed" if task.problems else "ingested"
    reason = "; ".join(dict.fromkeys(task.problems))
    if status == "failed" and task.chunks_done:
        reason += f" ({task.chunks_done} of {task.num_chunks} chunks indexed)"
    writer.finish_video(task.video_id, "failed" if task.problems else "complete", reason, task.chunks_done)
    task.finished = True
    if status == "ingested" and (replaced := writer.remove_earlier_versions(task.video_id, task.path)):
        reason = f"replaced the earlier version of this file ({replaced} segments)"
    result = VideoResult(task.path, status, reason, task.chunks_done, task.info.duration_s, task.costs)
    report.results.append(result)
    progress.video_done(result)
    return result


Settled = list[tuple[ChunkSpan, str]]  # spans settled, each with its problem ("" when indexed)


def commit(
    result: ChunkDescription | ChunkFailure, task: VideoTask, writer: IndexWriter, progress: Progress, decoder: str
) -> Settled:
    """Index one described chunk (a failed one is not indexed: the next ingest retries it, since only indexed
    chunks count as done), then the still spans after it that carry its description now."""
    return _index([(result, decoder)], task, writer, progress)


def commit_still(span: ChunkSpan, frames_decoded: int, task: VideoTask, writer, progress, decoder: str) -> Settled:
    """A span whose footage did not change: indexed carrying the description before it once that one is
    (pipeline.carry); what settles now."""
    return _index(task.chain.still(span, frames_decoded, decoder), task, writer, progress)


def fail_span(span: ChunkSpan, problem: str, task: VideoTask, writer, progress) -> Settled:
    """A span that could not be decoded or described, and the still spans after it that would have carried it."""
    return [(span, problem), *_index(task.chain.settled(span, None), task, writer, progress)]


def _index(results: list[tuple[ChunkDescription | ChunkFailure, str]], task, writer, progress) -> Settled:
    settled: Settled = []
    queue = list(results)
    while queue:
        result, decoder = queue.pop(0)
        if isinstance(result, ChunkFailure):
            span = result.span
            settled.append((span, f"chunk [{span.start_s:.0f}, {span.end_s:.0f}) s: {result.reason}"))
            queue += task.chain.settled(span, None)
            continue
        writer.write(result, decoder=decoder)
        task.costs.add(result)
        chunk_done(result.span, task, progress)
        settled.append((result.span, ""))
        queue += task.chain.settled(result.span, result)
    return settled


def chunk_done(span: ChunkSpan, task: VideoTask, progress: Progress) -> None:
    task.chunks_done += 1
    progress.chunk_done(span)


def commit_speech(span: ChunkSpan, task: VideoTask, writer: IndexWriter, transcriber, cfg: VidseekConfig) -> None:
    """Transcribe one span's audio and index what is said (pipeline.speech): searchable from the next save."""
    from pipeline.speech import transcribe_span

    commit_transcript(span, transcribe_span(transcriber, task.path, span, cfg.speech.margin_s), task, writer)


def commit_transcript(span: ChunkSpan, transcript, task: VideoTask, writer: IndexWriter) -> None:
    writer.write_speech(span, transcript)
    task.transcribed.add(span.chunk_id)


def commit_frames(chunk: FrameChunk, task: VideoTask, writer: IndexWriter, visual, cfg: VidseekConfig) -> None:
    """Embed one chunk's frames into the frame index: from the next save the chunk is searchable by what it
    looks like, before (or without) a description."""
    from pipeline.index.frames import frame_records

    writer.write_frames(frame_records(chunk, visual, cfg.frames.merge_cosine), visual.name)
    task.framed.add(chunk.span.chunk_id)


def run_local(
    cfg: VidseekConfig,
    paths: list[str],
    writer: IndexWriter,
    describer: Describer | None,
    progress: Progress | None = None,
    roots: list[Path] | None = None,
    visual=None,
) -> IngestReport:
    """Every stage in this process, one chunk batch at a time: same functions as the Ray job, no Ray. With
    ``roots``, only files under them are ingested (the API's media roots). ``describer`` None: frames only
    (``describe.backend: none``); with ``frames.enabled``, ``visual`` (made from ``cfg.frames`` when not given)
    embeds each chunk's frames as soon as it is decoded, before the describer sees it."""
    progress = progress or NoProgress()
    report = IngestReport()
    tasks = prepare(paths, cfg, writer, report, describer.name if describer else "", progress, roots)
    if describer and any(t.needs(s, cfg).describe for t in tasks for s in t.spans):  # else no model is loaded
        describer.load()
    if cfg.frames.enabled and visual is None:
        from pipeline.embed.visual import make_visual_embedder

        visual = make_visual_embedder(cfg.frames.model, cfg.frames.device, cfg.frames.batch_size)
    transcriber = None
    if cfg.speech.enabled:
        from pipeline.speech import make_transcriber

        transcriber = make_transcriber(cfg.speech)  # loaded by the first span that has audio
    with cancelling(tasks, writer):
        for task in tasks:
            if task.spans:
                _ingest_spans(task, cfg, writer, describer, progress, visual, transcriber)
            finish(task, writer, report, progress)
    writer.save()
    return report


def _ingest_spans(
    task: VideoTask, cfg: VidseekConfig, writer, describer, progress: Progress, visual, transcriber=None
) -> None:
    """One file's spans in order: transcribed, decoded, their frames indexed, those that changed described in
    batches, the still ones carrying the description before them; what goes wrong lands in ``task.problems``
    (audio that gives no transcript does not: the video is still captioned and framed, and the reason is kept)."""
    try:
        reader = ChangeSampler(open_reader(task.info, cfg.decode), cfg.decode)
    except DecodeError as exc:
        task.problems.append(exc.reason)
        return
    batch: list[FrameChunk] = []
    for i, span in enumerate(task.spans):
        needs = task.needs(span, cfg)
        if needs.speech:
            commit_speech(span, task, writer, transcriber, cfg)
        settled: Settled = []
        try:
            if not needs.frames_read:  # it needed its transcript only: no frame is decoded
                chunk_done(span, task, progress)
            else:
                sampled = reader.read(span)
                if needs.frames:  # every frame decoded, changed or not
                    commit_frames(sampled.chunk, task, writer, visual, cfg)
                if not needs.describe:  # it needed its frames only
                    chunk_done(span, task, progress)
                elif sampled.still:
                    settled = commit_still(span, sampled.chunk.frames_decoded, task, writer, progress, reader.name)
                else:
                    batch.append(sampled.for_model())
        except DecodeError as exc:
            settled = fail_span(span, exc.reason, task, writer, progress)
        if batch and (len(batch) == cfg.describe.dispatch_batch or i == len(task.spans) - 1):
            for chunk, result in zip(batch, describe_chunks(describer, batch), strict=True):
                settled += commit(result, task, writer, progress, chunk.decoder)
            batch = []
        task.problems += [problem for _, problem in settled if problem]
    task.problems += [f"{f.span.start_s:.0f} s: {f.reason}" for f in task.chain.left_waiting()]
    if reader.warning:
        task.problems.append(reader.warning)
    reader.close()


def write_run_summary(index_dir: Path, report: IngestReport, started: float, paths: list[str]) -> Path:
    """``DIR/runs/<start time>.json``: when, what was asked, and each video's outcome, for scheduled runs."""
    import json
    import time

    runs = IndexLayout(index_dir).runs
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    summary = {
        "started": started,
        "finished": time.time(),
        "paths": paths,
        "counts": {s: report.count(s) for s in ("ingested", "skipped", "failed")},
        "costs": asdict(report.costs),  # frames decoded and sent, model calls, carried chunks, tokens
        "videos": [r.as_dict() for r in report.results],
    }
    out = runs / f"{stamp}-{os.getpid()}.json"
    out.write_text(json.dumps(summary, indent=2))
    return out

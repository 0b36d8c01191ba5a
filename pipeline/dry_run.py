"""`vidseek ingest --dry-run`: what an ingest would send to the model (calls, frames, tokens, cost), without
writing anything or calling it. Without ``--scan`` every chunk is counted as sent with every frame sampled at
``decode.fps`` (an upper bound under change-aware sampling); with it the footage is decoded and compared as
ingest will (pipeline.decode.change), so still chunks and unchanged frames are left out as they will be."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import VidseekConfig
from pipeline.decode import DecodeError, open_reader
from pipeline.decode.change import ChangeSampler
from pipeline.job import IngestReport, PlannedVideo, plan_videos
from pipeline.types import ChunkCosts


@dataclass
class DryRunLine:
    """A file, what it would cost (``costs``: frames decoded and sent, model calls, still chunks, tokens), or why
    it would not be ingested (``note``)."""

    path: str
    footage_s: float = 0.0
    chunks: int = 0
    costs: ChunkCosts = field(default_factory=ChunkCosts)
    note: str = ""

    @classmethod
    def total(cls, lines: list[DryRunLine]) -> DryRunLine:
        total = cls("total")
        for line in lines:
            total.chunks += line.chunks
            total.costs += line.costs
        return total


def _chunk(frames_decoded: int, frames_sent: int = 0, tokens: tuple[int, int] = (0, 0)) -> ChunkCosts:
    """One chunk's estimate: a model call when it sends frames, else still (carried)."""
    return ChunkCosts(frames_decoded, frames_sent, int(frames_sent > 0), int(frames_sent == 0), *tokens)


def dry_run(paths: list[str], cfg: VidseekConfig, index_dir: Path, scan: bool = False) -> list[DryRunLine]:
    """One line per file: planned, skipped or failing, and what describing it would take."""
    from pipeline.index.catalog import Catalog
    from pipeline.index.folder import Index
    from pipeline.index.records import RecordStore

    catalog = Catalog(index_dir) if Index(index_dir).exists else None
    done_chunk_ids = RecordStore(index_dir).chunk_ids if catalog else lambda video_id: set()
    report = IngestReport()
    videos = plan_videos(paths, cfg, catalog, done_chunk_ids, report)
    if catalog:
        catalog.close()
    notes = {"failed": "would fail", "skipped": "skipped"}
    lines = [DryRunLine(r.path, note=f"{notes.get(r.status, r.status)}: {r.reason}") for r in report.results]
    for v in videos:
        line = DryRunLine(v.path, sum(s.duration_s for s in v.todo), len(v.todo))
        if cfg.describes:
            (_scan if scan else _assume_all_sent)(v, cfg, line)
        lines.append(line)
    return lines


def _assume_all_sent(video: PlannedVideo, cfg: VidseekConfig, line: DryRunLine) -> None:
    from pipeline.decode.readers import sample_targets_s
    from pipeline.describe.estimate import estimate_chunk

    for span in video.todo:
        frames = len(sample_targets_s(span, cfg.decode.fps))
        line.costs += _chunk(frames, frames, estimate_chunk(span, video.info, cfg.decode, cfg.describe))


def _scan(video: PlannedVideo, cfg: VidseekConfig, line: DryRunLine) -> None:
    """Decode the spans as ingest will and count what change-aware sampling would send (no frame is kept)."""
    from pipeline.describe.estimate import estimate_frames

    try:
        reader = ChangeSampler(open_reader(video.info, cfg.decode), cfg.decode)
    except DecodeError as exc:
        line.note = f"would fail: {exc.reason}"
        return
    try:
        for span in video.todo:
            try:
                sampled = reader.read(span)
            except DecodeError as exc:
                line.note = f"would fail: {exc.reason}"
                continue
            if sampled.still:
                line.costs += _chunk(sampled.chunk.frames_decoded)
                continue
            sent = sampled.for_model()
            tokens = estimate_frames(sent, video.info, cfg.decode, cfg.describe)
            line.costs += _chunk(sent.frames_decoded, len(sent.frames), tokens)
    finally:
        reader.close()

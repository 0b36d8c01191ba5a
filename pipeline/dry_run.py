"""`vidseek ingest --dry-run`: what an ingest would send to the model (calls, frames, tokens, cost), without
writing anything or calling it. Without ``--scan`` every chunk is counted as sent with every frame sampled at
``decode.fps`` (an upper bound under change-aware sampling); with it the footage is decoded and compared as
ingest will (pipeline.decode.change), so still chunks and unchanged frames are left out as they will be."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import VidseekConfig
from pipeline.decode import DecodeError, open_reader
from pipeline.decode.change import ChangeSampler
from pipeline.job import IngestReport, PlannedVideo, plan_videos


@dataclass
class DryRunLine:
    path: str
    footage_s: float = 0.0
    chunks: int = 0
    model_calls: int = 0
    frames_decoded: int = 0
    frames_sent: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    note: str = ""

    @classmethod
    def total(cls, lines: list[DryRunLine]) -> DryRunLine:
        total = cls("total")
        for line in lines:
            for name in ("chunks", "model_calls", "frames_decoded", "frames_sent", "input_tokens", "output_tokens"):
                setattr(total, name, getattr(total, name) + getattr(line, name))
        return total

    def add(self, frames_decoded: int, frames_sent: int = 0, tokens: tuple[int, int] = (0, 0)) -> None:
        """One chunk: a model call when it sends frames."""
        self.frames_decoded += frames_decoded
        self.frames_sent += frames_sent
        self.model_calls += frames_sent > 0
        self.input_tokens += tokens[0]
        self.output_tokens += tokens[1]


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
        line.add(frames, frames, estimate_chunk(span, video.info, cfg.decode, cfg.describe))


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
                line.add(sampled.chunk.frames_decoded)
                continue
            sent = sampled.for_model()
            line.add(sent.frames_decoded, len(sent.frames), estimate_frames(sent, video.info, cfg.decode, cfg.describe))
    finally:
        reader.close()

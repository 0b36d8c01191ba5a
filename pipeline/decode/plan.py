"""Cut a video's timeline into chunk spans: a fixed grid, so span ends (and chunk ids) never depend on decoding."""

from __future__ import annotations

from pipeline.config import DecodeConfig
from pipeline.types import ChunkSpan, VideoInfo

# A final piece shorter than this is folded into the chunk before it rather than described alone.
MIN_TAIL_S = 2.0


def plan_spans(info: VideoInfo, video_id: str, cfg: DecodeConfig) -> list[ChunkSpan]:
    """Spans of ``cfg.chunk_s`` every ``chunk_s - overlap_s`` seconds, the last one ending at the video's end."""
    step_s = cfg.chunk_s - cfg.overlap_s
    spans: list[ChunkSpan] = []
    start_s = 0.0
    while start_s < info.duration_s:
        end_s = min(start_s + cfg.chunk_s, info.duration_s)
        if info.duration_s - end_s < MIN_TAIL_S:
            end_s = info.duration_s
        spans.append(ChunkSpan(video_id, info.path, round(start_s, 3), round(end_s, 3)))
        if end_s >= info.duration_s:
            break
        start_s += step_s
    return spans

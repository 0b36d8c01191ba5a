"""vidseek's library: decode -> describe -> embed -> index -> search. Nothing here imports Ray."""

from pipeline.config import VidseekConfig, load_config
from pipeline.types import ChunkDescription, ChunkSpan, Event, FrameChunk, Hit, Segment, VideoInfo

__all__ = [
    "ChunkDescription",
    "ChunkSpan",
    "Event",
    "FrameChunk",
    "Hit",
    "Segment",
    "VideoInfo",
    "VidseekConfig",
    "load_config",
]

"""A fake describer for tests of everything around the model (decode, scheduling, indexing, search): no weights,
milliseconds a chunk. Its caption says what the model would have been given (how many frames, from when to when),
so a test can check the frames and clock a chunk carries; every chunk it saw is kept in ``seen``. The real model
path has its own tests (tests/test_qwen3vl.py, with a tiny random Qwen3-VL)."""

from __future__ import annotations

from pipeline.types import ChunkDescription, Event, FrameChunk


class FrameCountDescriber:
    name = "frame-count"

    def __init__(self) -> None:
        self.seen: list[FrameChunk] = []

    def load(self) -> None:
        pass

    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription]:
        self.seen.extend(chunks)
        return [
            ChunkDescription(
                c.span,
                f"{len(c.frames)} frames of street footage with cyclists",
                [Event(c.span.start_s, c.span.end_s, "cyclists", "cyclists ride past")],
                model=self.name,
            )
            for c in chunks
        ]

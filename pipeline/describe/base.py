"""The describe plug point: frames in, caption and events out."""

from __future__ import annotations

from typing import Protocol

from pipeline.types import ChunkDescription, FrameChunk


class Describer(Protocol):
    """``load()`` once (weights, processors), then ``describe`` many batches; one description per chunk, in order."""

    name: str

    def load(self) -> None: ...
    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription]: ...

"""The describe plug point: frames in, caption and events out."""

from __future__ import annotations

from typing import Protocol

from pipeline.types import ChunkDescription, ChunkFailure, FrameChunk


class Describer(Protocol):
    """``load()`` once (weights, clients), then ``describe`` many batches: one result per chunk, in order; a
    ``ChunkFailure`` for a chunk that could not be described (it is retried by the next ingest)."""

    name: str

    def load(self) -> None: ...
    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription | ChunkFailure]: ...

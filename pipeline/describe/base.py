"""The describe plug point: frames in, caption and events out; and the same model answering in text."""

from __future__ import annotations

from typing import Protocol

from pipeline.types import ChunkDescription, ChunkFailure, FrameChunk


class Describer(Protocol):
    """``load()`` once (weights, clients), then ``describe`` many batches: one result per chunk, in order; a
    ``ChunkFailure`` for a chunk that could not be described (it is retried by the next ingest)."""

    name: str

    def load(self) -> None: ...
    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription | ChunkFailure]: ...


class TextModel(Protocol):
    """The same model in text mode, for answers and summaries over captions (``vidseek ask``/``summarize``)."""

    name: str

    def load(self) -> None: ...
    def complete(self, prompt: str) -> str: ...  # the answer, reasoning removed
    def count_tokens(self, text: str) -> int: ...

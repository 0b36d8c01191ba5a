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


def describe_chunks(describer: Describer, chunks: list[FrameChunk]) -> list[ChunkDescription | ChunkFailure]:
    """``describer.describe``, each description noting the frames the model saw (their PTS) and how many were
    sampled: the chunk's audit trail (ChunkDescription)."""
    results = describer.describe(chunks)
    for chunk, result in zip(chunks, results, strict=True):
        if isinstance(result, ChunkDescription):
            result.frame_pts = [round(float(t), 3) for t in chunk.pts_s]
            result.frames_decoded = chunk.frames_decoded
    return results

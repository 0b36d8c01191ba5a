"""Still footage carries the description before it: a chunk whose frames did not change since the chunk before
(pipeline.decode.change) is not sent to the model; its time gets the caption of the last chunk described before
it, recorded and indexed like any other caption but marked ``carried_from`` that chunk, with no frames, events
or tokens. So every second of a file lies in some caption's span, and a scene that holds for an hour (a truck at
the dock) is found over that whole hour (pipeline.search joins a caption with those carrying it).

    span k still --waits until span k-1 is indexed--> carries k-1's source (k-1 itself when described, else
    the chunk k-1 carries) --indexed--> the still span after it may go

Only the spans of one file chain: a live source keeps its own last description (pipeline.live).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.types import CaptionSource, ChunkDescription, ChunkFailure, ChunkSpan

NO_SOURCE = "still footage after a chunk that was not described (it failed): described by the next ingest"


def carried(span: ChunkSpan, source: CaptionSource, frames_decoded: int) -> ChunkDescription:
    return ChunkDescription(
        span, source.caption, model=source.model, frames_decoded=frames_decoded, carried_from=source.chunk_id
    )


Released = list[tuple[ChunkDescription | ChunkFailure, str]]  # what can settle now, with each span's decoder


class StillChain:
    """One file's spans in time order, as this run settles them. ``still`` queues a still span; ``settled`` says a
    span was indexed (its description) or failed (None). Both return what can settle now: a carried description
    to index, or a failure for a still span after a chunk that failed (the next ingest retries both); the caller
    indexes it and says so in turn (pipeline.job)."""

    def __init__(self, spans: list[ChunkSpan], indexed_before: Callable[[str], CaptionSource | None]) -> None:
        """``spans``: all the file's spans, in order; ``indexed_before(chunk_id)``: what a chunk an earlier run
        indexed passes on (None: not indexed)."""
        self._before = {s.chunk_id: prev.chunk_id for prev, s in zip(spans, spans[1:], strict=False)}
        self._after = {prev.chunk_id: s for prev, s in zip(spans, spans[1:], strict=False)}
        self._indexed_before = indexed_before
        self._source: dict[str, CaptionSource | None] = {}  # chunk id -> what it passes on once settled
        # still spans whose span before is not settled: (span, frames decoded, decoder)
        self._waiting: dict[str, tuple[ChunkSpan, int, str]] = {}

    def still(self, span: ChunkSpan, frames_decoded: int, decoder: str = "") -> Released:
        self._waiting[span.chunk_id] = (span, frames_decoded, decoder)
        before = self._before.get(span.chunk_id)
        if before is None:  # cannot happen: a file's first span is always described (pipeline.decode.change)
            del self._waiting[span.chunk_id]
            return [(ChunkFailure(span, "a first chunk cannot carry a description"), decoder)]
        if before not in self._source:
            found = self._indexed_before(before)
            if found is None:
                return []  # settles later in this run
            self._source[before] = found
        return self._release(before)

    def settled(self, span: ChunkSpan, description: ChunkDescription | None) -> Released:
        self._source[span.chunk_id] = CaptionSource.of(description) if description is not None else None
        return self._release(span.chunk_id)

    def left_waiting(self) -> list[ChunkFailure]:
        """Still spans whose span before never settled in this run (it was not planned: a bug, not footage)."""
        left = [ChunkFailure(span, NO_SOURCE) for span, _, _ in self._waiting.values()]
        self._waiting.clear()
        return left

    def _release(self, chunk_id: str) -> Released:
        """The still span right after ``chunk_id``, if it waits: it settles now (and, once its caller has indexed
        it and said so, the one after it)."""
        after = self._after.get(chunk_id)
        if after is None or after.chunk_id not in self._waiting:
            return []
        span, frames_decoded, decoder = self._waiting.pop(after.chunk_id)
        source = self._source[chunk_id]
        return [(carried(span, source, frames_decoded) if source else ChunkFailure(span, NO_SOURCE), decoder)]

"""The types that flow through the pipeline, defined once.

    video file -> VideoInfo -> ChunkSpan -> FrameChunk -> ChunkDescription (caption + Events)
               -> Segment (one indexed text with its time span) -> Hit (a search answer)
    and beside them: FrameChunk -> FrameSpanRecord (alike frames, one vector: the frame index); per video,
    VideoRecord (its state in the index)

Every time is in seconds on the file's own clock, as ffprobe and a browser show it: the frames' presentation
timestamps (PTS) from the container, as they are (a video stream that starts after its audio starts after 0).
Spans are half-open: ``[start_s, end_s)``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Literal, NamedTuple

import numpy as np

SegmentKind = Literal["caption", "event", "speech"]  # speech: what is said (pipeline.speech)
HitKind = Literal["caption", "event", "speech", "frames"]  # frames: a moment found by what the footage looks like
TRANSCRIBED = "transcribed"  # a speech record's marker row: the chunk was transcribed (its text: why nothing was)

LIVE_ID_PREFIX = "live-"  # a live source's video id: this, then a hash of its URL (files use content hashes)

# Namespace for chunk ids: uuid5(namespace, f"{video_id}:{start_ms}:{end_ms}").
_CHUNK_NAMESPACE = uuid.UUID("6f1c2a7e-4b1d-5e0a-9c3f-2d8e7b6a5f40")


def chunk_id_for(video_id: str, start_s: float, end_s: float) -> str:
    """Deterministic chunk id: depends only on the video's content id and the span (to the millisecond)."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{video_id}:{round(start_s * 1000)}:{round(end_s * 1000)}"))


def segment_id_for(chunk_id: str, kind: SegmentKind | Literal["frames"], ordinal: int) -> int:
    """Deterministic positive int64 id for FAISS, from the chunk id and the segment's place in the chunk."""
    digest = hashlib.blake2b(f"{chunk_id}:{kind}:{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class VideoInfo:
    """What a cheap probe of the container tells: sizes are as displayed (rotation applied); ``duration_s`` is
    where the video ends on the file's clock, ``start_s`` where its stream starts (usually 0; later when the
    video starts after the audio)."""

    path: str
    duration_s: float
    width: int
    height: int
    rotation_deg: int
    avg_fps: float
    codec: str
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"{self.path}: duration must be positive, got {self.duration_s}")


@dataclass(frozen=True)
class ChunkSpan:
    """One unit of work: the frames of ``[start_s, end_s)`` of one video. A reader sets ``decoded_start_s`` where
    the span's first frame comes later (a video that starts late, a damaged stretch) and ``decoded_end_s`` where
    the file stopped decoding inside the span (corrupt or truncated data): the chunk then covers only
    ``[covered_start_s, covered_end_s)``, while its id stays the planned span's."""

    video_id: str
    video_path: str
    start_s: float
    end_s: float
    decoded_end_s: float | None = None
    decoded_start_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < self.end_s:
            raise ValueError(f"ChunkSpan needs 0 <= start_s < end_s, got [{self.start_s}, {self.end_s})")

    @property
    def chunk_id(self) -> str:
        return chunk_id_for(self.video_id, self.start_s, self.end_s)

    @property
    def covered_start_s(self) -> float:
        return self.start_s if self.decoded_start_s is None else self.decoded_start_s

    @property
    def covered_end_s(self) -> float:
        return self.end_s if self.decoded_end_s is None else self.decoded_end_s

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Needs(NamedTuple):
    """What a span still needs: to be described, its frames embedded into the frame index, its audio transcribed."""

    describe: bool
    frames: bool
    speech: bool

    @property
    def frames_read(self) -> bool:
        """Whether its frames are decoded at all: a transcript needs only the audio."""
        return self.describe or self.frames


@dataclass
class FrameChunk:
    """Decoded frames of one span with the PTS of each frame. ``frames_decoded``: how many frames were sampled
    at ``decode.fps`` for the span; change-aware sampling (pipeline.decode.change) keeps only those that changed,
    so the chunk can hold fewer (0 when made: all of them are here)."""

    span: ChunkSpan
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    pts_s: np.ndarray  # (T,) float64, strictly increasing, inside [span.start_s, span.end_s)
    decoder: str = ""  # the reader that decoded it: pyav, decord or opencv
    frames_decoded: int = 0

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}")
        if len(self.pts_s) != len(self.frames) or len(self.frames) == 0:
            raise ValueError(f"need >= 1 frame and one pts per frame: {len(self.frames)} frames, {len(self.pts_s)} pts")
        if np.any(np.diff(self.pts_s) <= 0):
            raise ValueError(f"pts_s must increase strictly: {self.pts_s}")
        self.frames_decoded = max(self.frames_decoded, len(self.frames))

    def subset(self, indices) -> FrameChunk:
        """The chunk with only these frames (in order), still counting every frame decoded."""
        idx = np.asarray(indices, dtype=int)
        return FrameChunk(self.span, self.frames[idx], self.pts_s[idx], self.decoder, self.frames_decoded)

    @property
    def step_s(self) -> float:
        """The sampling period the frames were decoded at (the chunk's covered time per frame decoded)."""
        return (self.span.covered_end_s - self.span.covered_start_s) / self.frames_decoded

    def __repr__(self) -> str:
        return (
            f"FrameChunk({self.span.video_path!r}, [{self.span.start_s:.3f}, {self.span.end_s:.3f}), "
            f"frames={self.frames.shape} of {self.frames_decoded}, "
            f"pts_s=[{self.pts_s[0]:.3f}..{self.pts_s[-1]:.3f}], {self.decoder})"
        )


@dataclass(frozen=True)
class Event:
    """Something that happens inside a chunk, with absolute times on the video's clock."""

    start_s: float
    end_s: float
    label: str
    description: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"Event needs 0 <= start_s <= end_s, got [{self.start_s}, {self.end_s}]")


@dataclass
class ChunkDescription:
    """What the model said about one chunk. ``problem`` records why the answer was not clean JSON, if so.

    The audit trail: ``frame_pts`` are the PTS of the frames the model saw, of ``frames_decoded`` sampled. A
    chunk whose footage did not change since the chunk before it is not sent to the model: it carries the
    caption of the last chunk described before it (``carried_from``, that chunk's id), with no frames, no events
    and no tokens (pipeline.carry)."""

    span: ChunkSpan
    caption: str
    events: list[Event] = field(default_factory=list)
    model: str = ""
    reasoning: str = ""
    problem: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    frame_pts: list[float] = field(default_factory=list)
    frames_decoded: int = 0
    carried_from: str = ""


@dataclass(frozen=True)
class CaptionSource:
    """The described chunk whose caption still footage after it carries (pipeline.carry)."""

    chunk_id: str
    caption: str
    model: str

    @classmethod
    def of(cls, description: ChunkDescription) -> CaptionSource:
        """What a chunk indexed with ``description`` passes on: itself, or the chunk it carries in turn."""
        return cls(description.carried_from or description.span.chunk_id, description.caption, description.model)


@dataclass
class ChunkCosts:
    """What describing footage took, summed over chunks (a video's, a run's): what `vidseek status` and the run
    summaries report. A model call is one chunk's prompt; a carried chunk took none."""

    frames_decoded: int = 0
    frames_sent: int = 0
    model_calls: int = 0
    carried: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, description: ChunkDescription) -> None:
        self.frames_decoded += description.frames_decoded
        self.frames_sent += len(description.frame_pts)
        self.model_calls += not description.carried_from
        self.carried += bool(description.carried_from)
        self.input_tokens += description.input_tokens
        self.output_tokens += description.output_tokens

    def __iadd__(self, other: ChunkCosts) -> ChunkCosts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk the model could not describe (after retries): recorded, not indexed, retried by the next ingest."""

    span: ChunkSpan
    reason: str


@dataclass(frozen=True)
class Segment:
    """One indexed text with its time span: a chunk's caption or one of its events."""

    segment_id: int
    chunk_id: str
    video_id: str
    video_path: str
    start_s: float
    end_s: float
    kind: SegmentKind
    text: str
    label: str = ""


@dataclass(frozen=True)
class IndexedSegment(Segment):
    """A segment as the catalog holds it: the segment, the model that described it, its hubness (None until the
    writer has computed it), and for a caption carried over still footage the chunk it repeats."""

    model: str = ""
    hubness: float | None = None
    carried_from: str = ""


@dataclass(frozen=True)
class SegmentRecord(Segment):
    """What the durable Parquet record keeps of a segment: the segment, the chunk it came from, how it was
    described, and its vector (a rebuild with the same embedder embeds nothing again). The record files' schema
    (pipeline.index.records) and the catalog's segment columns (``Segment``'s fields and ``model``) derive from
    these two types."""

    chunk_start_s: float = 0.0
    chunk_end_s: float = 0.0
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    problem: str = ""
    reasoning: str = ""
    decoder: str = ""
    # the chunk's audit trail, on its caption row (ChunkDescription): frames the model saw, frames decoded, and
    # the chunk a carried caption repeats
    frame_pts: list[float] = field(default_factory=list)
    frames_decoded: int = 0
    carried_from: str = ""
    vector: list[float] = field(default_factory=list)

    @property
    def frames_sent(self) -> int:
        return len(self.frame_pts)


VideoStatus = Literal["ingesting", "complete", "failed", "cancelled", "live", "stopped"]


@dataclass(frozen=True, kw_only=True)
class VideoRecord:
    """One video's state, as the catalog's ``videos`` table holds it and the records keep a copy of it
    (``records/<video_id>.json``, from which a lost catalog is restored). The table's columns derive from these
    fields (pipeline.index.catalog); see there for what each status means. ``config``: the ingest configuration,
    as JSON text."""

    video_id: str
    path: str
    size_bytes: int | None = None
    duration_s: float | None = None
    status: VideoStatus = "ingesting"
    reason: str = ""
    num_chunks: int = 0
    model: str = ""
    embedder: str = ""
    config: str = ""
    updated: float | None = None

    @classmethod
    def from_mapping(cls, row) -> VideoRecord:
        """From a catalog row or a kept JSON copy; keys the type does not know (counts, older files) are left."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(row).items() if k in names})  # dict(): a sqlite3.Row iterates values

    def public(self) -> dict:
        """The fields a listing shows (the ingest config is left to the one-video view)."""
        return {k: v for k, v in asdict(self).items() if k != "config"}


@dataclass(frozen=True, kw_only=True)
class VideoListing(VideoRecord):
    """A video with what it holds in the index: chunks described, events found, chunks in the frame index."""

    chunks: int = 0
    events: int = 0
    framed: int = 0
    transcribed: int = 0  # chunks whose audio was transcribed (speech found or not)
    audio_note: str = ""  # why some audio gave no transcript (no audio stream, a decode failure)

    def state(self, writing: bool) -> tuple[str, str]:
        """(what the video is, why) for a person: ``writing`` is whether a run holds the index now, without which
        an ``ingesting`` video was cut short (killed). A complete video nobody described is searchable by its
        frames only."""
        described = f"{self.chunks} of {self.num_chunks} chunks described"
        if self.status == "ingesting":
            if writing:
                return "ingesting", described
            return "cut short", f"{described}; its run stopped (killed?): the next ingest describes the rest"
        if self.status == "complete" and not self.chunks and self.framed:
            return "frames only", "searchable by what it looks like only: ingest with a describe backend to describe it"
        if self.audio_note:
            return self.status, "; ".join(x for x in (self.reason, f"audio: {self.audio_note}") if x)
        return self.status, self.reason

    def public_state(self, writing: bool) -> dict:
        state, note = self.state(writing)
        return self.public() | {"state": state, "state_note": note}


@dataclass(frozen=True)
class Gap:
    """A stretch of a live source that was not captured (the stream dropped, a reconnect)."""

    video_id: str
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class FrameSpanRecord:
    """Consecutive frames of one chunk that look alike, as one vector of the frame index: kept in its Parquet
    records (with the vector), the catalog (without) and FAISS. ``[start_s, end_s)`` runs from the first frame's
    PTS to the next span's (the chunk's covered end for the last)."""

    frame_id: int
    chunk_id: str
    video_id: str
    video_path: str
    start_s: float
    end_s: float
    frames: int
    vector: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    """A search answer."""

    video: str
    start_s: float
    end_s: float
    score: float
    text: str
    kind: HitKind
    label: str = ""
    video_id: str = ""  # the catalog's id of ``video`` (the path as ingested)
    model: str = ""  # the model that wrote ``text`` ("" for frames nobody has described yet)

    def to_json(self) -> dict:
        """As every surface (CLI --json, HTTP, MCP) gives it: times in seconds and as read (HH:MM:SS for a file,
        ISO UTC for a live source, whose seconds are Unix time), and the model that wrote the text."""
        from pipeline.timefmt import format_time

        return {
            "video": self.video,
            "video_id": self.video_id,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "start": format_time(self.start_s),
            "end": format_time(self.end_s),
            "score": round(self.score, 4),
            "text": self.text,
            "kind": self.kind,
            "label": self.label,
            "model": self.model,
        }


def segments_from(description: ChunkDescription) -> list[Segment]:
    """The caption and each event of a chunk, as indexable segments with deterministic ids."""
    span = description.span
    cid = span.chunk_id
    out = [
        Segment(
            segment_id_for(cid, "caption", 0),
            cid,
            span.video_id,
            span.video_path,
            span.covered_start_s,
            span.covered_end_s,
            "caption",
            description.caption,
        )
    ]
    start_s, end_s = span.covered_start_s, span.covered_end_s  # events are kept inside what was decoded
    for i, ev in enumerate(description.events):
        text = f"{ev.label}: {ev.description}" if ev.label and ev.description else ev.description or ev.label
        out.append(
            Segment(
                segment_id_for(cid, "event", i),
                cid,
                span.video_id,
                span.video_path,
                min(max(ev.start_s, start_s), end_s),
                min(max(ev.end_s, start_s), end_s),
                "event",
                text,
                ev.label,
            )
        )
    return out

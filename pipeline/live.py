"""`vidseek watch`: sources that never end, cut into chunks on the UTC clock, described by one shared model,
committed (and searchable) as each completes, and matched against the standing queries on every commit.

One reader thread per source (``StreamReader``) cuts chunks aligned to ``decode.chunk_s`` of UTC time and marks
the frames that changed since the last one kept (pipeline.decode.change, decode.sampling: change); all sources
feed one bounded queue that the calling thread drains in batches through the describer and the single index
writer. A chunk in which nothing changed is not sent to the model: it carries its source's last description
(pipeline.carry), unless that is ``decode.max_still_s`` old; so a camera on an empty room costs (nearly) no model
calls until something happens, and then that chunk is described as soon as it is cut, as before. The model sees
seconds since the watch started (small numbers, like a file's); the index stores UTC. A drop is a gap in the
catalog; a chunk the model could not describe is a gap too, since a live moment cannot be re-read later; after
either, the next chunk is described afresh. Stopping finishes the chunk each source was filling and drains the
queue. With speech on, each source's audio is transcribed per chunk on the same clock (pipeline.live_speech): a
chunk's speech follows its caption by ``speech.margin_s``, the audio a sentence across chunks needs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.carry import carried
from pipeline.config import DecodeConfig, VidseekConfig
from pipeline.decode.change import change_signal, thumbnail
from pipeline.decode.stream import StreamAudio, StreamAudioNote, StreamDrop, StreamFrame, StreamGap, StreamReader
from pipeline.describe.base import Describer, describe_chunks
from pipeline.index.frames import frame_records
from pipeline.index.writer import IndexWriter
from pipeline.live_speech import LiveListener
from pipeline.speech import make_transcriber, transcribe_clip
from pipeline.types import LIVE_ID_PREFIX, CaptionSource, ChunkDescription, ChunkFailure, ChunkSpan, FrameChunk

log = logging.getLogger(__name__)


COMPACT_EVERY = 240  # chunks (4 h of 60 s chunks): a source's per-chunk Parquet parts are merged this often
NOT_CARRIED = "nothing changed, but the chunk before it was not described"


def live_video_id(source: str) -> str:
    return LIVE_ID_PREFIX + hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


@dataclass
class LiveChunk:
    source: str
    video_id: str
    start_s: float  # UTC
    end_s: float
    frames: list[StreamFrame]
    kept: list[int] | None = None  # the frames that changed (decode.sampling: change); None: all of them

    @property
    def still(self) -> bool:
        return self.kept == []

    def for_model(self) -> list[int]:
        """The frames to describe: those kept (a still chunk's first one, when it must be described anyway)."""
        return list(range(len(self.frames))) if self.kept is None else self.kept or [0]


@dataclass
class CommittedChunk:
    source: str
    start_s: float
    end_s: float
    caption: str
    latency_s: float  # commit time minus the chunk's end: how long after happening it became searchable
    model_s: float  # the describe call this chunk was in (0 for a chunk that carried the last description)
    carried: bool = False  # nothing changed: the source's last description, no model call


@dataclass
class SourceState:
    source: str
    video_id: str
    chunks: int = 0
    first_s: float | None = None
    last_s: float | None = None
    gaps: list[StreamGap] = field(default_factory=list)
    caption_source: CaptionSource | None = None  # its last description, which a still chunk carries
    described_s: float = -math.inf  # UTC start of the last chunk sent to the model
    listener: LiveListener | None = None  # its audio, with speech on


class _Cutter:
    """Frames of one source -> chunks whose ends sit on multiples of ``chunk_s`` (UTC), each frame compared with
    the last one kept (change-aware sampling; after a drop the next frame is kept whatever it shows)."""

    def __init__(self, state: SourceState, decode: DecodeConfig, emit: Callable[[LiveChunk], None]):
        self.state, self.chunk_s, self.step, self.emit = state, decode.chunk_s, 1.0 / decode.fps, emit
        self.threshold = decode.change_threshold if decode.sampling == "change" else None
        self.frames: list[StreamFrame] = []
        self.kept: list[int] = []
        self.reference = None  # thumbnail of the last frame kept
        self.start_s = self.end_s = 0.0
        self.continues_at: float | None = None  # the last chunk's end, while the stream has not dropped since

    def add(self, frame: StreamFrame) -> None:
        if self.frames and frame.utc_s >= self.end_s:
            self.flush(self.end_s)
            self.continues_at = self.end_s
        if not self.frames:
            # a chunk that continues the last one starts where it ended, so continuous footage has no holes
            self.start_s = self.continues_at if self.continues_at is not None else frame.utc_s
            self.end_s = (math.floor(frame.utc_s / self.chunk_s) + 1) * self.chunk_s
        self._compare(frame)
        self.frames.append(frame)
        if frame.utc_s + self.step >= self.end_s - 1e-3:  # no later sample can fall inside: close it now
            self.flush(self.end_s)
            self.continues_at = self.end_s

    def _compare(self, frame: StreamFrame) -> None:
        if self.threshold is None:
            self.kept.append(len(self.frames))
            return
        thumb = thumbnail(frame.rgb)
        if self.reference is None or change_signal(thumb, self.reference) > self.threshold:
            self.kept.append(len(self.frames))
            self.reference = thumb

    def flush(self, end_s: float | None = None) -> None:
        """Emit what has been gathered; a partial chunk (drop, stop) ends one sample after its last frame."""
        if self.frames:
            end = end_s if end_s is not None else min(self.end_s, self.frames[-1].utc_s + self.step)
            chunk = LiveChunk(self.state.source, self.state.video_id, self.start_s, end, self.frames, self.kept)
            self.emit(chunk)
            self.frames, self.kept = [], []
        if end_s is None:
            self.continues_at = None
            self.reference = None  # what comes after a drop is described afresh


class Watcher:
    def __init__(
        self,
        sources: list[str],
        cfg: VidseekConfig,
        writer: IndexWriter,
        describer: Describer | None,
        on_chunk: Callable[[CommittedChunk], None] | None = None,
        on_gap: Callable[[str, StreamGap], None] | None = None,
        visual=None,
        on_speech: Callable[[str, list], None] | None = None,
    ) -> None:
        """``describer`` None: frames only (``describe.backend: none``). With ``frames.enabled`` each chunk's frames
        are indexed (by ``visual``, made from ``cfg.frames`` when not given) before the describer sees it."""
        if not sources:
            raise ValueError("nothing to watch: give a SOURCE or set live.sources in the config")
        self.cfg, self.writer, self.describer = cfg, writer, describer
        if cfg.frames.enabled and visual is None:
            from pipeline.embed.visual import make_visual_embedder

            visual = make_visual_embedder(cfg.frames.model, cfg.frames.device, cfg.frames.batch_size)
        self.visual = visual if cfg.frames.enabled else None
        self.on_chunk, self.on_gap, self.on_speech = on_chunk, on_gap, on_speech
        self.transcriber = None
        if cfg.speech.enabled:
            self.transcriber = make_transcriber(cfg.speech)  # loaded when the first audio is heard
        # A growing file is named by its absolute path, like an ingested one (a URL or device index stays as is).
        named = [os.path.abspath(s) if os.path.isfile(s) else s for s in sources]
        self.sources = {s: SourceState(s, live_video_id(s)) for s in dict.fromkeys(named)}
        for state in self.sources.values():
            state.listener = LiveListener(cfg.speech.margin_s) if self.transcriber else None
        self.stop = threading.Event()
        self.origin_s = math.floor(time.time())  # the model's clock: seconds since the watch started
        self.committed: list[CommittedChunk] = []
        self._queue: queue.Queue = queue.Queue(maxsize=cfg.live.max_queued_chunks)
        self._threads: list[threading.Thread] = []

    # -- reader threads -------------------------------------------------------------------------------------
    def _read(self, state: SourceState) -> None:
        reader = StreamReader(state.source, self.cfg.decode, self.cfg.live, self.stop, listen=bool(state.listener))
        cutter = _Cutter(state, self.cfg.decode, self._queue.put)
        try:
            for item in reader.frames():
                if isinstance(item, StreamDrop):
                    cutter.flush()  # what arrived before the drop is committed now, not when the source is back
                elif isinstance(item, StreamGap):
                    self._queue.put((state, item))
                elif isinstance(item, StreamAudio):
                    state.listener.hear(item)
                elif isinstance(item, StreamAudioNote):
                    state.listener.note(item.reason)
                else:
                    cutter.add(item)
            cutter.flush()  # stopping: finish the chunk in flight
        except Exception:
            log.exception("reader for %s failed", state.source)

    # -- the commit loop (calling thread) -------------------------------------------------------------------
    def run(self, duration_s: float | None = None) -> list[CommittedChunk]:
        """Watch until ``stop`` is set (or ``duration_s`` passes); returns the committed chunks."""
        if self.describer:
            self.describer.load()
        model = self.describer.name if self.describer else ""
        for state in self.sources.values():
            self.writer.begin_video(state.video_id, state.source, 0, 0.0, model, self.cfg.model_dump())
            self.writer.catalog.set_video(state.video_id, status="live")
            thread = threading.Thread(target=self._read, args=(state,), name=f"watch {state.source}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                self.stop.set()
            readers_done = not any(t.is_alive() for t in self._threads)
            batch = self._take_batch(timeout_s=0.2)
            if batch:
                self._commit(batch)
            self._transcribe(closing=readers_done and not batch)
            if readers_done and not batch:
                break
        self._finish()
        return self.committed

    def _take_batch(self, timeout_s: float) -> list:
        try:
            batch = [self._queue.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while len(batch) < self.cfg.describe.dispatch_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list) -> None:
        chunks = [item for item in batch if isinstance(item, LiveChunk)]
        for item in batch:
            if isinstance(item, tuple):
                self._record_gap(*item)
        if not chunks:
            return
        for chunk in chunks:  # its speech is transcribed once the audio has run past it (_transcribe)
            if listener := self.sources[chunk.source].listener:
                listener.wait_for(ChunkSpan(chunk.video_id, chunk.source, chunk.start_s, chunk.end_s))
        if self.visual is not None:  # searchable by its frames before the model has described it
            for chunk in chunks:
                self.writer.write_frames(
                    frame_records(self._utc_chunk(chunk), self.visual, self.cfg.frames.merge_cosine), self.visual.name
                )
            self.writer.save(contexts=False)
        model_started = time.monotonic()
        to_describe = self._to_describe(chunks) if self.describer else []
        model_chunks = [self._model_chunk(c, c.for_model()) for c in to_describe]
        described = describe_chunks(self.describer, model_chunks) if model_chunks else []
        results = dict(zip(map(id, to_describe), described, strict=True))
        model_s = time.monotonic() - model_started
        committed = [done for chunk in chunks if (done := self._index(chunk, results)) is not None]
        self.writer.save(contexts=False)  # searchable now, by other processes too
        self._announce(committed, model_s)
        self.writer.save_contexts()  # then the contexts these chunks changed

    def _transcribe(self, closing: bool) -> None:
        """Index what was said in each chunk whose audio is complete (all of them when ``closing``)."""
        written = False
        for state in self.sources.values():
            if state.listener is None:
                continue
            frames_to_s = state.last_s if state.last_s is not None else -math.inf
            for span, clip, note in state.listener.due(frames_to_s, closing):
                transcript = transcribe_clip(self.transcriber, clip, span, note)
                self.writer.write_speech(span, transcript)
                written = True
                if self.on_speech and transcript.utterances:
                    self.on_speech(state.source, transcript.utterances)
        if written:
            self.writer.save(contexts=False)  # searchable now, by other processes too

    def _index(self, chunk: LiveChunk, results: dict) -> tuple[LiveChunk, ChunkDescription | None] | None:
        """Index one chunk: its description, or (still) its source's last one; in order, since a still chunk
        carries the chunk before it. Returns the chunk and what was indexed (None: frames only); None for a gap."""
        state = self.sources[chunk.source]
        result = results.get(id(chunk)) if self.describer else None
        if self.describer and id(chunk) not in results:
            result = self._carried(chunk, state.caption_source)
        if isinstance(result, ChunkFailure):
            state.caption_source = None  # the next chunk is described afresh
            self._record_gap(state, StreamGap(chunk.start_s, chunk.end_s, f"not described: {result.reason}"))
            return None
        if result is not None:
            result = self._to_utc(result)
            state.caption_source = CaptionSource.of(result)
            self.writer.write(result, decoder="stream")
        state.chunks += 1
        if state.chunks % COMPACT_EVERY == 0:  # a camera watched for months must not pile up small files
            self.writer.records.compact(state.video_id)
            self.writer.speech.compact(state.video_id)
            if self.writer.frames is not None:
                self.writer.frames.records.compact(state.video_id)
        state.first_s = chunk.start_s if state.first_s is None else state.first_s
        state.last_s = chunk.end_s
        return chunk, result

    def _announce(self, committed: list[tuple[LiveChunk, ChunkDescription | None]], model_s: float) -> None:
        """Tell ``on_chunk`` of each chunk now searchable, with how long after it ended."""
        now = time.time()
        for chunk, result in committed:
            carries = result is not None and bool(result.carried_from)
            caption = result.caption if result is not None else ""  # frames only: no caption
            took_s = 0.0 if carries else model_s
            done = CommittedChunk(chunk.source, chunk.start_s, chunk.end_s, caption, now - chunk.end_s, took_s, carries)
            self.committed.append(done)
            if self.on_chunk:
                self.on_chunk(done)

    def _to_describe(self, chunks: list[LiveChunk]) -> list[LiveChunk]:
        """The chunks the model must see: those that changed, and a still one whose source has no description to
        carry (the watch just began, a drop, a failed chunk) or was last described ``max_still_s`` ago (then its
        first frame is sent)."""
        out = []
        has_description = {name: state.caption_source is not None for name, state in self.sources.items()}
        for chunk in chunks:
            state = self.sources[chunk.source]
            fresh = chunk.end_s - state.described_s <= self.cfg.decode.max_still_s
            if chunk.still and has_description[chunk.source] and fresh:
                continue
            out.append(chunk)
            state.described_s, has_description[chunk.source] = chunk.start_s, True
        return out

    def _carried(self, chunk: LiveChunk, source: CaptionSource | None) -> ChunkDescription | ChunkFailure:
        """A still chunk carrying its source's last description, on the model's clock as a description comes
        back (``_to_utc`` moves it); a failure when the chunk before it was not described."""
        o = self.origin_s
        span = ChunkSpan(chunk.video_id, chunk.source, chunk.start_s - o, chunk.end_s - o)
        return carried(span, source, len(chunk.frames)) if source else ChunkFailure(span, NOT_CARRIED)

    def _record_gap(self, state: SourceState, gap: StreamGap) -> None:
        state.gaps.append(gap)
        self.writer.catalog.add_gap(state.video_id, gap.start_s, gap.end_s, gap.reason)
        if self.on_gap:
            self.on_gap(state.source, gap)

    def _model_chunk(self, chunk: LiveChunk, indices: list[int] | None = None) -> FrameChunk:
        """The frames at ``indices`` (default: all) on the model's clock, counting every frame decoded."""
        o = self.origin_s
        span = ChunkSpan(chunk.video_id, chunk.source, chunk.start_s - o, chunk.end_s - o)
        shape = chunk.frames[0].rgb.shape  # a reconnect may change the resolution: keep the first size's frames
        chosen = range(len(chunk.frames)) if indices is None else indices
        frames = [chunk.frames[i] for i in chosen if chunk.frames[i].rgb.shape == shape] or chunk.frames[:1]
        pts = np.array([f.utc_s - o for f in frames])
        return FrameChunk(span, np.stack([f.rgb for f in frames]), pts, "stream", len(chunk.frames))

    def _utc_chunk(self, chunk: LiveChunk) -> FrameChunk:
        """The chunk on the index's clock (UTC seconds), as its frames are indexed."""
        model = self._model_chunk(chunk)
        span = ChunkSpan(chunk.video_id, chunk.source, chunk.start_s, chunk.end_s)
        return FrameChunk(span, model.frames, model.pts_s + self.origin_s, decoder="stream")

    def _to_utc(self, d: ChunkDescription) -> ChunkDescription:
        o = self.origin_s
        span = ChunkSpan(d.span.video_id, d.span.video_path, d.span.start_s + o, d.span.end_s + o)
        events = [replace(e, start_s=e.start_s + o, end_s=e.end_s + o) for e in d.events]
        return replace(d, span=span, events=events, frame_pts=[round(t + o, 3) for t in d.frame_pts])

    def _finish(self) -> None:
        for state in self.sources.values():
            covered = (state.last_s - state.first_s) if state.first_s is not None else 0.0
            self.writer.catalog.set_video(state.video_id, duration_s=covered)
            self.writer.finish_video(state.video_id, "stopped", num_chunks=state.chunks)

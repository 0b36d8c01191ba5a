"""The ingest scheduler: which span to decode next, which decoded chunks to describe together, what to retry, when a
call has hung, and that each described chunk is committed once. It knows no Ray: it drives workers through an
``Executor`` (``workers.ray_job.RayExecutor`` on Ray; tests drive it with a fake one in milliseconds).

    lanes of spans --decode workers--> decoded chunks --model workers, in batches--> descriptions --> the writer
                     (at most ray.max_chunks_in_flight chunks decoding or decoded and not yet described)
                   a still span (no frame changed) goes to the writer with no model call, carrying the
                   description before it once that one is indexed (pipeline.carry)

Failures: a decode worker that dies, or runs past ``decode.timeout_s``, is killed and replaced, and the rest of its
lane is read with OpenCV; a model worker that dies, or whose call runs past ``ray.model_timeout_s``, is replaced
and its batch described again; frames lost with their node are decoded again. Each span is retried up to
``ray.max_retries`` times, then its video is marked failed with the reason, and the rest of the job goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.config import VidseekConfig
from pipeline.index.writer import IndexWriter
from pipeline.job import (
    IngestReport,
    NoProgress,
    Progress,
    Settled,
    VideoTask,
    chunk_done,
    commit,
    commit_still,
    commit_transcript,
    fail_span,
    finish,
)
from pipeline.types import ChunkSpan, Needs, VideoInfo

log = logging.getLogger(__name__)
LANE_CHUNKS = 10  # spans per lane: a long video is split into lanes decoded by different workers
ACTOR_START_S = 300  # a decode worker not up by then (no node can place it) counts as one that timed out
WAIT_S = 1.0  # the longest wait for a call before timeouts are checked again


class WorkerDied(Exception):
    """The worker running a call is gone (crashed, killed, or lost with its node)."""


class FramesLost(Exception):
    """A describe call's decoded frames were lost with the node that held them."""


class CallFailed(Exception):
    """The call's own code raised ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class Executor(Protocol):
    """Runs the workers. Workers and calls are the executor's own handles; calls must be hashable."""

    def gpus(self) -> int: ...

    def start_decoder(self) -> object:
        """A new decode worker (``actors.DecodeWorker``); it may still be starting."""
        ...

    def start_model(self) -> object:
        """A new model worker (``actors.ModelWorker``)."""
        ...

    def is_up(self, worker: object) -> bool:
        """Whether a decode worker has started, without waiting."""
        ...

    def decode(
        self, worker: object, info: VideoInfo, span: ChunkSpan, backend: str, needs: Needs
    ) -> tuple[object, object]:
        """(call, frames): the call's result is ``DecodeWorker.read``'s status; ``frames`` is handed to describe.
        ``needs.speech``: the status also holds the span's transcript (``speech``)."""
        ...

    def describe(self, worker: object, frames: list[object]) -> object:
        """A call whose result is one ChunkDescription or ChunkFailure per chunk."""
        ...

    def wait(self, calls: list[object], timeout_s: float) -> list[object]:
        """Those of ``calls`` that have finished, after waiting up to ``timeout_s`` for one."""
        ...

    def result(self, call: object) -> object:
        """The call's result; raises WorkerDied, FramesLost or CallFailed."""
        ...

    def kill(self, worker: object) -> None: ...


class JobMetrics(Protocol):
    def settled(self, ok: bool, footage_s: float = 0.0) -> None: ...

    def depth(self, to_decode: int, to_describe: int) -> None: ...

    def model_call(self, seconds: float) -> None: ...


class NoMetrics:
    def settled(self, ok: bool, footage_s: float = 0.0) -> None:
        pass

    def depth(self, to_decode: int, to_describe: int) -> None:
        pass

    def model_call(self, seconds: float) -> None:
        pass


@dataclass
class Lane:
    task: VideoTask
    spans: deque[ChunkSpan]
    backend: str = "auto"  # "opencv" after a decode call timed out or crashed on this file


@dataclass
class Pending:
    """A span between stages: which video, how often retried, its decoded frames once read."""

    task: VideoTask
    span: ChunkSpan
    frames: object = None
    decoder: str = ""
    attempts: int = 0


@dataclass(eq=False)
class Slot:
    """A worker and the call it is running."""

    worker: object
    lane: Lane | None = None
    call: object = None
    items: list[Pending] = field(default_factory=list)
    started: float = 0.0  # when the call was sent, or when its worker came up if that was later
    up: bool = True  # decode workers: False until started (a worker's start-up is not decode time)


class Scheduler:
    def __init__(
        self,
        cfg: VidseekConfig,
        executor: Executor,
        writer: IndexWriter,
        progress: Progress | None = None,
        metrics: JobMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg, self.ex, self.writer, self.clock = cfg, executor, writer, clock
        self.progress, self.metrics = progress or NoProgress(), metrics or NoMetrics()
        num_models = (cfg.ray.num_model_workers or max(1, executor.gpus())) if cfg.describes else 0
        self.decoders = [self._start_decoder(Slot(None)) for _ in range(cfg.ray.num_decode_workers)]
        self.models = [Slot(executor.start_model()) for _ in range(num_models)]
        self.lanes: deque[Lane] = deque()
        self.decoded: deque[Pending] = deque()
        self.remaining: dict[str, int] = {}  # video_id -> spans not yet written or failed

    def run(self, tasks: list[VideoTask], report: IngestReport) -> IngestReport:
        """Ingest the planned tasks; the workers are stopped and the index saved at the end, whatever happens."""
        try:
            for task in tasks:
                self._add_lanes(task)
            while self._unsettled():
                self._feed_decoders()  # Stage 2: decode, within the in-flight bound
                self._feed_models()  # Stage 3: describe, in batches
                queued = sum(len(lane.spans) for lane in self.lanes)
                self.metrics.depth(queued, len(self.decoded))
                calls = {s.call: s for s in self.decoders + self.models if s.call is not None}
                if not calls:  # work is left but none could start: a scheduling bug; fail loudly, not spin
                    raise RuntimeError(f"ingest stalled: {len(self.decoded)} chunks decoded, {queued} spans queued")
                for call in self.ex.wait(list(calls), WAIT_S):
                    slot = calls[call]
                    if slot in self.decoders:
                        self._decode_done(slot, report)
                    else:
                        self._describe_done(slot, report)  # Stage 4: index each described chunk, once
                self._check_timeouts(report)
            for task in tasks:  # still spans whose span before never settled (not planned: a bug, not footage)
                if self.remaining[task.video_id] > 0:
                    left = [(f.span, f"{f.span.start_s:.0f} s: {f.reason}") for f in task.chain.left_waiting()]
                    self._settle(task, left, report)
        finally:
            for slot in self.decoders + self.models:
                self.ex.kill(slot.worker)
            self.writer.save()
        return report

    def _add_lanes(self, task: VideoTask) -> None:
        self.remaining[task.video_id] = len(task.spans)
        for i in range(0, len(task.spans), LANE_CHUNKS):
            self.lanes.append(Lane(task, deque(task.spans[i : i + LANE_CHUNKS])))

    def _unsettled(self) -> bool:
        """Anything left to do: spans in lanes (queued, or held by a decoder), decoded chunks, running calls."""
        held = any(s.lane is not None and s.lane.spans for s in self.decoders)
        return bool(self.lanes or held or self.decoded or any(s.call is not None for s in self.decoders + self.models))

    def _settle(self, task: VideoTask, settled: Settled, report: IngestReport) -> None:
        """Spans are settled (indexed, or failed with their problem); finish the video after its last span."""
        for span, problem in settled:
            if problem:
                task.problems.append(problem)
            self.metrics.settled(ok=not problem, footage_s=0.0 if problem else span.duration_s)
            self.remaining[task.video_id] -= 1
        if settled and self.remaining[task.video_id] == 0:
            finish(task, self.writer, report, self.progress)

    def _fail(self, item: Pending, report: IngestReport, problem: str) -> None:
        """The span failed; so do the still spans after it that would have carried its description."""
        self._settle(item.task, fail_span(item.span, problem, item.task, self.writer, self.progress), report)

    # -- Stage 2: decode ------------------------------------------------------------------------------------
    def _start_decoder(self, slot: Slot) -> Slot:
        slot.worker, slot.up, slot.started = self.ex.start_decoder(), False, self.clock()
        slot.call, slot.items = None, []
        return slot

    def _in_flight(self) -> int:
        return len(self.decoded) + sum(s.call is not None for s in self.decoders)

    def _feed_decoders(self) -> None:
        for slot in self.decoders:
            if slot.call is not None or self._in_flight() >= self.cfg.ray.max_chunks_in_flight:
                continue
            if slot.lane is None or not slot.lane.spans:
                slot.lane = self.lanes.popleft() if self.lanes else None
            if slot.lane is None:
                continue
            self._submit_decode(slot, Pending(slot.lane.task, slot.lane.spans.popleft()))

    def _submit_decode(self, slot: Slot, item: Pending) -> None:
        backend = slot.lane.backend if slot.lane else "auto"
        needs = item.task.needs(item.span, self.cfg)
        slot.call, item.frames = self.ex.decode(slot.worker, item.task.info, item.span, backend, needs)
        slot.items, slot.started = [item], self.clock()

    def _decode_done(self, slot: Slot, report: IngestReport) -> None:
        item, call = slot.items[0], slot.call
        slot.call, slot.items = None, []
        try:
            status = self.ex.result(call)
        except WorkerDied:
            self._replace_decoder(slot, item, report, "decode worker died")
            return
        except CallFailed as exc:  # not a DecodeError (those come back in the status): a bug in a reader
            self._fail(item, report, f"decode failed: {exc.cause!r}"[:300])
            return
        if status.get("speech") is not None:  # what is said, whether or not the frames decoded
            commit_transcript(item.span, status["speech"], item.task, self.writer)
        if status["warning"]:
            item.task.problems.append(status["warning"])
        if status["error"]:
            self._fail(item, report, status["error"])
            return
        item.decoder = status["decoder"]
        if status.get("frames"):  # searchable by its frames from the next save, before it is described
            self.writer.write_frames(status["frames"], status["frame_model"])
            item.task.framed.add(item.span.chunk_id)
        if not item.task.needs(item.span, self.cfg).describe:  # it needed its frames or its transcript only
            chunk_done(item.span, item.task, self.progress)
            self._settle(item.task, [(item.span, "")], report)
        elif status.get("still"):  # nothing changed: it carries the description before it, no model call
            frames = status["frames_decoded"]
            self._settle(
                item.task, commit_still(item.span, frames, item.task, self.writer, self.progress, item.decoder), report
            )
        else:
            self.decoded.append(item)

    def _replace_decoder(self, slot: Slot, item: Pending, report: IngestReport, why: str) -> None:
        self.ex.kill(slot.worker)
        self._start_decoder(slot)
        item.attempts += 1
        if slot.lane is not None:
            slot.lane.backend = "opencv"  # the reader stalled or crashed on this file: read the rest with OpenCV
        if item.attempts > self.cfg.ray.max_retries:
            span = f"[{item.span.start_s:.0f}, {item.span.end_s:.0f}) s"
            self._fail(item, report, f"{why} in {span} after {item.attempts} attempts")
        else:
            log.warning("%s: %s; retrying span %.0f-%.0f s", item.task.path, why, item.span.start_s, item.span.end_s)
            self._submit_decode(slot, item)

    def _check_timeouts(self, report: IngestReport) -> None:
        """Kill and replace a decoder whose call ran past decode.timeout_s, counted from when its worker was up
        (a replacement starting on a busy node is not a stuck decode), and a model worker whose call ran past
        ray.model_timeout_s (its chunks are described again)."""
        now = self.clock()
        for slot in self.models:
            if slot.call is not None and now - slot.started > self.cfg.ray.model_timeout_s:
                why = f"model call timed out after {self.cfg.ray.model_timeout_s:.0f} s"
                log.warning("%s; replacing the model worker and retrying %d chunks", why, len(slot.items))
                items, slot.call, slot.items = slot.items, None, []
                self.ex.kill(slot.worker)
                slot.worker = self.ex.start_model()
                self._retry(items, report, f"{why}, {self.cfg.ray.max_retries + 1} times", redecode=False)
        for slot in self.decoders:
            if slot.call is None:
                continue
            if not slot.up:
                if self.ex.is_up(slot.worker):
                    slot.up, slot.started = True, now
                elif now - slot.started > ACTOR_START_S:
                    self._replace_decoder(slot, slot.items[0], report, f"decode worker not up after {ACTOR_START_S} s")
                continue
            if now - slot.started > self.cfg.decode.timeout_s:
                why = f"decode timed out after {self.cfg.decode.timeout_s:.0f} s"
                self._replace_decoder(slot, slot.items[0], report, why)

    # -- Stage 3: describe ----------------------------------------------------------------------------------
    def _feed_models(self) -> None:
        # A batch waits for more decoded chunks only while more can come: decoding stops at the backpressure
        # bound, so waiting for a batch larger than it would wait forever.
        batch_size = min(self.cfg.describe.dispatch_batch, self.cfg.ray.max_chunks_in_flight)
        decoding = self.lanes or any(s.call is not None for s in self.decoders)
        for slot in self.models:
            if slot.call is not None or not self.decoded:
                continue
            if len(self.decoded) < batch_size and decoding:
                continue
            items = [self.decoded.popleft() for _ in range(min(batch_size, len(self.decoded)))]
            slot.call = self.ex.describe(slot.worker, [i.frames for i in items])
            slot.items, slot.started = items, self.clock()

    def _describe_done(self, slot: Slot, report: IngestReport) -> None:
        items, call = slot.items, slot.call
        slot.call, slot.items = None, []  # slot.started stays: the latency below is measured from it
        try:
            descriptions = self.ex.result(call)
        except WorkerDied:
            log.warning("model worker died; replacing it and retrying %d chunks", len(items))
            slot.worker = self.ex.start_model()
            self._retry(items, report, "model worker died repeatedly", redecode=False)
            return
        except FramesLost:
            log.warning("decoded frames of %d chunks were lost with their node; decoding them again", len(items))
            self._retry(items, report, "decoded frames lost repeatedly", redecode=True)
            return
        except CallFailed as exc:
            for item in items:
                self._fail(item, report, f"model failed: {exc.cause!r}"[:300])
            return
        self.metrics.model_call(self.clock() - slot.started)
        # -- Stage 4: index (and the still spans that now carry a description) ---------------------------------
        for item, result in zip(items, descriptions, strict=True):
            self._settle(item.task, commit(result, item.task, self.writer, self.progress, item.decoder), report)

    def _retry(self, items: list[Pending], report: IngestReport, why: str, redecode: bool) -> None:
        """Send chunks round again (to a model worker, or back to decoding), up to ray.max_retries each."""
        for item in items:
            item.attempts += 1
            if item.attempts > self.cfg.ray.max_retries:
                self._fail(item, report, why)
            elif redecode:
                self.lanes.appendleft(Lane(item.task, deque([item.span])))
            else:
                self.decoded.appendleft(item)

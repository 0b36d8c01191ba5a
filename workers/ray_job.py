"""The ingest job on Ray: CPU decode actors -> model actors (one per GPU) -> this driver, the single index writer.

Why Ray Core actors and not Ray Data: a decoder (decord, or FFmpeg under PyAV) can hang inside a call while
holding the GIL, and only killing the process stops it. Here the driver sees every decode call, times it out,
kills that actor (``ray.kill``) and retries the span on a fresh one with OpenCV. It also keeps a hard bound on
decoded chunks in flight (``ray.max_chunks_in_flight``), so a slow model never lets frames pile up, and it writes
each chunk exactly once, in one place, as soon as it is described.

    # Stage 1  plan      (driver)        probe, content id, skip finished videos and chunks  -> lanes of spans
    # Stage 2  decode    (DecodeWorker)  one lane (contiguous spans of one video) at a time   -> FrameChunk refs
    # Stage 3  describe  (ModelWorker)   batches of chunk refs                               -> ChunkDescription
    # Stage 4  index     (driver)        embed, Parquet, SQLite, FAISS                       -> IngestReport
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

from pipeline.config import VidseekConfig
from pipeline.index.writer import IndexWriter
from pipeline.job import IngestReport, NoProgress, Progress, VideoTask, commit, finish, prepare
from pipeline.types import ChunkSpan
from workers.actors import DecodeWorker, ModelWorker
from workers.metrics import JobMetrics

log = logging.getLogger(__name__)
LANE_CHUNKS = 10  # spans per lane: a long video is split into lanes decoded by different workers
ACTOR_START_S = 300  # a decode worker not up by then (no node can place it) counts as one that timed out


@dataclass
class Lane:
    task: VideoTask
    spans: deque[ChunkSpan]
    backend: str = "auto"  # "opencv" after a decode call timed out or crashed on this file


@dataclass
class Pending:
    """A span between stages: which video, how often retried, its frames' object ref once decoded."""

    task: VideoTask
    span: ChunkSpan
    chunk_ref: object = None
    decoder: str = ""
    attempts: int = 0


@dataclass
class Slot:
    """An actor and the call it is running."""

    actor: object
    lane: Lane | None = None
    call: object = None  # ObjectRef of the running call (decode: its status ref)
    items: list[Pending] = field(default_factory=list)
    started: float = 0.0  # when the call was sent, or when its actor came up if that was later
    starting: object = None  # a fresh actor's readiness ref until it is up: its start-up is not decode time


def init_ray(cfg: VidseekConfig):
    import ray

    if ray.is_initialized():
        return ray
    if cfg.ray.address:
        ray.init(address=cfg.ray.address, log_to_driver=False)
    else:
        from workers.ray_reaper import start_reaper

        start_reaper()  # a local Ray ends with this process, even one killed with kill -9
        needed = cfg.ray.num_decode_workers + max(1, cfg.ray.num_model_workers)
        ray.init(
            num_cpus=max(os.cpu_count() or 1, needed + 1),
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=cfg.ray.object_store_memory_mb * 1024 * 1024,
        )
    return ray


class RayIngest:
    """Starts Ray and the actors at once (they load models while the driver opens the index), then ingests."""

    def __init__(
        self,
        cfg: VidseekConfig,
        progress: Progress | None = None,
        decode_worker: type = DecodeWorker,
        model_worker: type = ModelWorker,
    ) -> None:
        self.ray = init_ray(cfg)
        self.cfg, self.progress = cfg, progress or NoProgress()
        self.writer: IndexWriter | None = None
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        num_models = cfg.ray.num_model_workers or max(1, gpus)
        # custom resources (ray.decode_resources) keep decoding on the CPU nodes that advertise them
        self._decode_cls = self.ray.remote(num_cpus=1, resources=dict(cfg.ray.decode_resources))(decode_worker)
        self._model_cls = self.ray.remote(num_gpus=1 if gpus else 0, num_cpus=1)(model_worker)
        self.decoders = [self._start_decoder(Slot(None)) for _ in range(cfg.ray.num_decode_workers)]
        self.models = [Slot(self._model_cls.remote(cfg.describe)) for _ in range(num_models)]
        self.lanes: deque[Lane] = deque()
        self.decoded: deque[Pending] = deque()
        self.remaining: dict[str, int] = {}  # video_id -> spans not yet written or failed
        self.metrics = JobMetrics()

    def _start_decoder(self, slot: Slot) -> Slot:
        """A new decode actor in ``slot``, idle; its readiness is watched so start-up is not decode time."""
        slot.actor = self._decode_cls.remote(self.cfg.decode)
        slot.starting, slot.started = slot.actor.__ray_ready__.remote(), time.monotonic()
        slot.call, slot.items = None, []
        return slot

    # -- Stage 1: plan --------------------------------------------------------------------------------------
    def add(self, task: VideoTask) -> None:
        self.remaining[task.video_id] = len(task.spans)
        for i in range(0, len(task.spans), LANE_CHUNKS):
            self.lanes.append(Lane(task, deque(task.spans[i : i + LANE_CHUNKS])))

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def _resolve(self, task: VideoTask, report: IngestReport, problem: str = "") -> None:
        """One span is settled (written, or failed with ``problem``); finish the video after its last span."""
        if problem:
            task.problems.append(problem)
            self.metrics.settled(ok=False)
        self.remaining[task.video_id] -= 1
        if self.remaining[task.video_id] == 0:
            finish(task, self.writer, report, self.progress)

    def _in_flight(self) -> int:
        return len(self.decoded) + sum(s.call is not None for s in self.decoders)

    # -- Stage 2: decode ------------------------------------------------------------------------------------
    def _feed_decoders(self) -> None:
        for slot in self.decoders:
            if slot.call is not None or self._in_flight() >= self.cfg.ray.max_chunks_in_flight:
                continue
            if slot.lane is None or not slot.lane.spans:
                slot.lane = self.lanes.popleft() if self.lanes else None
            if slot.lane is None:
                continue
            item = Pending(slot.lane.task, slot.lane.spans.popleft())
            self._submit_decode(slot, item)

    def _submit_decode(self, slot: Slot, item: Pending) -> None:
        chunk_ref, status_ref = slot.actor.read.options(num_returns=2).remote(
            item.task.info, item.span, slot.lane.backend if slot.lane else "auto"
        )
        item.chunk_ref = chunk_ref
        slot.call, slot.items, slot.started = status_ref, [item], time.monotonic()

    def _decode_done(self, slot: Slot, report: IngestReport) -> None:
        item, call = slot.items[0], slot.call
        slot.call, slot.items = None, []
        try:
            status = self.ray.get(call)
        except self.ray.exceptions.RayActorError:
            self._replace_decoder(slot, item, report, "decode worker died")
            return
        if status["warning"]:
            item.task.problems.append(status["warning"])
        if status["error"]:
            self._resolve(item.task, report, status["error"])
            return
        item.decoder = status["decoder"]
        self.decoded.append(item)

    def _replace_decoder(self, slot: Slot, item: Pending, report: IngestReport, why: str) -> None:
        self.ray.kill(slot.actor, no_restart=True)
        self._start_decoder(slot)
        item.attempts += 1
        if slot.lane is not None:
            slot.lane.backend = "opencv"  # the reader stalled or crashed on this file: read the rest with OpenCV
        if item.attempts > self.cfg.ray.max_retries:
            self._resolve(
                item.task,
                report,
                f"{why} in [{item.span.start_s:.0f}, {item.span.end_s:.0f}) s after {item.attempts} attempts",
            )
        else:
            log.warning("%s: %s; retrying span %.0f-%.0f s", item.task.path, why, item.span.start_s, item.span.end_s)
            self._submit_decode(slot, item)

    def _check_timeouts(self, report: IngestReport) -> None:
        """Kill and replace a decoder whose call ran past decode.timeout_s, counted from when its actor was up
        (a replacement starting on a busy node is not a stuck decode)."""
        now = time.monotonic()
        for slot in self.decoders:
            if slot.call is None:
                continue
            if slot.starting is not None:
                up, _ = self.ray.wait([slot.starting], timeout=0)
                if up:
                    slot.starting, slot.started = None, now
                elif now - slot.started > ACTOR_START_S:
                    self._replace_decoder(slot, slot.items[0], report, f"decode worker not up after {ACTOR_START_S} s")
                continue
            if now - slot.started > self.cfg.decode.timeout_s:
                item = slot.items[0]
                self._replace_decoder(slot, item, report, f"decode timed out after {self.cfg.decode.timeout_s:.0f} s")

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
            slot.call = slot.actor.describe.remote(*[i.chunk_ref for i in items])
            slot.items, slot.started = items, time.monotonic()

    # -- Stage 4: index -------------------------------------------------------------------------------------
    def _describe_done(self, slot: Slot, report: IngestReport) -> None:
        items, call = slot.items, slot.call
        slot.call, slot.items = None, []  # slot.started stays: the latency below is measured from it
        lost = self.ray.exceptions.ObjectLostError
        try:
            descriptions = self.ray.get(call)
        except self.ray.exceptions.RayActorError:
            log.warning("model worker died; replacing it and retrying %d chunks", len(items))
            slot.actor = self._model_cls.remote(self.cfg.describe)
            self._retry(items, report, "model worker died repeatedly", redecode=False)
            return
        except (lost, self.ray.exceptions.RayTaskError) as exc:
            if isinstance(exc, lost) or isinstance(getattr(exc, "cause", None), lost):
                # the frames were on a node that is gone: decode those spans again
                log.warning("decoded frames of %d chunks were lost with their node; decoding them again", len(items))
                self._retry(items, report, "decoded frames lost repeatedly", redecode=True)
                return
            for item in items:
                self._resolve(item.task, report, f"model failed: {getattr(exc, 'cause', exc)!r}"[:300])
            return
        self.metrics.model_latency.observe(time.monotonic() - slot.started)
        for item, result in zip(items, descriptions, strict=True):
            problem = commit(result, item.task, self.writer, self.progress, item.decoder)
            if not problem:
                self.metrics.settled(ok=True, footage_s=item.span.duration_s)
            self._resolve(item.task, report, problem)

    def _retry(self, items: list[Pending], report: IngestReport, why: str, redecode: bool) -> None:
        """Send chunks round again (to a model worker, or back to decoding), up to ray.max_retries each."""
        for item in items:
            item.attempts += 1
            if item.attempts > self.cfg.ray.max_retries:
                self._resolve(item.task, report, why)
            elif redecode:
                self.lanes.appendleft(Lane(item.task, deque([item.span])))
            else:
                self.decoded.appendleft(item)

    # -- the loop -------------------------------------------------------------------------------------------
    def _unsettled(self) -> bool:
        """Anything left to do: spans in lanes (queued, or held by a decoder), decoded chunks, running calls."""
        held = any(s.lane is not None and s.lane.spans for s in self.decoders)
        return bool(self.lanes or held or self.decoded or any(s.call is not None for s in self.decoders + self.models))

    def run(self, report: IngestReport) -> None:
        while self._unsettled():
            self._feed_decoders()
            self._feed_models()
            queued = sum(len(lane.spans) for lane in self.lanes)
            self.metrics.depth(queued, len(self.decoded))
            calls = {s.call: s for s in self.decoders + self.models if s.call is not None}
            if not calls:  # work is left but none could start: a scheduling bug; fail loudly instead of spinning
                raise RuntimeError(f"ingest stalled: {len(self.decoded)} chunks decoded, {queued} spans queued")
            ready, _ = self.ray.wait(list(calls), num_returns=1, timeout=1.0)
            for ref in ready:
                slot = calls[ref]
                if slot in self.decoders:
                    self._decode_done(slot, report)
                else:
                    self._describe_done(slot, report)
            self._check_timeouts(report)

    def ingest(self, tasks: list[VideoTask], writer: IndexWriter, report: IngestReport) -> IngestReport:
        """Run the planned tasks and commit; the actors are stopped at the end, whatever happens."""
        self.writer = writer
        try:
            for task in tasks:
                self.add(task)
            self.run(report)
        finally:
            self.shutdown()
            writer.save()
        return report

    def shutdown(self) -> None:
        for slot in self.decoders + self.models:
            self.ray.kill(slot.actor)


def run_ray(
    cfg: VidseekConfig,
    paths: list[str],
    writer: IndexWriter,
    model_name: str,
    progress: Progress | None = None,
    **workers: type,
) -> IngestReport:
    """The ingest on Ray: planned first, and Ray started only when a chunk is left to describe (a re-run with
    nothing to do costs no cluster). ``workers`` may swap the actor bodies (``decode_worker``, ``model_worker``)."""
    progress = progress or NoProgress()
    report = IngestReport()
    tasks = prepare(paths, cfg, writer, report, model_name)
    progress.start(len(tasks), sum(len(t.spans) for t in tasks), sum(t.info.duration_s for t in tasks))
    for task in tasks:
        if not task.spans:  # every chunk was already written by an interrupted run
            finish(task, writer, report, progress)
    todo = [t for t in tasks if t.spans]
    if not todo:
        writer.save()
        return report
    return RayIngest(cfg, progress, **workers).ingest(todo, writer, report)

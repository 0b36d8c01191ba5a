"""The ingest job on Ray: CPU decode actors -> model actors (one per GPU) -> this driver, the single index writer.

Why Ray Core actors and not Ray Data: a decoder (decord, or FFmpeg under PyAV) can hang inside a call while
holding the GIL, and only killing the process stops it. The scheduler (pipeline.scheduler, no Ray in it) sees
every decode call, times it out, has that actor killed (``ray.kill``) and retries the span on a fresh one with
OpenCV. It also keeps a hard bound on decoded chunks in flight (``ray.max_chunks_in_flight``), so a slow model
never lets frames pile up, and commits each chunk exactly once, in this process, as soon as it is described.
This file is only the Ray side: starting Ray, the actors, and turning Ray's errors into the scheduler's.

    # Stage 1  plan      (driver)        probe, content id, skip finished videos and chunks  -> VideoTasks
    # Stage 2  decode    (DecodeWorker)  one lane (contiguous spans of one video) at a time   -> FrameChunk refs
    #                                    of the frames that changed; a still span sends none and carries
    #                                    (frames.enabled: + frame spans, indexed by the driver at once)
    # Stage 3  describe  (ModelWorker)   batches of chunk refs                               -> ChunkDescription
    # Stage 4  index     (driver)        embed, Parquet, SQLite, FAISS                       -> IngestReport
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import VidseekConfig
from pipeline.index.writer import IndexWriter
from pipeline.job import IngestReport, NoProgress, Progress, cancelling, finish, prepare
from pipeline.scheduler import CallFailed, FramesLost, Scheduler, WorkerDied
from pipeline.types import ChunkSpan, Needs, VideoInfo
from workers.actors import DecodeWorker, ModelWorker


def run_ray(
    cfg: VidseekConfig,
    paths: list[str],
    writer: IndexWriter,
    model_name: str,
    progress: Progress | None = None,
    roots: list[Path] | None = None,
    **workers: type,
) -> IngestReport:
    """The ingest on Ray: planned first, and Ray started only when a chunk is left to describe (a re-run with
    nothing to do costs no cluster). ``roots``: only files under them (the API's media roots). ``workers`` may
    swap the actor bodies (``decode_worker``, ``model_worker``)."""
    # Stage 1: plan
    progress = progress or NoProgress()
    report = IngestReport()
    tasks = prepare(paths, cfg, writer, report, model_name, progress, roots)
    for task in tasks:
        if not task.spans:  # every chunk was already written by an interrupted run
            finish(task, writer, report, progress)
    todo = [t for t in tasks if t.spans]
    if not todo:
        writer.save()
        return report
    # Stages 2-4: decode, describe and index, scheduled over Ray actors
    executor = RayExecutor(cfg, **workers)
    from workers.metrics import JobMetrics

    with cancelling(tasks, writer):
        return Scheduler(cfg, executor, writer, progress, JobMetrics()).run(todo, report)


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


def gpu_shares(cfg: VidseekConfig, gpus: int) -> tuple[float, float]:
    """GPUs a decode actor and a model actor ask Ray for. A model actor has a GPU of its own. On a cluster with
    GPUs, the decode actors embed frames (frame index on) and run Whisper (speech on) on the GPUs too, sharing them
    with the model actors (0.4 of each GPU split among the decode actors placed on it: the image-text model and
    Whisper are small beside the VLM), unless that stage's ``device`` is ``cpu``, or is ``auto`` and
    ``ray.decode_resources`` sends the decode actors to nodes of their own (CPU nodes, typically). Whisper on
    faster-whisper takes a share only when ``speech.device`` is ``cuda``: CTranslate2 needs CUDA 12 libraries
    that this project's torch does not bring, so ``auto`` would hold a share it cannot use. A decode actor with no
    GPU share sees none (Ray hides them), so ``auto`` runs it on its CPU."""
    if not gpus:
        return 0.0, 0.0

    def on_gpu(enabled: bool, device: str) -> bool:
        return enabled and device != "cpu" and not (device == "auto" and cfg.ray.decode_resources)

    speech = cfg.speech
    whisper_on_gpu = on_gpu(speech.enabled, speech.device) and (
        speech.backend == "transformers" or speech.device == "cuda"
    )
    if not (on_gpu(cfg.frames.enabled, cfg.frames.device) or whisper_on_gpu):
        return 0.0, 1.0
    per_gpu = math.ceil(cfg.ray.num_decode_workers / gpus)
    return 0.4 / per_gpu, 0.6  # over half: two model actors never share a GPU


@dataclass(eq=False)
class RayWorker:
    actor: object
    ready: object = None  # the actor's readiness ref (decode workers)


class RayExecutor:
    """The scheduler's workers as Ray actors: decode actors on CPUs (and the nodes offering
    ``ray.decode_resources``), model actors with a GPU each when the cluster has GPUs."""

    def __init__(
        self, cfg: VidseekConfig, decode_worker: type = DecodeWorker, model_worker: type = ModelWorker
    ) -> None:
        self.ray = init_ray(cfg)
        self.cfg = cfg
        self._gpus = int(self.ray.cluster_resources().get("GPU", 0))
        decode_gpus, model_gpus = gpu_shares(cfg, self._gpus)
        resources = dict(cfg.ray.decode_resources)
        self._decode_cls = self.ray.remote(num_cpus=1, num_gpus=decode_gpus, resources=resources)(decode_worker)
        self._model_cls = self.ray.remote(num_gpus=model_gpus, num_cpus=1)(model_worker)

    def gpus(self) -> int:
        return self._gpus

    def start_decoder(self) -> RayWorker:
        actor = self._decode_cls.remote(self.cfg.decode, frames=self.cfg.frames, speech=self.cfg.speech)
        return RayWorker(actor, actor.__ray_ready__.remote())

    def start_model(self) -> RayWorker:
        return RayWorker(self._model_cls.remote(self.cfg.describe))

    def is_up(self, worker: RayWorker) -> bool:
        up, _ = self.ray.wait([worker.ready], timeout=0)
        return bool(up)

    def decode(
        self, worker: RayWorker, info: VideoInfo, span: ChunkSpan, backend: str, needs: Needs
    ) -> tuple[object, object]:
        # two returns: the driver fetches only the small status; the frames go to a model actor by reference
        read = worker.actor.read.options(num_returns=2)
        chunk_ref, status_ref = read.remote(info, span, backend, needs)
        return status_ref, chunk_ref

    def describe(self, worker: RayWorker, frames: list[object]) -> object:
        return worker.actor.describe.remote(*frames)

    def wait(self, calls: list[object], timeout_s: float) -> list[object]:
        ready, _ = self.ray.wait(calls, num_returns=1, timeout=timeout_s)
        return ready

    def result(self, call: object) -> object:
        errors = self.ray.exceptions
        try:
            return self.ray.get(call)
        except errors.RayActorError:
            raise WorkerDied from None
        except errors.ObjectLostError:
            raise FramesLost from None
        except errors.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, errors.ObjectLostError):  # the frames passed in were on a node that is gone
                raise FramesLost from None
            raise CallFailed(cause) from None

    def kill(self, worker: RayWorker) -> None:
        self.ray.kill(worker.actor, no_restart=True)

"""The ingest scheduler without Ray: a fake executor makes calls hang, workers die, frames get lost and calls finish
out of order, on a fake clock, so each case runs in milliseconds. tests/test_ray_job.py runs the same scheduler
on a real local Ray."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from pipeline.config import load_config
from pipeline.job import IngestReport, VideoTask
from pipeline.scheduler import CallFailed, FramesLost, Scheduler, WorkerDied
from pipeline.types import ChunkDescription, ChunkSpan, FrameSpanRecord, Needs, VideoInfo


@dataclass(eq=False)
class Call:
    worker: object
    kind: str  # decode | describe
    value: object = None
    error: Exception | None = None
    hangs: bool = False


@dataclass(eq=False)
class Worker:
    kind: str
    number: int
    dead: bool = False
    checks_until_up: int = 0  # its calls run once it is up


@dataclass
class FakeExecutor:
    """``decode_fault(span, attempt, backend)`` and ``describe_fault(batch_number)`` return None (it works),
    "hang", "die", "lost", "fail" or, for decode, "error"; finished calls come back in a shuffled order."""

    decode_fault: object = None
    describe_fault: object = None
    num_gpus: int = 0
    start_checks: int = 0  # is_up calls a new decode worker needs before it is up
    max_waits: int = 5000  # then wait() raises: a scheduler that never finishes fails its test instead of hanging
    now: float = 0.0
    started: list = field(default_factory=list)
    killed: list = field(default_factory=list)
    decode_calls: list = field(default_factory=list)  # (span, backend) in submission order
    batches: list = field(default_factory=list)  # spans of each describe call
    in_flight_seen: int = 0
    _attempts: dict = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def clock(self) -> float:
        return self.now

    def gpus(self) -> int:
        return self.num_gpus

    def start_decoder(self) -> Worker:
        self.started.append(Worker("decode", len(self.started), checks_until_up=self.start_checks))
        return self.started[-1]

    def start_model(self) -> Worker:
        self.started.append(Worker("model", len(self.started)))
        return self.started[-1]

    def is_up(self, worker: Worker) -> bool:
        worker.checks_until_up -= 1
        return worker.checks_until_up <= 0

    def decode(self, worker, info, span, backend, needs=Needs(True, False, False)):
        attempt = self._attempts[span] = self._attempts.get(span, 0) + 1
        self.decode_calls.append((span, backend))
        fault = self.decode_fault and self.decode_fault(span, attempt, backend)
        status = {"error": "", "warning": "", "decoder": backend}
        if needs.frames:  # one span of alike frames per chunk
            frames = FrameSpanRecord(1, span.chunk_id, span.video_id, span.video_path, span.start_s, span.end_s, 10)
            status |= {"frames": [frames], "frame_model": "fake-visual"}
        if fault == "error":
            status["error"] = f"cannot decode [{span.start_s:.0f}, {span.end_s:.0f})"
        call = Call(worker, "decode", status, hangs=fault == "hang")
        call.error = WorkerDied() if fault == "die" else CallFailed(OSError("reader bug")) if fault == "fail" else None
        return call, span  # the frames handle: the span itself

    def describe(self, worker, frames):
        self.batches.append(list(frames))
        fault = self.describe_fault and self.describe_fault(len(self.batches))
        errors = {"die": WorkerDied(), "lost": FramesLost(), "fail": CallFailed(RuntimeError("CUDA error"))}
        value = [ChunkDescription(span, f"caption {span.start_s:.0f}", [], "fake") for span in frames]
        return Call(worker, "describe", value, errors.get(fault), hangs=fault == "hang")

    def wait(self, calls, timeout_s):
        self.max_waits -= 1
        if self.max_waits < 0:
            raise TimeoutError("the scheduler did not finish")
        done = [c for c in calls if not c.hangs and c.worker.checks_until_up <= 0]
        if not done:
            self.now += timeout_s
        self._rng.shuffle(done)
        return done[: self._rng.randint(1, 3)]  # out of order, not all at once

    def result(self, call: Call):
        if call.worker.dead:
            raise WorkerDied()
        if call.error is not None:
            raise call.error
        return call.value

    def kill(self, worker: Worker) -> None:
        worker.dead = True
        self.killed.append(worker)


class FakeWriter:
    """Records what the scheduler commits (the real writer has its own tests)."""

    def __init__(self) -> None:
        self.written: list[ChunkSpan] = []
        self.descriptions: list[ChunkDescription] = []
        self.framed: list[tuple[str, int]] = []
        self.finished: dict[str, str] = {}
        self.saves = 0

    def write(self, description, decoder=""):
        self.written.append(description.span)
        self.descriptions.append(description)

    def write_frames(self, rows, model):
        self.framed += [(r.chunk_id, len(self.written)) for r in rows]  # with how many chunks were described then

    def finish_video(self, video_id, status, reason="", num_chunks=0):
        self.finished[video_id] = status

    def remove_earlier_versions(self, video_id, path):
        return 0

    def save(self):
        self.saves += 1


def tasks(num_videos=2, chunks=25) -> list[VideoTask]:
    out = []
    for v in range(num_videos):
        path = f"/footage/v{v}.mp4"
        spans = [ChunkSpan(f"v{v}", path, i * 10.0, i * 10.0 + 10) for i in range(chunks)]
        info = VideoInfo(path, chunks * 10.0, 640, 360, 0, 25.0, "h264")
        out.append(VideoTask(path, f"v{v}", info, 1, spans, chunks))
    return out


def run(executor: FakeExecutor, *overrides: str, videos=None) -> tuple[IngestReport, FakeWriter]:
    cfg = load_config("tiny.yaml", ["ray.num_decode_workers=3", "decode.timeout_s=30", *overrides])
    writer = FakeWriter()
    report = Scheduler(cfg, executor, writer, clock=executor.clock).run(videos or tasks(), IngestReport())
    return report, writer


def test_every_chunk_is_committed_once_whatever_order_calls_finish_in():
    executor = FakeExecutor()
    report, writer = run(executor)
    assert sorted(writer.written, key=lambda s: (s.video_id, s.start_s)) == [s for t in tasks() for s in t.spans]
    assert writer.finished == {"v0": "complete", "v1": "complete"} and report.exit_code == 0
    assert writer.saves == 1 and len(executor.killed) == len(executor.started)  # workers stopped at the end


def test_frames_only_starts_no_model_worker_and_indexes_every_chunks_frames():
    executor = FakeExecutor()
    report, writer = run(executor, "describe.backend=none", "frames.enabled=true")
    spans = [s for t in tasks() for s in t.spans]
    assert sorted(c for c, _ in writer.framed) == sorted(s.chunk_id for s in spans) and writer.written == []
    assert all(w.kind == "decode" for w in executor.started) and executor.batches == []
    assert writer.finished == {"v0": "complete", "v1": "complete"} and report.exit_code == 0


def test_with_both_stages_a_chunks_frames_are_indexed_before_it_is_described():
    executor = FakeExecutor()
    _, writer = run(executor, "frames.enabled=true")
    spans = [s for t in tasks() for s in t.spans]
    assert len(writer.framed) == len(spans) and len(writer.written) == len(spans)
    described_before = dict(writer.framed)
    assert described_before[spans[0].chunk_id] == 0  # the first chunk's frames were in before any description


def test_a_later_run_embeds_only_the_frames_a_described_chunk_lacks():
    executor = FakeExecutor()
    videos = tasks(1, 6)
    videos[0].described = {s.chunk_id for s in videos[0].spans[:4]}  # described by an earlier run without frames
    _, writer = run(executor, "frames.enabled=true", videos=videos)
    assert len(writer.framed) == 6 and writer.written == videos[0].spans[4:]  # only the rest is described


def test_decoded_chunks_in_flight_never_pass_the_bound():
    seen = []

    class Watching(FakeExecutor):
        def decode(self, worker, info, span, backend, needs=Needs(True, False, False)):
            seen.append(scheduler._in_flight())
            return super().decode(worker, info, span, backend, needs)

    executor = Watching(describe_fault=lambda n: "hang" if n == 1 else None, max_waits=200)  # the model hangs (under
    # ray.model_timeout_s: decoding waits for it)
    cfg = load_config("tiny.yaml", ["ray.num_decode_workers=3", "ray.max_chunks_in_flight=4", "decode.timeout_s=30"])
    scheduler = Scheduler(cfg, executor, FakeWriter(), clock=executor.clock)
    with pytest.raises(TimeoutError):  # a hung model call is waited for (only decode calls time out)
        scheduler.run(tasks(), IngestReport())
    assert max(seen) < 4 and len(executor.decode_calls) == 4 + len(executor.batches[0])  # decoding stopped


def test_a_stuck_decode_is_killed_and_its_lane_read_with_opencv():
    executor = FakeExecutor(
        decode_fault=lambda span, attempt, backend: "hang" if (span.start_s, attempt) == (30, 1) else None
    )
    report, writer = run(executor, videos=tasks(1, 12))
    assert len(writer.written) == 12 and report.exit_code == 0
    retried = [backend for span, backend in executor.decode_calls if span.start_s == 30]
    assert retried == ["auto", "opencv"]
    later = [backend for span, backend in executor.decode_calls if 30 < span.start_s < 100]
    assert later and set(later) == {"opencv"}  # the rest of that lane, too
    assert executor.now >= 30  # killed after decode.timeout_s, not before


def test_a_span_that_always_hangs_fails_its_video_after_the_retries_and_the_rest_goes_on():
    executor = FakeExecutor(decode_fault=lambda span, attempt, backend: "hang" if span == SPAN_V0_5 else None)
    report, writer = run(executor, "ray.max_retries=2")
    assert writer.finished == {"v0": "failed", "v1": "complete"}
    assert [c[0] for c in executor.decode_calls].count(SPAN_V0_5) == 3
    reason = next(r.reason for r in report.results if r.path == "/footage/v0.mp4")
    assert "decode timed out after 30 s in [50, 60) s after 3 attempts" in reason
    assert len(writer.written) == 49 and report.exit_code == 1


SPAN_V0_5 = tasks()[0].spans[5]


def test_a_dead_decode_worker_is_replaced_and_its_span_retried():
    executor = FakeExecutor(
        decode_fault=lambda span, attempt, backend: "die" if attempt == 1 and span.start_s == 0 else None
    )
    report, writer = run(executor)
    assert len(writer.written) == 50 and report.exit_code == 0
    assert len([w for w in executor.started if w.kind == "decode"]) == 3 + 2  # one replacement per dead worker


def test_a_decode_error_fails_the_video_with_the_reason_and_a_reader_bug_is_reported():
    faults = {0.0: "error", 10.0: "fail"}
    executor = FakeExecutor(
        decode_fault=lambda span, attempt, backend: faults.get(span.start_s) if span.video_id == "v0" else None
    )
    report, writer = run(executor)
    reason = next(r.reason for r in report.results if r.path == "/footage/v0.mp4")
    assert "cannot decode [0, 10)" in reason and "decode failed: OSError('reader bug')" in reason
    assert writer.finished == {"v0": "failed", "v1": "complete"} and len(writer.written) == 48


def test_a_slow_starting_worker_is_not_a_stuck_decode():
    executor = FakeExecutor(start_checks=20)  # about 20 s to start; its calls run once it is up
    report, writer = run(executor, "decode.timeout_s=5")
    assert report.exit_code == 0 and len(writer.written) == 50
    assert executor.now >= 19  # longer than decode.timeout_s, and no worker was replaced:
    assert len(executor.started) == 3 + 1


def test_a_dead_model_worker_is_replaced_and_its_batch_described_again():
    executor = FakeExecutor(describe_fault=lambda n: "die" if n in (1, 2) else None)
    report, writer = run(executor)
    assert report.exit_code == 0 and len(writer.written) == 50 == len(set(writer.written))
    assert len([w for w in executor.started if w.kind == "model"]) == 1 + 2


def test_a_hung_model_call_is_replaced_and_its_batch_described_again():
    executor = FakeExecutor(describe_fault=lambda n: "hang" if n == 1 else None)
    report, writer = run(executor, "ray.model_timeout_s=120")
    assert report.exit_code == 0 and len(writer.written) == 50 == len(set(writer.written))
    assert executor.now > 120 and [w.kind for w in executor.killed[:1]] == ["model"]
    assert len([w for w in executor.started if w.kind == "model"]) == 1 + 1


def test_a_model_call_that_always_hangs_fails_its_chunks_after_the_retries():
    executor = FakeExecutor(describe_fault=lambda n: "hang")
    report, writer = run(executor, "ray.model_timeout_s=120", "ray.max_retries=1", videos=tasks(1, 4))
    assert writer.written == [] and report.exit_code == 1
    assert "model call timed out after 120 s, 2 times" in report.results[0].reason


def test_lost_frames_are_decoded_again():
    executor = FakeExecutor(describe_fault=lambda n: "lost" if n == 1 else None)
    report, writer = run(executor)
    lost = executor.batches[0]
    assert report.exit_code == 0 and len(writer.written) == 50 == len(set(writer.written))
    assert all([c[0] for c in executor.decode_calls].count(span) == 2 for span in lost)


def test_a_model_error_fails_those_chunks_only():
    executor = FakeExecutor(describe_fault=lambda n: "fail" if n == 1 else None)
    report, writer = run(executor)
    failed = executor.batches[0]
    assert len(writer.written) == 50 - len(failed) and report.exit_code == 1
    assert any("model failed: RuntimeError('CUDA error')" in r.reason for r in report.results)


def test_a_batch_larger_than_the_bound_does_not_stall():
    executor = FakeExecutor()
    report, writer = run(executor, "describe.batch_size=64", "ray.max_chunks_in_flight=3")
    assert report.exit_code == 0 and len(writer.written) == 50
    assert max(len(b) for b in executor.batches) <= 3


def test_decode_actors_share_the_gpus_only_when_frames_are_embedded_or_speech_transcribed_on_cuda():
    from workers.ray_job import gpu_shares

    cfg = load_config("tiny.yaml", ["ray.num_decode_workers=3"])
    assert gpu_shares(cfg, 0) == (0.0, 0.0) and gpu_shares(cfg, 2) == (0.0, 1.0)  # no frames: decode on CPUs
    frames = ["ray.num_decode_workers=3", "frames.enabled=true", "frames.device=auto"]
    cpu = load_config("tiny.yaml", [*frames, "frames.device=cpu"])
    pooled = load_config("tiny.yaml", [*frames, "ray.decode_resources={cpu_node: 1}"])
    assert gpu_shares(cpu, 2) == gpu_shares(pooled, 2) == (0.0, 1.0)  # CPU decode actors, placed where asked
    assert gpu_shares(load_config("tiny.yaml", frames), 0) == (0.0, 0.0)
    decode, model = gpu_shares(load_config("tiny.yaml", frames), 2)  # auto, GPUs: the frames are embedded on them
    assert (decode, model) == (0.2, 0.6) and model + 2 * decode <= 1  # a GPU holds its model and two decoders
    assert 2 * model > 1  # and never two models
    # Whisper on torch: the same share, the same exceptions
    speech = ["ray.num_decode_workers=3", "speech.enabled=true", "speech.backend=transformers"]
    assert gpu_shares(load_config("tiny.yaml", speech), 2) == (0.2, 0.6)
    assert gpu_shares(load_config("tiny.yaml", [*speech, "speech.device=cpu"]), 2) == (0.0, 1.0)
    assert gpu_shares(load_config("tiny.yaml", [*speech, "ray.decode_resources={cpu_node: 1}"]), 2) == (0.0, 1.0)
    # faster-whisper: only when cuda is asked for (CTranslate2's CUDA 12 libraries are not this torch's)
    ctranslate2 = ["ray.num_decode_workers=3", "speech.enabled=true", "speech.backend=faster-whisper"]
    assert gpu_shares(load_config("tiny.yaml", ctranslate2), 2) == (0.0, 1.0)
    assert gpu_shares(load_config("tiny.yaml", [*ctranslate2, "speech.device=cuda"]), 2) == (0.2, 0.6)


class StillFootage(FakeExecutor):
    """Spans whose start is not a multiple of 40 s show no change: the decode worker says they are still."""

    def decode(self, worker, info, span, backend, needs=Needs(True, False, False)):
        call, frames = super().decode(worker, info, span, backend, needs)
        call.value |= {"still": span.start_s % 40 != 0, "frames_decoded": 10}
        return call, frames


def test_still_spans_carry_the_description_before_them_whatever_order_calls_finish_in():
    executor = StillFootage()
    report, writer = run(executor)
    assert report.exit_code == 0 and writer.finished == {"v0": "complete", "v1": "complete"}
    assert all(span.start_s % 40 == 0 for batch in executor.batches for span in batch)  # only changed chunks
    by_span = {d.span: d for d in writer.descriptions}
    assert len(by_span) == len(writer.descriptions) == 50  # each chunk once
    for task in tasks():
        for span in task.spans:
            source = task.spans[int(span.start_s // 40) * 4]  # the last described chunk at or before it
            d = by_span[span]
            if span == source:
                assert not d.carried_from and d.caption == f"caption {span.start_s:.0f}"
            else:
                assert d.carried_from == source.chunk_id and d.caption == f"caption {source.start_s:.0f}"
                assert d.frames_decoded == 10 and d.frame_pts == [] and d.input_tokens == 0
    costs = report.costs
    assert (costs.model_calls, costs.carried) == (2 * 7, 2 * 18)


def test_still_spans_after_a_chunk_that_failed_fail_too_and_the_rest_goes_on():
    executor = StillFootage(describe_fault=lambda n: "fail" if n == 1 else None)
    report, writer = run(executor, "describe.batch_size=1", videos=tasks(1, 12))
    (failed,) = executor.batches[0]
    reason = report.results[0].reason
    assert "model failed" in reason and "still footage after a chunk that was not described" in reason
    carried = {d.span.start_s for d in writer.descriptions if d.carried_from}
    lost = {failed.start_s + 10 * i for i in range(1, 4)}  # the still spans that would have carried it
    assert not carried & lost and len(writer.written) == 12 - 4 and writer.finished == {"v0": "failed"}

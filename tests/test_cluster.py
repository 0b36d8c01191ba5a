"""A real multi-process Ray cluster on this machine: `ray start --head` plus a worker node, an ingest submitted
with `ray job submit`, the worker node and a model worker killed mid-job; every chunk must land exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    if not Path(RAY).exists():
        pytest.skip("the ray CLI is not installed next to this Python")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_metrics_report_interval_ms": "1000",
    }
    env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    env.pop("RAY_ADDRESS", None)
    port, dashboard, metrics = free_port(), free_port(), free_port()
    temp = Path("/tmp") / f"ray-vs-{os.getpid()}"  # short: Ray's socket paths must stay under 107 characters
    store = "--object-store-memory=300000000"  # three nodes share this machine's /dev/shm
    head = [RAY, "start", "--head", f"--port={port}", "--num-cpus=3", store, "--include-dashboard=true"]
    head += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--temp-dir={temp}"]
    head += [f"--metrics-export-port={metrics}"]
    subprocess.run(head, check=True, env=env, capture_output=True, timeout=180)
    logs = [tmp_path / "node.log"]
    node = [RAY, "start", f"--address=127.0.0.1:{port}", "--num-cpus=2", store, "--block"]
    workers = [
        subprocess.Popen(node, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        for log in logs
    ]
    try:
        yield {
            "address": f"127.0.0.1:{port}",
            "dashboard": f"http://127.0.0.1:{dashboard}",
            "env": env,
            "workers": workers,
            "logs": logs,
            "metrics": f"http://127.0.0.1:{metrics}/metrics",
        }
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def wait_for_nodes(cluster, n: int, timeout_s: float = 240) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = subprocess.run(
            [RAY, "status", f"--address={cluster['address']}"], env=cluster["env"], capture_output=True, text=True
        )
        if status.stdout.count("node_") >= n:
            return
        time.sleep(2)
    logs = "\n".join(p.read_text()[-2000:] for p in cluster["logs"])
    raise AssertionError(f"the cluster never had {n} nodes:\n{status.stdout}\n{logs}")


def model_worker_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if "ray::ModelWorker" in " ".join(p.info["cmdline"] or [])]


def driver_pid(index: Path, deadline: float) -> int:
    """The ingest's driver, which `ray job submit` started on the head."""
    import psutil

    while True:
        for p in psutil.process_iter(["cmdline"]):
            line = p.info["cmdline"] or []
            if "workers.cli" in line and "ingest" in line and str(index) in line:
                return p.pid
        assert time.time() < deadline, "the ingest's driver never started"
        time.sleep(0.2)


@contextlib.contextmanager
def held(pid: int):
    """The process stopped (SIGSTOP) inside the block, continued after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def step(pid: int, seconds: float = 0.5) -> None:
    """Let a held process run briefly."""
    os.kill(pid, signal.SIGCONT)
    time.sleep(seconds)
    os.kill(pid, signal.SIGSTOP)


def _compacted(parts: Path, clip: str) -> bool:
    from pipeline.media import content_id

    return (parts / f"{content_id(clip)}.parquet").exists()


def test_ingest_via_job_submit_survives_a_lost_node_and_model_worker(cluster, tmp_path, media):
    from pipeline.config import DecodeConfig
    from pipeline.decode import plan_spans, probe
    from pipeline.index import Catalog
    from pipeline.media import content_id

    wait_for_nodes(cluster, 2)
    # about 470 s of footage (~120 chunks): long enough that the kill lands mid-job on a loaded 2-core machine too
    names = ["one-by-one-person-detection.mp4", "car-detection.mp4", "bikes.mp4", "concat_real_clips_640x360.mp4"]
    clips = [media(name) for name in names]
    planned = {
        clip: {s.chunk_id for s in plan_spans(probe(clip), content_id(clip), DecodeConfig(chunk_s=4))} for clip in clips
    }
    index = tmp_path / "idx"
    cmd = [
        sys.executable,
        "-m",
        "workers.cli",
        "ingest",
        *clips,
        "--index",
        str(index),
        "--config",
        "tiny.yaml",
        "--set",
        "ray.address=auto",
        "--set",
        "decode.chunk_s=4",
        "--set",
        "ray.max_retries=5",
    ]
    submit = subprocess.Popen(
        [RAY, "job", "submit", f"--address={cluster['dashboard']}", "--", *cmd],
        env=cluster["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    parts = index / "records"
    deadline = time.time() + 300  # a bound on waiting for states, never a window a state must fall in
    driver = driver_pid(index, deadline)
    # The driver is held (SIGSTOP) from its start and runs in short steps until each state the test checks is
    # reached: the job cannot end before the test has looked, however loaded the machine.
    exported = ""
    with held(driver):
        while len(list(parts.glob("*/*.parquet"))) < 5:
            assert time.time() < deadline and submit.poll() is None, "no chunk was written"
            step(driver)
        while "vidseek_chunks" not in exported or "vidseek_queue_depth" not in exported:
            assert time.time() < deadline and submit.poll() is None, "the head never exported the job's metrics"
            step(driver)
            with contextlib.suppress(OSError):
                exported = urllib.request.urlopen(cluster["metrics"], timeout=5).read().decode()
        model_workers = model_worker_pids()
        while not model_workers:  # between a restart and the next one
            assert time.time() < deadline, "a model worker should be running"
            step(driver)
            model_workers = model_worker_pids()
        described = len(list(parts.glob("*/*.parquet"))) + sum(len(planned[c]) for c in clips if _compacted(parts, c))
        assert described < sum(len(chunks) for chunks in planned.values()), "the kill should land mid-job"
        os.killpg(cluster["workers"][0].pid, signal.SIGKILL)  # a whole worker node: its raylet and its actors
        for pid in model_workers:  # and the model worker, wherever it ran (it may have gone with the node)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    output, _ = submit.communicate(timeout=600)
    assert submit.returncode == 0, output[-3000:]
    catalog = Catalog(index)
    for clip in clips:
        expected = planned[clip]
        rows = catalog.db.execute(
            "SELECT chunk_id, COUNT(*) FROM segments s JOIN videos v USING (video_id) "
            "WHERE v.path=? AND kind='caption' GROUP BY chunk_id",
            (clip,),
        ).fetchall()
        assert {c for c, _ in rows} == expected and {n for _, n in rows} == {1}, clip
        assert catalog.find_video(clip).status == "complete"

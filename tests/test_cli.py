"""The vidseek command as a user runs it: a new process, real files, exit codes, crash and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

TINY_LOCAL = ["--config", "tiny.yaml", "--set", "ray.enabled=false"]


def vidseek(*args, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kw,
    )


def test_invalid_override_fails_before_any_work(tmp_path):
    result = vidseek("ingest", tmp_path, "--index", tmp_path / "idx", "--set", "decode.fsp=2")
    assert result.returncode == 2
    assert "decode.fsp" in result.stderr and "decode.fps" in result.stderr
    assert not (tmp_path / "idx").exists()


def test_invalid_value_names_allowed_values(tmp_path):
    result = vidseek("ingest", tmp_path, "--index", tmp_path / "idx", "--set", "describe.device=tpu")
    assert result.returncode == 2 and "describe.device" in result.stderr and "'cuda'" in result.stderr


def test_search_on_missing_index_is_a_usage_error(tmp_path):
    result = vidseek("search", "anything", "--index", tmp_path / "nope")
    assert result.returncode == 2 and "not a vidseek index" in result.stderr


@pytest.mark.parametrize("command", ["search", "ask", "summarize"])
def test_a_range_that_ends_before_it_starts_is_a_usage_error(tmp_path, command):
    result = vidseek(command, "anything", "--index", tmp_path / "nope", "--after", "0:05", "--before", "3")
    assert result.returncode == 2
    assert "after (00:00:05) is later than before (00:00:03)" in result.stderr, result.stderr


@pytest.mark.slow
def test_ingest_search_status_and_exit_codes(tmp_path, media):
    index = tmp_path / "idx"
    ok = vidseek("ingest", media("bikes.mp4"), media("chaplin.mp4"), "--index", index, *TINY_LOCAL)
    assert ok.returncode == 0, ok.stderr
    assert "tiny random Qwen3-VL: its text is noise" in ok.stderr
    assert "ingested 2, skipped 0" in ok.stdout
    again = vidseek("ingest", media("bikes.mp4"), tmp_path / "missing.mp4", "--index", index, *TINY_LOCAL)
    assert again.returncode == 1
    assert "skipped 1" in again.stdout and "failed 1" in again.stdout and "file not found" in again.stdout
    found = vidseek("search", "a street", "--index", index, "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert {"video", "start_s", "end_s", "score", "text", "kind"} <= row.keys()
        assert row["video"] in (media("bikes.mp4"), media("chaplin.mp4")) and row["start_s"] < row["end_s"]
    table = vidseek("search", "a street", "--index", index)
    assert table.returncode == 0 and "00:00:0" in table.stdout and "its text is noise" in table.stderr
    status = vidseek("status", "--index", index)
    assert status.returncode == 0
    assert "bikes.mp4" in status.stdout and "complete" in status.stdout and "all-MiniLM-L6-v2" in status.stdout
    for part in index.glob("catalog.sqlite*"):
        part.unlink()  # lost: the rebuild brings the videos back as they were, not as unfinished
    rebuilt = vidseek("index", "rebuild", "--index", index)
    assert rebuilt.returncode == 0 and "restored from the records for 2 videos" in rebuilt.stderr, rebuilt.stderr
    status = vidseek("status", "--index", index)
    assert status.stdout.count("complete") == 2 and "ingesting" not in status.stdout, status.stdout


def start_vidseek(args: list) -> subprocess.Popen:
    """``vidseek ARGS`` in the background, in a process group of its own (so a test can kill it all), silent."""
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_9_once_written(args: list, parts: int, poll_s: float = 0.2) -> int:
    """Run ``vidseek ARGS`` (an ingest), SIGKILL its process group once ``parts`` chunk records are written;
    returns how many were written by then."""
    index = Path(args[args.index("--index") + 1])
    proc = start_vidseek(args)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((index / "records").glob("*/*.parquet"))) < parts:
        time.sleep(poll_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(list((index / "records").glob("*/*.parquet")))


@pytest.mark.slow
def test_kill_9_mid_ingest_then_resume_gives_same_chunks(tmp_path, media):
    """Killed with SIGKILL mid-way, a re-run finishes the job: every chunk once, none lost."""
    from pipeline.config import DecodeConfig
    from pipeline.decode import plan_spans, probe
    from pipeline.index import Catalog
    from pipeline.media import content_id

    path = media("concat_real_clips_640x360.mp4")
    index = tmp_path / "idx"
    args = ["ingest", path, "--index", index, *TINY_LOCAL, "--set", "decode.chunk_s=5"]
    written_before = kill_9_once_written(args, 5)
    assert 5 <= written_before < 58, "the ingest should have been killed mid-way"
    killed = vidseek("status", "--index", index, env={**os.environ, "COLUMNS": "300"})
    assert "cut short" in killed.stdout and "of 58 chunks described; its run stopped (killed?)" in killed.stdout

    result = vidseek("ingest", path, "--index", index, *TINY_LOCAL, "--set", "decode.chunk_s=5")
    assert result.returncode == 0, result.stderr
    expected = {s.chunk_id for s in plan_spans(probe(path), content_id(path), DecodeConfig(chunk_s=5))}
    catalog = Catalog(index)
    captions = catalog.db.execute("SELECT chunk_id, COUNT(*) FROM segments WHERE kind='caption' GROUP BY chunk_id")
    counts = dict(captions.fetchall())
    assert set(counts) == expected and set(counts.values()) == {1}
    from pipeline.index import VectorIndex

    assert VectorIndex(index, 384).size == catalog.count_segments()


@pytest.mark.slow
@pytest.mark.ray
def test_ingest_on_local_ray(tmp_path, media):
    """The default path: local Ray started by the command, decode and model actors, one writer."""
    index = tmp_path / "idx"
    result = vidseek(
        "ingest",
        media("bikes.mp4"),
        media("fire2.mp4"),
        media("corrupted.mp4"),
        "--index",
        index,
        "--config",
        "tiny.yaml",
        "--set",
        "decode.chunk_s=4",
    )
    assert result.returncode == 1, result.stderr  # corrupted.mp4 fails; the others are ingested
    assert "ingested 2" in result.stdout and "corrupt" in result.stdout
    from pipeline.index import Catalog

    videos = {Path(v.path).name: v for v in Catalog(index).videos()}
    assert videos["bikes.mp4"].status == "complete" and videos["bikes.mp4"].chunks == 3
    assert videos["fire2.mp4"].status == "complete" and videos["fire2.mp4"].chunks == 1


def test_dry_run_estimates_without_touching_anything(tmp_path, media):
    index = tmp_path / "idx"
    result = vidseek(
        "ingest",
        media("bikes.mp4"),
        tmp_path / "missing.mp4",
        "--index",
        index,
        "--dry-run",
        "--set",
        "describe.backend=openai",
        "--set",
        "describe.price.input_per_million=1000",
        "--set",
        "describe.price.output_per_million=0",
        env={**os.environ, "COLUMNS": "250"},  # one table row per line
    )
    assert result.returncode == 0, result.stderr
    assert not index.exists()
    assert "would fail: file not found" in result.stdout
    total = next(line for line in result.stdout.splitlines() if "total" in line).split("│")
    chunks, calls, tokens_in, cost = int(total[3]), int(total[4]), int(total[6].replace(",", "")), float(total[8])
    assert chunks == calls == 1 and tokens_in > 1000 and cost == pytest.approx(tokens_in * 1000 / 1e6, rel=1e-3)
    assert total[5].strip() == "10 / 10"  # frames sent / decoded: every frame, without a scan
    # what the estimate assumes, and how to count what change-aware sampling will really send
    assert "an upper bound, since decode.sampling is change" in result.stdout and "--scan" in result.stdout
    assert "output: 1,786 tokens a call" in result.stdout  # the thinking budget used up, and an answer
    scanned = vidseek(
        "ingest", media("bikes.mp4"), "--index", index, "--dry-run", "--scan", env={**os.environ, "COLUMNS": "250"}
    )
    assert scanned.returncode == 0 and "scanned: decoded at decode.fps = 1" in scanned.stdout, scanned.stderr
    assert not index.exists()
    no_dry = vidseek("ingest", media("bikes.mp4"), "--index", index, "--scan")
    assert no_dry.returncode == 2 and "--scan goes with --dry-run" in no_dry.stderr


@pytest.mark.slow
def test_overlapping_runs_second_stops_or_waits_and_nothing_is_duplicated(tmp_path, media):
    """Two runs on one index: the second stops with exit code 3 naming the holder, or with --wait finishes after
    the first; every chunk is indexed once, and each run leaves a summary next to the index."""
    from pipeline.index import Catalog
    from pipeline.index.lock import IndexLock

    index = tmp_path / "idx"
    index.mkdir()
    holder = IndexLock(index)
    holder.acquire()  # a run in progress (this test process holds the lease)
    busy = vidseek("ingest", media("bikes.mp4"), "--index", index, *TINY_LOCAL)
    assert busy.returncode == 3 and "is being written by pid" in busy.stderr and str(os.getpid()) in busy.stderr
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workers.cli",
            "ingest",
            media("bikes.mp4"),
            "--index",
            str(index),
            *TINY_LOCAL,
            "--wait",
            "120",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert proc.poll() is None  # waiting for the lease
    holder.release()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    again = vidseek("ingest", media("bikes.mp4"), "--index", index, *TINY_LOCAL)
    assert again.returncode == 0 and "skipped 1" in again.stdout
    captions = Catalog(index).db.execute("SELECT chunk_id, COUNT(*) FROM segments WHERE kind='caption' GROUP BY 1")
    assert [n for _, n in captions] == [1]  # bikes.mp4 is 10 s: one 60 s chunk, indexed once
    summaries = sorted((index / "runs").glob("*.json"))
    assert len(summaries) == 2
    last = json.loads(summaries[-1].read_text())
    assert last["counts"] == {"ingested": 0, "skipped": 1, "failed": 0} and last["finished"] >= last["started"]


def test_serve_refuses_a_public_address_without_an_api_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VIDSEEK_API_KEY"}
    result = vidseek("serve", "--index", tmp_path, "--host", "0.0.0.0", env=env)
    assert result.returncode == 2 and "needs an API key: set VIDSEEK_API_KEY" in result.stderr


def test_eval_retrieval_takes_the_method_settings_from_the_config(tmp_path):
    item = {"duration": 60.0, "timestamps": [[0, 30], [30, 60]], "sentences": ["A dog runs.", "It sleeps."]}
    (tmp_path / "c.json").write_text(json.dumps({"v_1": item}))
    (tmp_path / "q.json").write_text(json.dumps({"v_1": {**item, "sentences": ["A dog sprints.", "It naps."]}}))
    args = ["eval", "retrieval", "--captions", tmp_path / "c.json", "--queries", tmp_path / "q.json", "--json"]
    result = vidseek(*args, "--index", tmp_path / "idx", "--set", "index.context_neighbours=0")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)["c"]  # one pair: named after the captions file
    assert scores["baseline"]["within_video"] == {"r1": 1.0, "r5": 1.0}
    assert set(scores["method"]) == {"global", "within_video"}
    versus = scores["versus_baseline"]["within_video"]["r1"]  # the difference, with its uncertainty
    assert set(versus) == {"difference", "ci95_queries", "ci95_videos", "verdict"}
    assert versus["ci95_queries"][0] <= versus["difference"] <= versus["ci95_queries"][1]
    built = tmp_path / "idx" / "c"
    assert (built / "vectors.faiss").exists() and not (built / "context.faiss").exists()
    bad = vidseek(*args, "--set", "index.codec=PQx")
    assert bad.returncode == 2 and "index.codec" in bad.stderr
    assert vidseek(*args, "--index", tmp_path / "idx", "--set", "index.context_neighbours=0").returncode == 0
    other = vidseek(*args, "--index", tmp_path / "idx")  # context vectors on: not the index that is there
    assert other.returncode == 2 and "another set or settings" in other.stderr
    assert vidseek("eval", "retrieval", "--captions", tmp_path / "c.json").returncode == 2  # a pair, or no files


@pytest.fixture
def small_index(tmp_path, embedder):
    """Two videos written directly (no model): one caption holds Rich markup, which must print as text."""
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    index = tmp_path / "idx"
    writer = IndexWriter(index, embedder)
    for video, caption in (("a", "A red truck arrives at the gate."), ("b", "[/red] a dog [bold]barks[/bold]")):
        writer.begin_video(video, f"/videos/{video}.mp4", 1, 60.0, "test", {})
        writer.write(ChunkDescription(ChunkSpan(video, f"/videos/{video}.mp4", 0, 60), caption, model="test"))
        writer.finish_video(video, "complete", num_chunks=1)
    writer.close()
    return index


def test_a_missing_or_damaged_vectors_file_is_named_not_an_empty_answer(small_index):
    assert vidseek("status", "--index", small_index).returncode == 0
    vectors = small_index / "vectors.faiss"
    saved = vectors.read_bytes()
    vectors.unlink()
    search = vidseek("search", "a truck", "--index", small_index)
    assert search.returncode == 2 and search.stdout == ""
    assert f"{vectors} cannot be read" in search.stderr and "missing: the catalog lists 2 segments" in search.stderr
    assert f"vidseek index rebuild --index {small_index}" in search.stderr
    status = vidseek("status", "--index", small_index)
    assert status.returncode == 2 and "problem:" in status.stderr and "written before, then deleted" in status.stderr
    for damage in (saved[: len(saved) // 2], b"garbage" * 100):
        vectors.write_bytes(damage)
        status = vidseek("status", "--index", small_index)
        assert status.returncode == 2 and f"{vectors} cannot be read" in status.stderr, status.stderr
    rebuilt = vidseek("index", "rebuild", "--index", small_index)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert vidseek("status", "--index", small_index).returncode == 0
    found = vidseek("search", "a truck", "--index", small_index, "--json")
    assert json.loads(found.stdout.splitlines()[0])["video"] == "/videos/a.mp4"


def test_untrusted_text_prints_as_it_is(small_index):
    """A caption holding Rich markup ("[/red]") crashed the table or lost its brackets."""
    table = vidseek("search", "a dog barks", "--index", small_index, "-k", "1")
    assert table.returncode == 0, table.stderr
    assert "[/red] a dog [bold]barks[/bold]" in table.stdout
    help_text = vidseek("ask", "--help").stdout
    assert "every claim cites [video HH:MM:SS-HH:MM:SS]" in " ".join(help_text.split())


@pytest.mark.parametrize(
    "args,message",
    [
        (["search", "   ", "--index", "{index}"], "the query is empty"),
        (["ask", "", "--index", "{index}"], "the question is empty"),
        (["search", "x" * 501, "--index", "{index}"], "the query has 501 characters, more than 500"),
        (["ask", "why " * 200, "--index", "{index}"], "the question has 800 characters, more than 500"),
        (["search", "dog", "--index", "{index}", "--offset", "995", "-k", "10"], "offset + k"),
        (["search", "dog", "--index", "{index}", "--after", "99:99:99"], "minutes and seconds go up to 59"),
        (["search", "dog", "--index", "{index}", "--after", "nan"], "'nan' is not a time"),
        (["search", "dog", "--index", "{index}", "--before", "-5"], "'-5' is not a time"),
        (["summarize", "a", "--index", "{index}", "--after", "inf"], "'inf' is not a time"),
        (["status", "--index", "/etc/passwd"], "/etc/passwd is not a vidseek index: not a folder"),
        (["search", "dog", "--index", "/etc/passwd"], "/etc/passwd is not a vidseek index"),
        (["export", "--index", "/proc/nope", "--video", "a"], "/proc/nope is not a vidseek index: no such folder"),
        (["ingest", "{media}", "--index", "/proc/nope", "--config", "tiny.yaml"], "/proc/nope"),
        (["ingest", "{media}", "--index", "/etc/passwd", "--config", "tiny.yaml"], "/etc/passwd"),
        (["ingest", "{media}", "--index", "{index}", "--config", "/etc"], "'/etc' is a folder, not a YAML file"),
        (["ingest", "{media}", "--index", "{index}", "--config", "{binary}"], "not a text file"),
        (["index", "rebuild", "--index", "{tmp}"], "is not a vidseek index"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(small_index, tmp_path, args, message):
    binary = tmp_path / "config.yaml"
    binary.write_bytes(b"decode:\n  fps: \xff\xfe\n")
    values = {"index": small_index, "media": tmp_path / "none.mp4", "binary": binary, "tmp": tmp_path / "empty"}
    (tmp_path / "empty").mkdir()
    result = vidseek(*[a.format(**values) for a in args])
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_ingest_killed_before_its_first_save_leaves_a_file_never_written_not_a_damaged_one(tmp_path):
    """kill -9 after a chunk was recorded, before the first FAISS save: status says so, a rebuild writes it."""
    index = tmp_path / "idx"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_SAVE, str(index)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    status = vidseek("status", "--index", index)
    assert status.returncode == 2, status.stderr
    assert f"{index / 'vectors.faiss'} was never written" in status.stderr and "damaged" not in status.stderr
    assert f"vidseek index rebuild --index {index}" in status.stderr
    assert vidseek("index", "rebuild", "--index", index).returncode == 0
    assert vidseek("status", "--index", index).returncode == 0


KILLED_BEFORE_SAVE = """
import os, signal, sys
from pipeline.embed.fake import HashingEmbedder
from pipeline.index import IndexWriter
from pipeline.types import ChunkDescription, ChunkSpan
writer = IndexWriter(sys.argv[1], HashingEmbedder())
writer.begin_video("a", "/videos/a.mp4", 1, 60.0, "test", {})
writer.write(ChunkDescription(ChunkSpan("a", "/videos/a.mp4", 0, 60), "A red truck arrives.", model="test"))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_remove_and_rebuild_on_a_busy_index_wait_or_stop_with_exit_3(small_index):
    from pipeline.index.lock import IndexLock

    holder = IndexLock(small_index)
    holder.acquire()
    try:
        for args in (["remove", "a", "--index", small_index], ["index", "rebuild", "--index", small_index]):
            busy = vidseek(*args)
            assert busy.returncode == 3 and "is being written by pid" in busy.stderr, busy.stderr
            assert "Traceback" not in busy.stderr
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "remove", "a", "--index", str(small_index), "--wait", "60"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert proc.poll() is None  # waiting for the lease
    finally:
        holder.release()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "removed /videos/a.mp4: 1 segment" in stdout, stderr


@pytest.mark.slow
@pytest.mark.ray
def test_a_rerun_with_nothing_to_do_starts_no_ray_and_a_killed_driver_leaves_no_ray_behind(tmp_path, media):
    index = tmp_path / "idx"
    path = media("concat_real_clips_640x360.mp4")
    args = ["ingest", path, "--index", index, "--config", "tiny.yaml", "--set", "decode.chunk_s=5"]
    proc = start_vidseek(args)
    deadline = time.time() + 300
    while time.time() < deadline:
        ray_processes = _children_of(proc.pid)
        if any("DecodeWorker" in _cmdline(pid) for pid in ray_processes):
            break
        time.sleep(0.3)
    assert any("raylet" in _cmdline(pid) for pid in ray_processes), "local Ray did not start"
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as `kill -9 PID` does
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and (alive := [p for p in ray_processes if _cmdline(p)]):
        time.sleep(0.5)
    assert not alive, {pid: _cmdline(pid) for pid in alive}
    finished = vidseek(*args)
    assert finished.returncode == 0, finished.stderr
    again = vidseek(*args)
    assert again.returncode == 0 and "skipped 1" in again.stdout
    assert "Started a local Ray instance" in finished.stderr and "Ray" not in again.stderr


def _children_of(root: int) -> set[int]:
    """Every process below ``root``, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        for pid in [p for p, pp in parents.items() if pp == parent and p not in found]:
            found.add(pid)
            todo.append(pid)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_search_pages_and_groups_by_video(tmp_path, embedder):
    from pipeline.config import IndexConfig
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=0))
    for video, texts in {"a": ["a red truck arrives", "a red truck leaves"], "b": ["a blue truck parks"]}.items():
        writer.begin_video(video, f"/footage/{video}.mp4", 1, 120.0, "test", {})
        for i, text in enumerate(texts):
            writer.write(ChunkDescription(ChunkSpan(video, f"/footage/{video}.mp4", i * 60, i * 60 + 60), text))
        writer.finish_video(video, "complete", num_chunks=len(texts))
    writer.close()

    def lines(*args):
        result = vidseek("search", "a truck", "--index", tmp_path, "--json", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    ranking = lines("-k", "3")
    assert lines("-k", "1", "--offset", "1") == ranking[1:2]
    groups = lines("--group-by", "video")
    assert sorted(g["video_id"] for g in groups) == ["a", "b"]
    assert groups[0]["video_id"] == ranking[0]["video_id"] and {len(g["results"]) for g in groups} == {1, 2}
    assert [g["video_id"] for g in lines("--group-by", "video", "-k", "1", "--offset", "1")] == [groups[1]["video_id"]]
    wrong = vidseek("search", "truck", "--index", tmp_path, "--group-by", "file")
    assert wrong.returncode == 2 and "--group-by must be video" in wrong.stderr


def test_frames_only_ingest_then_search_by_words_and_by_image(tmp_path, media):
    """The frame index from the command line: `describe.backend none` ingests frames alone (the tiny random
    SigLIP: it cannot see, so what the searches find is noise), `status` shows the stage, `search --modality
    visual` and `--image` answer from frames, and a bad image is named with the reason."""
    index = tmp_path / "idx"
    frames = [
        "--set",
        "describe.backend=none",
        "--set",
        "frames.enabled=true",
        "--set",
        "frames.model=tiny-random-siglip",
    ]
    ingest = vidseek("ingest", media("bikes.mp4"), "--index", index, *TINY_LOCAL, *frames, "--set", "decode.chunk_s=4")
    assert ingest.returncode == 0, ingest.stderr
    status = vidseek("status", "--index", index)
    assert "framed" in status.stdout and "bikes.mp4" in status.stdout and "frames only" in status.stdout, status.stdout
    found = vidseek("search", "cyclists on a street", "--index", index, "--modality", "visual", "--json", "-k", "2")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert found.returncode == 0 and rows and all(r["kind"] == "frames" and r["start_s"] < r["end_s"] for r in rows)
    assert found.stderr == ""  # its answer, nothing else: no transformers warnings, no loading bars
    import cv2
    import numpy as np

    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), np.full((48, 64, 3), 127, np.uint8))
    by_image = vidseek("search", "--image", picture, "--index", index, "--json", "-k", "1")
    assert by_image.returncode == 0 and json.loads(by_image.stdout)["kind"] == "frames", by_image.stderr
    (tmp_path / "fake.png").write_bytes(b"<svg onload=alert(1)>")
    bad = vidseek("search", "--image", tmp_path / "fake.png", "--index", index)
    assert bad.returncode == 2 and "fake.png: not an image that can be read" in bad.stderr
    folder = vidseek("search", "--image", tmp_path, "--index", index)
    assert folder.returncode == 2 and f"{tmp_path}: a folder, not an image file" in folder.stderr, folder.stderr


def test_a_frames_model_that_is_not_here_stops_before_any_work(tmp_path, media):
    result = vidseek(
        "ingest", media("bikes.mp4"), "--index", tmp_path / "idx", *TINY_LOCAL,
        "--set", "frames.enabled=true", "--set", "frames.model=nobody/no-such-siglip",
    )  # fmt: skip
    assert result.returncode == 2 and "frames.model 'nobody/no-such-siglip' cannot be loaded" in result.stderr
    assert "huggingface-cli download nobody/no-such-siglip" in result.stderr and not (tmp_path / "idx").exists()


@pytest.mark.slow
def test_kill_9_in_a_still_stretch_then_resume(tmp_path, media):
    """A fixed camera's long still stretch is written fast (no model calls): SIGKILL lands inside it, and the
    rerun indexes every chunk once, each still one carrying the chunk described last before it."""
    from pipeline.config import DecodeConfig
    from pipeline.decode import plan_spans, probe
    from pipeline.index.records import RecordStore
    from pipeline.media import content_id
    from tests.clips import write_fixed_camera

    clip = write_fixed_camera(
        tmp_path / "camera.mp4",
        media("one-by-one-person-detection.mp4"),
        [("hold", 300.0), ("clip", 5.0, 22.0), ("hold", 43.0)],
        size=(192, 108),
    )
    index = tmp_path / "idx"
    one_at_a_time = ["--set", "decode.chunk_s=10", "--set", "describe.batch_size=1"]
    written_before = kill_9_once_written(["ingest", clip, "--index", index, *TINY_LOCAL, *one_at_a_time], 6, 0.02)
    assert 6 <= written_before < 30, "the kill should land in the still stretch (chunks 1-29)"

    result = vidseek("ingest", clip, "--index", index, *TINY_LOCAL, "--set", "decode.chunk_s=10")
    assert result.returncode == 0, result.stderr
    assert "still, carried without a call" in result.stdout
    video_id = content_id(str(clip))
    spans = plan_spans(probe(str(clip)), video_id, DecodeConfig(chunk_s=10))
    rows = {r.chunk_id: r for r in RecordStore(index).rows(video_id) if r.kind == "caption"}
    assert set(rows) == {s.chunk_id for s in spans}  # every chunk, once (the records replace a chunk's rows)
    source = None
    for span in spans:
        row = rows[span.chunk_id]
        if row.carried_from:
            assert row.carried_from == source and row.frame_pts == []
        else:
            source = span.chunk_id
    assert sum(1 for r in rows.values() if not r.carried_from) <= 5  # 0 s, 300 s, the visitor's chunks
    status = vidseek("status", "--index", index, env={**os.environ, "COLUMNS": "250"})
    assert status.returncode == 0 and "carried)" in status.stdout and "last runs" in status.stdout, status.stdout


def test_live_times_read_the_same_in_json_and_in_tables(tmp_path, embedder):
    """A live source's seconds are Unix time: JSON gives them and their UTC reading, as the table shows it."""
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    index, at = tmp_path / "idx", 1_795_564_741.0  # 2026-11-24T23:59:01Z
    writer = IndexWriter(index, embedder)
    writer.begin_video("live-cam", "rtsp://cam/1", 0, 60.0, "test", {})
    writer.write(ChunkDescription(ChunkSpan("live-cam", "rtsp://cam/1", at, at + 10), "A red truck at the gate."))
    writer.begin_video("file", "/videos/a.mp4", 1, 60.0, "test", {})
    writer.write(ChunkDescription(ChunkSpan("file", "/videos/a.mp4", 95, 105), "A red truck in a yard."))
    writer.close()
    found = vidseek("search", "a red truck", "--index", index, "--json")
    rows = {r["video_id"]: r for r in map(json.loads, found.stdout.splitlines())}
    live, file = rows["live-cam"], rows["file"]
    assert (live["start_s"], live["start"], live["end"]) == (at, "2026-11-24T23:59:01Z", "2026-11-24T23:59:11Z")
    assert (file["start_s"], file["start"], file["end"]) == (95, "00:01:35", "00:01:45")
    table = vidseek("search", "a red truck", "--index", index, env={**os.environ, "COLUMNS": "250"})
    assert "2026-11-24T23:59:01Z-2026-11-24T23:59:11Z" in table.stdout and "00:01:35-00:01:45" in table.stdout

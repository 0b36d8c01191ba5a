"""Videos on object storage: a real S3 protocol server (moto) on loopback, reached through s3fs/fsspec."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from pipeline.config import DecodeConfig, load_config
from pipeline.decode import DecodeError, open_reader, plan_spans, probe
from pipeline.index import Catalog, IndexWriter
from pipeline.job import run_local
from pipeline.media import discover, identify
from pipeline.search import Searcher
from tests.doubles import SegmentsDescriber

BUCKET = "footage"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with s3://footage/cams/ holding the concat clip, a corrupt video and a non-video file."""
    from tests.conftest import media_path

    concat, corrupt = media_path("concat_real_clips_640x360.mp4"), media_path("corrupted.mp4")
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        fs.put_file(concat, f"{BUCKET}/cams/day1/concat.mp4")
        fs.put_file(corrupt, f"{BUCKET}/cams/day1/corrupted.mp4")
        fs.pipe_file(f"{BUCKET}/cams/notes.txt", b"not a video")
        yield {"concat": concat, "segments": concat.replace(".mp4", ".segments.json")}
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def test_prefix_lists_video_objects_only(s3):
    assert discover([f"s3://{BUCKET}/cams"]).files == [
        f"s3://{BUCKET}/cams/day1/concat.mp4",
        f"s3://{BUCKET}/cams/day1/corrupted.mp4",
    ]


def test_probe_and_frames_match_the_local_file(s3, tmp_path):
    url = f"s3://{BUCKET}/cams/day1/concat.mp4"
    remote, local = probe(url), probe(s3["concat"])
    assert remote.duration_s == local.duration_s and (remote.width, remote.height) == (local.width, local.height)
    cfg = DecodeConfig(chunk_s=10, max_side=128, scratch_dir=str(tmp_path / "scratch"))
    span = plan_spans(local, "v", cfg)[3]
    remote_reader, local_reader = open_reader(remote, cfg), open_reader(local, cfg)
    a, b = remote_reader.read(span), local_reader.read(span)
    assert list(tmp_path.joinpath("scratch").iterdir()), "the object is staged in the scratch dir while read"
    remote_reader.close()
    local_reader.close()
    np.testing.assert_array_equal(a.pts_s, b.pts_s)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert not list(tmp_path.joinpath("scratch").iterdir()), "the staged copy is deleted on close"


def test_missing_object_is_named(s3):
    url = f"s3://{BUCKET}/cams/nope.mp4"
    with pytest.raises(DecodeError, match="nope.mp4.*file not found"):
        probe(url)


def test_ingest_from_bucket_then_skip_unchanged(s3, tmp_path, embedder):
    index = tmp_path / "idx"
    cfg = load_config(None, ["decode.chunk_s=10", "decode.max_side=128", f"decode.scratch_dir={tmp_path / 's'}"])
    prefix = f"s3://{BUCKET}/cams/"
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [prefix], writer, SegmentsDescriber(s3["segments"]))
    writer.close()
    outcome = {r.path.rsplit("/", 1)[-1]: r for r in report.results}
    assert outcome["concat.mp4"].status == "ingested" and outcome["concat.mp4"].chunks == 29
    assert outcome["corrupted.mp4"].status == "failed" and outcome["corrupted.mp4"].reason
    hit = Searcher(index, embedder).search("bikes", k=1)[0]
    assert hit.video == f"s3://{BUCKET}/cams/day1/concat.mp4"
    assert not list((tmp_path / "s").iterdir()), "no staged copies left behind"

    video_id, size = identify(f"s3://{BUCKET}/cams/day1/concat.mp4")
    assert Catalog(index).video(video_id).status == "complete" and size > 0
    writer = IndexWriter(index, embedder)
    again = run_local(cfg, [prefix], writer, SegmentsDescriber(s3["segments"]))
    writer.close()
    assert [r.status for r in again.results if r.path.endswith("concat.mp4")] == ["skipped"]


def test_index_on_object_storage_through_the_cli(s3, tmp_path, media):
    """`--index s3://...`: ingest pushes the index, a fresh machine searches it, a re-run skips, a held lease stops
    a second writer with exit code 3."""
    import json
    import shutil
    import time
    import uuid

    import s3fs

    from pipeline.index.remote import RemoteIndex
    from tests.test_cli import TINY_LOCAL, vidseek

    url = f"s3://{BUCKET}/indexes/{uuid.uuid4().hex}"  # the local mirror is keyed by URL: a fresh one per run
    ok = vidseek("ingest", media("bikes.mp4"), "--index", url, *TINY_LOCAL)
    assert ok.returncode == 0, ok.stderr
    names = {p.rsplit("/", 1)[-1] for p in s3fs.S3FileSystem().find(url)}
    assert {"catalog.sqlite", "vectors.faiss"} <= names and any(n.endswith(".parquet") for n in names)
    assert "LEASE.json" not in names and "writer.lock" not in names

    shutil.rmtree(RemoteIndex(url).local)  # another machine: nothing local
    found = vidseek("search", "a street", "--index", url, "--json")
    assert found.returncode == 0, found.stderr
    assert {json.loads(line)["video"] for line in found.stdout.splitlines()} == {media("bikes.mp4")}
    again = vidseek("ingest", media("bikes.mp4"), "--index", url, *TINY_LOCAL)
    assert again.returncode == 0 and "skipped 1" in again.stdout

    lease = {"owner": "nightly@node-7", "host": "node-7", "expires": time.time() + 600}
    s3fs.S3FileSystem().pipe_file(f"{url}/LEASE.json", json.dumps(lease).encode())
    busy = vidseek("ingest", media("chaplin.mp4"), "--index", url, *TINY_LOCAL)
    assert busy.returncode == 3 and "nightly@node-7" in busy.stderr


def test_records_pushed_mid_run_survive_a_lost_machine(s3, tmp_path, embedder):
    """A run that dies after pushing only its records: the next machine pulls them and the writer's repair
    indexes them, so those chunks are not described again."""
    import shutil

    from pipeline.index.remote import RemoteIndex
    from pipeline.types import ChunkDescription, ChunkSpan

    url = f"s3://{BUCKET}/indexes/{tmp_path.name}"
    remote = RemoteIndex(url, cache_dir=tmp_path / "machine-a")
    remote.acquire(settle_s=0)
    writer = IndexWriter(remote.pull(), embedder)
    writer.begin_video("v", "/footage/v.mp4", 1, 30.0, "test", {})
    for start in (0, 10, 20):
        writer.write(ChunkDescription(ChunkSpan("v", "/footage/v.mp4", start, start + 10), f"scene {start}"))
    assert remote.push(records_only=True) == 4  # three Parquet records and the video's row; not the catalog
    shutil.rmtree(tmp_path / "machine-a")  # the machine is lost with its open writer (lease left to expire)

    fresh = RemoteIndex(url, cache_dir=tmp_path / "machine-b")
    writer = IndexWriter(fresh.pull(), embedder)  # repair: catalog and vectors rebuilt from the records
    assert len(writer.done_chunk_ids("v")) == 3 and writer.catalog.count_segments() == 3
    video = writer.catalog.video("v")  # listed by `status`, to be finished by the next ingest
    assert (video.path, video.status, video.num_chunks, video.duration_s) == (
        "/footage/v.mp4",
        "ingesting",
        3,
        30.0,
    )
    writer.close()


def test_mirror_follows_files_deleted_on_the_store(s3, tmp_path):
    """A store wiped (or another bucket behind the same URL) must not leave stale local files that a push would
    then skip as unchanged."""
    import s3fs

    from pipeline.index.remote import RemoteIndex

    url = f"s3://{BUCKET}/indexes/{tmp_path.name}-wiped"
    remote = RemoteIndex(url, cache_dir=tmp_path / "cache")
    local = remote.pull()
    (local / "catalog.sqlite").write_bytes(b"v1")
    assert remote.push() == 1
    s3fs.S3FileSystem().rm(url, recursive=True)
    assert not (remote.pull() / "catalog.sqlite").exists()
    (local / "catalog.sqlite").write_bytes(b"v1")
    assert remote.push() == 1 and s3fs.S3FileSystem().cat_file(f"{url}/catalog.sqlite") == b"v1"

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
    assert discover([f"s3://{BUCKET}/cams"]) == [
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
    assert Catalog(index).video(video_id)["status"] == "complete" and size > 0
    writer = IndexWriter(index, embedder)
    again = run_local(cfg, [prefix], writer, SegmentsDescriber(s3["segments"]))
    writer.close()
    assert [r.status for r in again.results if r.path.endswith("concat.mp4")] == ["skipped"]

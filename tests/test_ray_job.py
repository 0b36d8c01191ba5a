"""The Ray job on a real local Ray: stuck decode calls are timed out, their worker killed and replaced."""

from __future__ import annotations

import shutil

import pytest

from pipeline.config import load_config
from pipeline.index import IndexWriter

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=3,
        resources={"cpu_node": 2},
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=256 * 1024 * 1024,
    )
    import tests.doubles

    ray.cloudpickle.register_pickle_by_value(tests.doubles)
    yield ray
    ray.shutdown()


def test_stuck_decode_is_killed_replaced_and_retried_with_opencv(ray_session, tmp_path, media, embedder):
    from tests.doubles import HangingDecodeWorker
    from workers.ray_job import run_ray

    video = tmp_path / "bikes.mp4"
    shutil.copy(media("bikes.mp4"), video)
    cfg = load_config(
        "tiny.yaml",
        ["decode.chunk_s=5", "decode.timeout_s=3", "ray.num_decode_workers=1", "ray.decode_resources={cpu_node: 1}"],
    )  # placed where that resource is
    writer = IndexWriter(tmp_path / "idx", embedder)
    report = run_ray(cfg, [str(video)], writer, "tiny-random", decode_worker=HangingDecodeWorker)
    rows = writer.records.rows(writer.catalog.videos()[0].video_id)
    writer.close()
    (result,) = report.results
    assert result.status == "ingested" and result.chunks == 2
    assert (tmp_path / "bikes.mp4.hung-once").exists()  # the first worker really hung
    decoders = {r.chunk_start_s: r.decoder for r in rows}
    assert decoders == {0.0: "opencv", 5.0: "opencv"}  # the rest of the file was read with OpenCV


def test_a_span_that_fails_to_decode_fails_its_video_and_the_rest_is_still_read(ray_session, tmp_path, media, embedder):
    from tests.doubles import FailingFirstSpanDecodeWorker
    from workers.ray_job import run_ray

    cfg = load_config("tiny.yaml", ["decode.chunk_s=5", "ray.num_decode_workers=1"])
    writer = IndexWriter(tmp_path / "idx", embedder)
    report = run_ray(cfg, [media("bikes.mp4")], writer, "tiny-random", decode_worker=FailingFirstSpanDecodeWorker)
    rows = writer.records.rows(writer.catalog.videos()[0].video_id)
    writer.close()
    (result,) = report.results  # the job settles every span, even when the one that failed was not the last
    assert result.status == "failed" and "damaged packets at 0 s" in result.reason
    assert sorted({r.chunk_start_s for r in rows}) == [5.0]  # the span after it was still decoded and indexed


@pytest.mark.timeout(300)
def test_a_model_batch_larger_than_the_backpressure_bound_does_not_stall_the_job(
    ray_session, tmp_path, media, embedder
):
    """describe.batch_size auto sends up to 32 chunks per model call; decoding stops at ray.max_chunks_in_flight.
    With more lanes queued than decoders, the job used to wait for a batch that could never fill (found with the
    default config: a 29-chunk video hung at 0 chunks)."""
    from workers.ray_job import run_ray

    cfg = load_config(
        "tiny.yaml",
        [
            "describe.batch_size=auto",
            "ray.max_chunks_in_flight=4",
            "ray.num_decode_workers=1",
            "decode.chunk_s=20",
            "decode.fps=0.25",
        ],
    )
    assert cfg.describe.dispatch_batch > cfg.ray.max_chunks_in_flight
    writer = IndexWriter(tmp_path / "idx", embedder)
    report = run_ray(cfg, [media("concat_real_clips_640x360.mp4")], writer, "tiny-random")
    writer.close()
    (result,) = report.results
    assert result.status == "ingested" and result.chunks == 15  # 288 s in 20 s chunks: two lanes of spans


def test_frames_are_embedded_by_the_decode_actors_and_indexed_first(ray_session, tmp_path, media):
    """The frame index on a real Ray: decode actors embed each chunk's frames (the tiny random SigLIP), the driver
    indexes them when the decode call returns; frames only, no model actor is started."""
    from pipeline.embed.fake import HashingEmbedder
    from workers.ray_job import run_ray

    overrides = ["decode.chunk_s=4", "ray.num_decode_workers=2", "describe.backend=none", "frames.enabled=true"]
    cfg = load_config("tiny.yaml", [*overrides, "frames.model=tiny-random-siglip", "frames.device=cpu"])
    writer = IndexWriter(tmp_path / "idx", HashingEmbedder())
    (result,) = run_ray(cfg, [media("bikes.mp4")], writer, "").results
    video = writer.catalog.videos()[0]
    framed = writer.framed_chunk_ids(video.video_id)
    writer.close()
    assert result.status == "ingested" and result.chunks == 3 and len(framed) == 3
    assert (video.status, video.model, video.chunks) == ("complete", "", 0)


def test_still_footage_is_carried_on_ray_as_without_it(ray_session, tmp_path, media, embedder):
    """The decode actors pick the changed frames and say which spans are still; the driver carries those once the
    span before them is indexed. Two lanes decode at once (the second starts at 100 s, reading the frame before
    it again): the outcome is the one ingest without Ray gives."""
    from pipeline.describe import make_describer
    from pipeline.job import run_local
    from tests.clips import write_fixed_camera
    from workers.ray_job import run_ray

    clip = str(
        write_fixed_camera(
            tmp_path / "camera.mp4",
            media("one-by-one-person-detection.mp4"),
            [("hold", 40.0), ("clip", 5.0, 22.0), ("hold", 63.0)],
        )
    )
    settings = ["decode.chunk_s=10", "decode.max_still_s=60", "ray.num_decode_workers=2"]
    outcomes = {}
    for runner in ("ray", "local"):
        cfg = load_config("tiny.yaml", settings)
        writer = IndexWriter(tmp_path / runner, embedder)
        if runner == "ray":
            report = run_ray(cfg, [clip], writer, "tiny-random")
        else:
            report = run_local(cfg, [clip], writer, make_describer(cfg.describe))
        video_id = writer.catalog.videos()[0].video_id
        rows = [r for r in writer.records.rows(video_id) if r.kind == "caption"]
        writer.close()
        assert report.results[0].status == "ingested", report.results[0].reason
        outcomes[runner] = {(r.start_s, bool(r.carried_from), tuple(r.frame_pts)) for r in rows}
        assert len(rows) == 12
    assert outcomes["ray"] == outcomes["local"]
    assert sum(carried for _, carried, _ in outcomes["ray"]) == 8

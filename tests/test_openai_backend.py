"""The OpenAI-compatible backend against a scripted loopback server: real HTTP, the real `openai` client."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from pipeline.config import DescribeConfig, load_config
from pipeline.describe import make_describer
from pipeline.types import ChunkDescription, ChunkFailure, ChunkSpan, FrameChunk
from tests.openai_server import FakeOpenAIServer


def chunk(start_s=120.0, n=4) -> FrameChunk:
    frames = np.random.default_rng(0).integers(0, 255, (n, 64, 96, 3), dtype=np.uint8)
    return FrameChunk(ChunkSpan("v", "x.mp4", start_s, start_s + 60), frames, start_s + np.arange(n) * 15.0)


def describer_for(server: FakeOpenAIServer, **endpoint):
    endpoint = {
        "base_url": server.base_url,
        "model": "qwen/qwen3-vl-8b-thinking",
        "max_retries": 3,
        "timeout_s": 5.0,
        **endpoint,
    }
    return make_describer(DescribeConfig(backend="openai", openai=endpoint))


def test_answer_with_server_side_reasoning(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-42")
    with FakeOpenAIServer() as server:
        (result,) = describer_for(server).describe([chunk()])
    assert isinstance(result, ChunkDescription) and result.caption == "A test caption." and result.problem == ""
    assert [(e.start_s, e.end_s) for e in result.events] == [(120.0, 135.0)]  # absolute times were sent
    assert (result.input_tokens, result.output_tokens) == (1234, 56)
    assert result.reasoning == ""  # not kept unless describe.keep_reasoning
    request = server.requests[0]
    assert request["model"] == "qwen/qwen3-vl-8b-thinking" and request["top_k"] == 20
    images = [c for c in request["messages"][0]["content"] if c["type"] == "image_url"]
    assert len(images) == 4 and images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert server.headers[0]["authorization"] == "Bearer sk-test-secret-42"


def test_chunk_sent_as_one_video_keeps_its_times():
    """``send: video``: one MP4 per chunk whose frames keep their spacing (uneven here), the model answers in the
    clip's own seconds, and the events land back on the video's clock. An odd frame size is cropped to even."""
    from tests.openai_server import video_frame_times

    uneven = chunk(120.0)
    uneven = FrameChunk(uneven.span, uneven.frames, np.array([120.5, 135.5, 140.5, 170.0]))
    odd = FrameChunk(
        ChunkSpan("v", "x.mp4", 180.0, 240.0), uneven.frames[:3, :63, :95], np.array([180.0, 181.0, 182.0])
    )
    with FakeOpenAIServer() as server:
        first, second = describer_for(server, send="video").describe([uneven, odd])
    assert [(e.start_s, e.end_s) for e in first.events] == [(120.5, 135.5)]
    assert [(e.start_s, e.end_s) for e in second.events] == [(180.0, 181.0)]
    sent = [r["messages"][0]["content"] for r in server.requests]
    assert all([c["type"] for c in content] == ["video_url", "text"] for content in sent)
    assert all("count from 0 at its first frame" in content[1]["text"] for content in sent)
    video = next(c for c in sent if "between 0 and 59.5" in c[1]["text"])[0]  # span end - first frame
    assert video_frame_times(video["video_url"]["url"]) == [0.0, 15.0, 20.0, 49.5]


def test_real_clip_sent_as_video_decodes_to_its_sampled_frames(media):
    """A chunk decoded from the VFR phone clip (uneven PTS) goes out as an MP4 a server decodes to the same
    frames at the same spacing."""
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.describe.openai_backend import mp4_data_url
    from tests.openai_server import video_frame_times

    path = media("fire2.mp4")
    info = probe(path)
    decoded = open_reader(info, DecodeConfig(fps=10.0, max_side=224)).read(ChunkSpan("v", path, 0.0, info.duration_s))
    times = video_frame_times(mp4_data_url(decoded.frames, decoded.pts_s))
    assert len(times) == len(decoded.frames) > 1
    assert times == pytest.approx(decoded.pts_s - decoded.pts_s[0], abs=1e-3)


def test_video_mode_estimate_counts_frame_pairs():
    from pipeline.config import DecodeConfig
    from pipeline.describe.estimate import PROMPT_TEXT_TOKENS, estimate_chunk
    from pipeline.types import VideoInfo

    span, decode = ChunkSpan("v", "x.mp4", 0.0, 60.0), DecodeConfig(fps=1.0, max_side=448)
    info = VideoInfo("x.mp4", duration_s=60.0, width=448, height=448, rotation_deg=0, avg_fps=30.0, codec="h264")
    as_images = estimate_chunk(span, info, decode, DescribeConfig(backend="openai"))[0]
    as_video = estimate_chunk(span, info, decode, DescribeConfig(backend="openai", openai={"send": "video"}))[0]
    assert as_images - PROMPT_TEXT_TOKENS == 2 * (as_video - PROMPT_TEXT_TOKENS)  # 60 frames, 30 pairs


def test_inline_think_is_split_and_kept_when_asked():
    with FakeOpenAIServer(default="thinking") as server:
        cfg = DescribeConfig(
            backend="openai", keep_reasoning=True, openai={"base_url": server.base_url, "max_retries": 0}
        )
        (result,) = make_describer(cfg).describe([chunk()])
    assert result.reasoning == "Looking..." and result.caption == "A test caption."


def test_429_honours_retry_after_then_succeeds():
    with FakeOpenAIServer(script=["429"]) as server:
        start = time.monotonic()
        (result,) = describer_for(server).describe([chunk()])
        elapsed = time.monotonic() - start
    assert isinstance(result, ChunkDescription) and len(server.requests) == 2
    assert elapsed >= 0.9  # waited the 1 s the server asked for


def test_5xx_and_timeouts_are_retried():
    with FakeOpenAIServer(script=["500", "slow", "500"], slow_s=2.0) as server:
        (result,) = describer_for(server, timeout_s=0.5).describe([chunk()])
    assert isinstance(result, ChunkDescription) and len(server.requests) == 4


def test_persistent_failure_is_a_chunk_failure_without_the_key(monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-log-me")
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(default="500") as server:
        results = describer_for(server, max_retries=1).describe([chunk(0.0), chunk(60.0)])
    assert all(isinstance(r, ChunkFailure) for r in results)
    assert "HTTP 500" in results[0].reason and "upstream exploded" in results[0].reason
    assert "sk-never-log-me" not in caplog.text + " ".join(r.reason for r in results)


def test_refused_request_fails_at_once_with_the_servers_reason():
    with FakeOpenAIServer(default="400") as server:
        (result,) = describer_for(server, send="video").describe([chunk()])
    assert isinstance(result, ChunkFailure) and len(server.requests) == 1
    assert result.reason.startswith("endpoint answered HTTP 400 (a refusal: not retried): ")
    assert "video input is not supported by this model" in result.reason


def test_malformed_answer_is_kept_as_caption_with_problem():
    with FakeOpenAIServer(default="garbage") as server:
        (result,) = describer_for(server).describe([chunk()])
    assert result.caption.startswith("The frames show a street") and "no JSON object" in result.problem


def test_bounded_concurrency():
    with FakeOpenAIServer(default="slow", slow_s=0.3) as server:
        start = time.monotonic()
        results = describer_for(server, max_concurrency=4).describe([chunk(60.0 * i) for i in range(8)])
        elapsed = time.monotonic() - start
    assert all(isinstance(r, ChunkDescription) for r in results) and len(server.requests) == 8
    assert [r.span.start_s for r in results] == [60.0 * i for i in range(8)]  # order kept
    assert 0.55 <= elapsed < 2.4  # two waves of four, not eight in a row nor all at once


@pytest.mark.slow
def test_failed_chunk_is_retried_by_the_next_ingest(tmp_path, media, embedder):
    """A chunk the endpoint keeps failing is recorded as failed; the next ingest describes only it."""
    from pipeline.index import IndexWriter
    from pipeline.job import run_local

    path = media("bikes.mp4")
    with FakeOpenAIServer(script=["500", "500"]) as server:
        cfg = load_config(
            None,
            [
                "ray.enabled=false",
                "decode.chunk_s=5",
                "describe.backend=openai",
                f"describe.openai.base_url={server.base_url}",
                "describe.openai.max_retries=1",
                "describe.openai.max_concurrency=1",
            ],
        )
        writer = IndexWriter(tmp_path, embedder)
        first = run_local(cfg, [path], writer, make_describer(cfg.describe))
        assert first.results[0].status == "failed" and "HTTP 500" in first.results[0].reason
        assert first.results[0].chunks == 1
        second = run_local(cfg, [path], writer, make_describer(cfg.describe))
        writer.close()
    assert second.results[0].status == "ingested" and second.results[0].chunks == 2
    assert len(server.requests) == 2 + 1 + 1  # chunk 1 failed twice, chunk 2 once, then chunk 1 once more

"""The tiny random Qwen3-VL through the real AutoProcessor and generate() on real frames.

The tiny model's weights are random, so its text is noise: these tests check the mechanics (prompt, absolute
timestamps, batching, decoding, parsing into records), never what it says.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import DecodeConfig, DescribeConfig
from pipeline.decode import open_reader, probe
from pipeline.describe.qwen3vl import Qwen3VLDescriber, rendered_timestamps
from pipeline.types import ChunkSpan


@pytest.fixture(scope="module")
def describer():
    d = Qwen3VLDescriber(DescribeConfig(model="tiny-random", max_new_tokens=24, greedy=True, batch_size=2))
    d.load()
    return d


@pytest.fixture(scope="module")
def chunks():
    from tests.conftest import media_path

    path = media_path("concat_real_clips_640x360.mp4")
    info = probe(path)
    reader = open_reader(info, DecodeConfig(fps=1.0, max_side=224))
    return [reader.read(ChunkSpan("v", path, 140.0, 150.0)), reader.read(ChunkSpan("v", path, 150.0, 157.0))]


def test_prompt_carries_absolute_frame_times(describer, chunks):
    inputs = describer.build_inputs(chunks)
    texts = describer.processor.batch_decode(inputs["input_ids"])
    for chunk, text in zip(chunks, texts, strict=True):
        shown = rendered_timestamps(text)
        pts = list(chunk.pts_s) + ([chunk.pts_s[-1]] if len(chunk.pts_s) % 2 else [])
        expected = np.asarray(pts).reshape(-1, 2).mean(axis=1)  # one time per temporal patch of 2 frames
        assert np.allclose(shown, expected, atol=0.051), (shown, expected)
        assert shown[0] >= 140.0  # absolute seconds, not relative to the chunk
        assert f"seconds {chunk.span.start_s:.1f} to {chunk.span.end_s:.1f}" in text


def test_batch_of_unequal_chunks_is_left_padded(describer, chunks):
    inputs = describer.build_inputs(chunks)
    assert len(chunks[0].frames) != len(chunks[1].frames)
    mask = inputs["attention_mask"]
    assert mask.shape[0] == 2 and mask[:, -1].all() and not mask[1, 0]  # the shorter prompt is padded on the left
    assert inputs["video_grid_thw"].shape == (2, 3)


def test_generate_returns_one_record_per_chunk(describer, chunks):
    descriptions = describer.describe(chunks)
    assert [d.span for d in descriptions] == [c.span for c in chunks]
    for d in descriptions:
        assert d.model == "tiny-random" and d.caption  # never an empty record
        assert all(d.span.start_s <= e.start_s <= e.end_s <= d.span.end_s for e in d.events)
        assert d.reasoning == ""  # describe.keep_reasoning is off


def test_tiny_model_is_cached_and_reloads_from_disk(tmp_path):
    from pipeline.describe.tiny import build_tiny_qwen3vl

    first = build_tiny_qwen3vl(tmp_path)
    assert (first / "config.json").exists() and (first / "vidseek_tiny.json").exists()
    assert build_tiny_qwen3vl(tmp_path) == first

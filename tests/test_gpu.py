"""Tests that need a CUDA GPU: skipped where there is none (CI), run wherever one is.

Only the mechanics can be checked here: the tiny model's weights are random and the 8B one is built with random
weights, so nothing they say is meaningful.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import DescribeConfig
from pipeline.types import ChunkSpan, FrameChunk

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


def synthetic_chunk(start_s: float, frames: int) -> FrameChunk:
    pixels = np.random.default_rng(int(start_s)).integers(0, 255, (frames, 64, 96, 3), dtype=np.uint8)
    pts_s = start_s + np.arange(frames, dtype=np.float64)
    return FrameChunk(ChunkSpan("v", "synthetic.mp4", start_s, start_s + frames), pixels, pts_s)


def test_real_architecture_builds_in_bf16_with_sdpa():
    from benchmarks.bench_gpu_qwen3vl import build_model_8b

    model = build_model_8b(num_layers=2, vision_layers=2)
    assert next(model.parameters()).dtype == torch.bfloat16 and model.config._attn_implementation == "sdpa"
    assert next(model.parameters()).device.type == "cuda"


def test_describer_on_cuda_runs_bf16_and_sizes_its_batch_from_free_memory():
    from pipeline.describe.qwen3vl import Qwen3VLDescriber

    describer = Qwen3VLDescriber(DescribeConfig(model="tiny-random", max_new_tokens=64, thinking_budget=8))
    describer.load()
    assert describer.device.type == "cuda" and describer.model.dtype == torch.bfloat16
    assert describer.batch_size == 1 and not describer._calibrated  # "auto": the first batch calibrates

    chunks = [synthetic_chunk(0.0, 6), synthetic_chunk(6.0, 3), synthetic_chunk(9.0, 8)]  # mixed lengths
    described = describer.describe(chunks)

    assert describer._calibrated and describer.batch_size > 1  # gigabytes free, a tiny model per chunk
    assert [d.span for d in described] == [c.span for c in chunks]
    for d in described:
        assert d.caption and d.input_tokens > 0 and 0 < d.output_tokens <= 64
        assert all(d.span.start_s <= e.start_s <= e.end_s <= d.span.end_s for e in d.events)

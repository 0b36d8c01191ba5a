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
    cfg = DescribeConfig(model="tiny-random", max_new_tokens=64, thinking_budget=8, greedy=True, batch_size=2)
    d = Qwen3VLDescriber(cfg)
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


def test_thinking_budget_closes_reasoning_and_still_answers(describer, chunks):
    """The tiny model never writes </think> on its own: the budget forces it, and an answer follows."""
    texts, input_tokens, output_tokens = describer.generate(describer.build_inputs(chunks))
    for text in texts:
        assert "</think>" in text and text.split("</think>", 1)[1].strip()
    assert all(n == 64 for n in output_tokens) and input_tokens[0] > input_tokens[1] > 100
    for d in describer.describe(chunks):
        assert "thinking budget of 8 tokens exhausted" in d.problem and d.caption
        assert d.input_tokens > 100 and d.output_tokens == 64


def test_budget_processor_forces_only_open_rows():
    import torch

    from pipeline.describe.budget import ThinkingBudget

    proc = ThinkingBudget(prompt_len=2, budget=3, close_ids=[7, 8, 9], think_end_id=9)
    scores = torch.zeros(2, 10)
    ids = torch.tensor([[0, 0, 1, 2, 3], [0, 0, 9, 4, 5]])  # row 1 already closed its reasoning
    out = proc(ids, scores.clone())
    assert out[0].argmax() == 7 and torch.isinf(out[0]).sum() == 9
    assert torch.equal(out[1], torch.zeros(10))
    out = proc(torch.tensor([[0, 0, 1, 2, 3, 7, 8]]), torch.zeros(1, 10))
    assert out[0].argmax() == 9  # the last forced token is </think>
    assert torch.equal(proc(torch.tensor([[0, 0, 1]]), torch.zeros(1, 10)), torch.zeros(1, 10))  # under budget


def test_cuda_oom_halves_the_batch_and_retries(describer, chunks, monkeypatch):
    """A simulated CUDA out-of-memory at batch 2 makes the worker retry at 1, not fail the job."""
    import torch

    real = describer.generate
    seen = []

    def generate(inputs):
        seen.append(inputs["input_ids"].shape[0])
        if inputs["input_ids"].shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(inputs)

    monkeypatch.setattr(describer, "generate", generate)
    describer.batch_size = 2
    results = describer.describe(chunks)
    assert seen == [2, 1, 1] and describer.batch_size == 1
    assert [r.span for r in results] == [c.span for c in chunks]


def test_oom_at_batch_one_is_raised(describer, chunks, monkeypatch):
    import torch

    def generate(inputs):
        raise torch.cuda.OutOfMemoryError("simulated")

    monkeypatch.setattr(describer, "generate", generate)
    describer.batch_size = 1
    with pytest.raises(torch.cuda.OutOfMemoryError):
        describer.describe(chunks[:1])


def test_token_estimate_matches_the_processor(describer, chunks):
    """The dry-run's visual token count equals what the real processor produces for the same frames."""
    from pipeline.config import DecodeConfig
    from pipeline.describe.estimate import PROMPT_TEXT_TOKENS, TOKENS_PER_TIMESTAMP, estimate_chunk

    inputs = describer.build_inputs(chunks[:1])
    processor_visual = int(inputs["video_grid_thw"][0].prod()) // 4  # merge 2x2
    info = probe(chunks[0].span.video_path)
    tokens_in, _ = estimate_chunk(chunks[0].span, info, DecodeConfig(fps=1.0, max_side=224), describer.cfg)
    pairs = (len(chunks[0].frames) + 1) // 2
    assert tokens_in - PROMPT_TEXT_TOKENS - pairs * TOKENS_PER_TIMESTAMP == processor_visual


def test_a_static_kv_cache_writes_the_same_tokens(describer, chunks):
    """The decode path meant for CUDA graphs (a fixed-shape cache) against plain generate, greedy, on a batch of
    unequal prompts whose reasoning the budget cuts short."""
    from pipeline.describe.qwen3vl import Qwen3VLDescriber

    static = Qwen3VLDescriber(describer.cfg.model_copy(update={"kv_cache": "static"}))
    static.processor, static.model, static.device = describer.processor, describer.model, describer.device
    inputs = describer.build_inputs(chunks)
    plain, _, plain_tokens = describer.generate(inputs)
    fixed, _, fixed_tokens = static.generate(inputs)
    assert fixed == plain and fixed_tokens == plain_tokens == [64, 64]
    assert all("</think>" in text for text in fixed)  # the budget forced it in both


@pytest.fixture(scope="module")
def four_chunks(chunks):
    from tests.conftest import media_path

    path = media_path("concat_real_clips_640x360.mp4")
    reader = open_reader(probe(path), DecodeConfig(fps=1.0, max_side=224))
    return [*chunks, reader.read(ChunkSpan("v", path, 0.0, 4.0)), reader.read(ChunkSpan("v", path, 20.0, 31.0))]


def continuous(describer, **update):
    """A describer sharing ``describer``'s model, with slots refilled as sequences finish (2 slots)."""
    slots = Qwen3VLDescriber(describer.cfg.model_copy(update={"batching": "continuous", **update}))
    slots.processor, slots.model, slots.device = describer.processor, describer.model, describer.device
    slots.batch_size = 2
    return slots


def test_continuous_batching_writes_the_same_tokens_as_generate(describer, four_chunks, monkeypatch):
    """Four prompts of unequal length through two slots, each prefilled alone, against one plain generate() of the
    padded batch, greedy. An end-of-text token is chosen so that rows stop at different steps: the slot of a
    finished row is refilled while the other row is still decoding, and every row still writes the same tokens,
    with the thinking budget forcing </think> in each."""
    from pipeline.describe.slots import SlotDecoder

    slots = continuous(describer)
    inputs = describer.build_inputs(four_chunks)
    first = slots._slot_decoder().run(inputs)  # with the model's own end token, which the tiny model never writes
    split = next(i for i, (a, b) in enumerate(zip(first[0], first[1], strict=True)) if a != b)
    stop = next(t for t in first[0][split:] if t not in first[1] and t not in first[0][:split])
    stops_at = first[0].index(stop) + 1  # row 0 now ends there; row 1 (still decoding then) does not
    eos = describer.model.generation_config.eos_token_id
    monkeypatch.setattr(describer.model.generation_config, "eos_token_id", [eos, stop])
    live_rows, prefills = [], []
    real_step, real_prefill = SlotDecoder._step, SlotDecoder._prefill
    monkeypatch.setattr(
        SlotDecoder, "_step", lambda self, rows, *a: live_rows.append(len(rows)) or real_step(self, rows, *a)
    )
    monkeypatch.setattr(
        SlotDecoder, "_prefill", lambda self, p: prefills.append(len(live_rows)) or real_prefill(self, p)
    )

    plain, plain_in, plain_out = describer.generate(inputs)
    texts, tokens_in, tokens_out = slots.generate(inputs)
    assert (texts, tokens_in, tokens_out) == (plain, plain_in, plain_out)
    assert tokens_out[0] == stops_at < tokens_out[1] == 64, tokens_out  # rows finished at different steps
    assert all("</think>" in text for text in texts)
    assert max(live_rows) == 2 and len(prefills) == 4
    assert prefills[2] > 0 and live_rows[prefills[2]] == 2  # the third prompt joined a row still decoding


def test_continuous_batching_samples_reproducibly(describer, four_chunks):
    """Sampling (the default for Thinking models) through the slots: the seed fixes the text; lengths stay in
    bounds. (What it writes is noise: the tiny model's weights are random.)"""
    slots = continuous(describer, greedy=False)
    inputs = describer.build_inputs(four_chunks[:3])
    first, second = slots.generate(inputs), slots.generate(inputs)
    assert first == second and all(0 < n <= 64 for n in first[2])


def test_continuous_describe_keeps_the_chunks_order(describer, four_chunks):
    """describe() hands every chunk of the call to the slots (2 here) and returns one record per chunk, in order."""
    descriptions = continuous(describer).describe(four_chunks)
    assert [d.span for d in descriptions] == [c.span for c in four_chunks]
    assert all(d.caption and d.input_tokens > 100 and d.output_tokens == 64 for d in descriptions)

"""The GPU benchmark script's own logic, run on the CPU with the 8B architecture scaled down: device sessions are
short and rare, and the script must not be found broken in one."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks import bench_gpu_qwen3vl as bench

SMALL_TEXT = dict(
    bench.TEXT_8B,
    vocab_size=1024,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    rope_parameters=dict(bench.TEXT_8B["rope_parameters"], mrope_section=[2, 3, 3]),
)
SMALL_VISION = dict(
    bench.VISION_8B,
    hidden_size=32,
    intermediate_size=64,
    num_heads=2,
    out_hidden_size=64,
    num_position_embeddings=64,
)


@pytest.fixture
def run_bench(monkeypatch, capsys):
    monkeypatch.setattr(bench, "TEXT_8B", SMALL_TEXT)
    monkeypatch.setattr(bench, "VISION_8B", SMALL_VISION)

    def run(*args: str) -> str:
        cpu = ["--device", "cpu", "--frames", "4", "--size", "64", "--text-layers", "2", "--vision-layers", "9"]
        monkeypatch.setattr(sys, "argv", ["bench_gpu_qwen3vl.py", *cpu, *args])
        bench.main()
        return capsys.readouterr().out

    return run


def test_throughput_table(run_bench):
    out = run_bench("--batches", "1", "2", "--new-tokens", "32", "--decode", "eager", "static-compile")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["eager"], ["static-compile"])]
    assert [r[:3] for r in rows] == [
        ["eager", "1", "32"],
        ["static-compile", "1", "32"],
        ["eager", "2", "32"],
        ["static-compile", "2", "32"],
    ]
    for r in rows:
        prompt, footage_h_per_h, gen_tok_s = int(r[3]), float(r[4]), float(r[6])
        assert prompt > 8 and footage_h_per_h > 0 and gen_tok_s > 0


def test_continuous_rows_for_chunks_of_varied_lengths(run_bench):
    out = run_bench("--batches", "2", "--new-tokens", "16", "--varied", "--decode", "eager", "continuous")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["eager"], ["continuous"])]
    assert [r[:3] for r in rows] == [["eager", "2", "16"], ["continuous", "2", "16"]]
    assert all(float(r[4]) > 0 and float(r[6]) > 0 for r in rows)
    assert bench.chunk_lengths(4, 16, True) == bench.chunk_lengths(4, 16, True) != [16] * 4  # one draw for all modes


def test_profile_decode(run_bench):
    out = run_bench("--profile-decode", "2")
    assert re.search(r"batch 2: decode step [\d.]+ ms wall, device busy 0\.0 ms", out)  # no device on a CPU
    assert "aten::" in out  # the operator table


def test_change_bench_gpu_hours_follow_the_cost_model():
    """bench_change.py's computed footage-hours per GPU-hour: prompt tokens at 15,000/s, 1,000 output tokens a
    call at 80 ms a step shared by a batch of 32 (an hour of 60 s chunks at 3,800 tokens each: about 22)."""
    from benchmarks.bench_change import Row

    hour = Row("fixed camera hour", "fixed", 3600.0, 3600, 3600, 60, 60 * 3800, 60_000, 1.0, 1.0, 1.0, 0.0)
    gpu_s = 60 * 3800 / 15_000 + 60 * 1000 * 0.080 / 32
    assert hour.footage_hours_per_gpu_hour() == pytest.approx(3600 / gpu_s) == pytest.approx(21.8, abs=0.05)


@pytest.mark.slow
def test_speech_gpu_bench_compares_both_engines_against_the_cpu_baseline(monkeypatch, capsys):
    """The speech GPU benchmark's own logic on the CPU: both engines, the baseline row, a ratio per row."""
    from benchmarks import bench_speech_gpu

    monkeypatch.setattr(sys, "argv", ["bench_speech_gpu.py", "--device", "cpu", "--size", "tiny", "--batch", "3"])
    bench_speech_gpu.main()
    table = capsys.readouterr().out
    assert "| faster-whisper | cpu (int8) | 1 |" in table and "| 1.00x |" in table
    row = r"\| transformers \(random weights\) \| cpu \(float32\) \| 3 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \|"
    assert re.search(row, table), table

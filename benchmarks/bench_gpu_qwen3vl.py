"""Qwen3-VL-8B throughput on one GPU with random weights: same architecture and compute as the real model, no
download. Each run forces a fixed number of new tokens (min_new_tokens = max_new_tokens).

    python benchmarks/bench_gpu_qwen3vl.py                      # 448x448, 1 fps, 60 s chunks, 128 new tokens
    python benchmarks/bench_gpu_qwen3vl.py --new-tokens 1000 2000 --batches 32
    python benchmarks/bench_gpu_qwen3vl.py --profile-decode 32     # where a decode step's time goes, at batch 32
    TORCH_LOGS=cudagraphs python benchmarks/bench_gpu_qwen3vl.py --batches 32 --decode eager static-compile
                                                                # eager vs a static KV cache, which transformers
                                                                # compiles (reduce-overhead: CUDA graphs) on a GPU
    python benchmarks/bench_gpu_qwen3vl.py --batches 32 --new-tokens 1000 --varied --decode eager continuous
                                                                # padded batches vs slots refilled as chunks finish,
                                                                # for chunks whose reasoning lengths differ
    python benchmarks/bench_gpu_qwen3vl.py --batches 32 --memory-gb 80      # as on an H100 80GB (memory capped)
    python benchmarks/bench_gpu_qwen3vl.py --device cpu --text-layers 1 --vision-layers 1 --frames 4 --size 64
                                                                # a CPU smoke run of the script itself

Each row runs two batches' worth of chunks. Reports per (batch, new tokens): footage-hours per GPU-hour, prefill
tokens/s, generated tokens/s, peak GPU memory, and achieved TFLOP/s against the device's bf16 matmul rate measured
in the same run. The inputs go
through the same processor code as ingest (the locally built tokenizer of the tiny model; token ids are all that
matter to the compute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Qwen3-VL-8B (Instruct and Thinking share it): text = Qwen3-8B with interleaved M-RoPE; vision = 27-layer ViT
# with DeepStack taps at 8, 16, 24.
TEXT_8B = dict(
    vocab_size=151936,
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=262144,
    rope_parameters={
        "rope_type": "default",
        "rope_theta": 5e6,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
)
VISION_8B = dict(
    depth=27,
    hidden_size=1152,
    intermediate_size=4304,
    num_heads=16,
    out_hidden_size=4096,
    patch_size=16,
    temporal_patch_size=2,
    spatial_merge_size=2,
    num_position_embeddings=2304,
    deepstack_visual_indexes=[8, 16, 24],
)


def build_model_8b(num_layers: int | None = None, vision_layers: int | None = None, device: str = "cuda"):
    import torch
    from transformers import AutoTokenizer, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from pipeline.describe.tiny import SPECIAL_TOKENS, build_tiny_qwen3vl

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_qwen3vl())
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(TEXT_8B, pad_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    vision = dict(VISION_8B)
    if num_layers:
        text["num_hidden_layers"] = num_layers
    if vision_layers:
        vision["depth"] = vision_layers
        vision["deepstack_visual_indexes"] = [i for i in VISION_8B["deepstack_visual_indexes"] if i < vision_layers]
    config = Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config._attn_implementation = "sdpa"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def matmul_tflops(device: str) -> float:
    import torch

    if device != "cuda":
        return float("nan")
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, n = time.perf_counter(), 50
    for _ in range(n):
        a @ b
    torch.cuda.synchronize()
    return 2 * 8192**3 * n / (time.perf_counter() - start) / 1e12


def fake_chunks(batch: int, frames: int, size: int):
    import numpy as np

    from pipeline.types import ChunkSpan, FrameChunk

    rng = np.random.default_rng(0)
    return [
        FrameChunk(
            ChunkSpan("bench", "bench.mp4", 60.0 * i, 60.0 * i + frames),
            rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8),
            60.0 * i + np.arange(frames, dtype=np.float64),
        )
        for i in range(batch)
    ]


def flops(model, prompt_tokens: int, new_tokens: int, visual_patches: int, batch: int) -> float:
    """Matmul FLOPs: 2 x params x tokens for the text stack (and lm_head per generated token), the vision tower
    on its patches, and attention (4 x layers x heads x head_dim x context per token)."""
    cfg = model.config.text_config
    text_params = sum(p.numel() for n, p in model.model.language_model.named_parameters() if "embed" not in n)
    vision_params = sum(p.numel() for p in model.model.visual.parameters())
    attn = 4 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.head_dim
    prefill = 2 * text_params * prompt_tokens + attn * prompt_tokens**2 / 2 + 2 * vision_params * visual_patches
    decode = (2 * text_params + 2 * cfg.hidden_size * cfg.vocab_size) * new_tokens
    decode += attn * new_tokens * (prompt_tokens + new_tokens / 2)
    return batch * (prefill + decode)


DECODE_OPTIONS = {"eager": {}, "static-compile": {"cache_implementation": "static"}, "continuous": {}}


def chunk_lengths(count: int, new_tokens: int, varied: bool) -> list[int]:
    """New tokens per chunk: all ``new_tokens``, or (``varied``, as thinking lengths are) drawn evenly from a
    quarter of it to all of it, the same draw for every mode."""
    import numpy as np

    if not varied:
        return [new_tokens] * count
    return np.random.default_rng(1).integers(max(1, new_tokens // 4), new_tokens + 1, count).tolist()


def run(
    model,
    describer,
    batch: int,
    new_tokens: int,
    frames: int,
    size: int,
    device: str,
    warm_up: bool,
    decode: str,
    varied: bool = False,
) -> dict:
    """Two batches' worth of chunks (``2 x batch``) with their new-token counts: the padded modes run two
    generate() calls of ``batch``, each as long as its longest chunk; ``continuous`` runs them all through
    ``batch`` slots, a finished chunk's slot refilled at once."""
    import torch

    from pipeline.describe.slots import SlotDecoder

    chunks = fake_chunks(2 * batch, frames, size)
    halves = [describer.build_inputs(chunks[:batch]).to(device), describer.build_inputs(chunks[batch:]).to(device)]
    together = describer.build_inputs(chunks).to(device) if decode == "continuous" else None
    prompt_tokens = int(halves[0]["attention_mask"][0].sum())
    patches = int(halves[0]["video_grid_thw"][0].prod())
    lengths = chunk_lengths(2 * batch, new_tokens, varied)

    class Lengths(SlotDecoder):  # each chunk ends after its own count of tokens
        def finished(self, row, token):
            return len(row.tokens) >= self.max_new_tokens[row.index]

    def generate(cap: int) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            if decode == "continuous":
                capped = [min(cap, n) for n in lengths]
                Lengths(model, batch, capped, set(), lambda scores: scores.argmax(dim=-1)).run(together)
            for i, inputs in enumerate(halves if decode != "continuous" else []):
                n = min(cap, max(lengths[i * batch : (i + 1) * batch]))  # a batch waits for its longest
                model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, **DECODE_OPTIONS[decode])
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if decode == "static-compile":  # compiles the decode step and records its graphs for this batch and cache length
        generate(new_tokens)
    elif warm_up:  # kernel selection and allocator growth, once per process
        generate(1)
    prefill_s = generate(1)
    total_s = generate(new_tokens)
    decode_s = total_s - prefill_s  # not positive when noise outweighs a few tokens (tiny CPU runs): not measured
    return {
        "decode": decode,
        "batch": batch,
        "new_tokens": new_tokens,
        "prompt_tokens": prompt_tokens,
        "footage_h_per_gpu_h": 2 * batch * frames / total_s,  # frames are 1 s apart: footage seconds per second
        "prefill_tok_s": 2 * batch * prompt_tokens / prefill_s,
        "gen_tok_s": (sum(lengths) - len(lengths)) / decode_s if decode_s > 0 else float("nan"),  # tokens kept
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan"),
        "tflops": sum(flops(model, prompt_tokens, n, patches, 1) for n in lengths) / total_s / 1e12,
        "seconds": total_s,
    }


def profile_decode(model, describer, batch: int, frames: int, size: int, device: str, steps: int = 16) -> None:
    """A decode step's wall time against the time its kernels keep the device busy (prefill subtracted): when
    the device is busy for a small part of the step, the host (Python, kernel launches) is what to speed up. The
    profiler adds host time of its own: compare the wall time with the table's unprofiled gen tok/s."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    inputs = describer.build_inputs(fake_chunks(batch, frames, size)).to(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])

    def measured(n: int):
        with torch.inference_mode(), profile(activities=activities) as prof:
            start = time.perf_counter()
            model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False)
            if device == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - start
        events = prof.key_averages()
        kernels = [e for e in events if e.device_type != DeviceType.CPU and not getattr(e, "is_user_annotation", False)]
        return wall, sum(e.self_device_time_total for e in kernels) / 1e6, events  # profiler times are in us

    measured(2)  # warm-up
    wall_1, busy_1, _ = measured(1)
    wall_n, busy_n, events = measured(steps + 1)
    step_wall, step_busy = (wall_n - wall_1) / steps, (busy_n - busy_1) / steps
    print(
        f"batch {batch}: decode step {step_wall * 1e3:.1f} ms wall, device busy {step_busy * 1e3:.1f} ms "
        f"({step_busy / step_wall:.0%}); prefill {wall_1:.2f} s ({busy_1:.2f} s busy)"
    )
    sort = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    print(events.table(sort_by=sort, row_limit=12))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[128])
    parser.add_argument("--frames", type=int, default=60, help="frames per chunk (1 fps: chunk seconds)")
    parser.add_argument("--size", type=int, default=448, help="frame side in pixels")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--text-layers", type=int, default=None, help="fewer layers: smoke runs only")
    parser.add_argument("--vision-layers", type=int, default=None, help="fewer layers: smoke runs only")
    parser.add_argument("--profile-decode", type=int, metavar="BATCH", help="profile decode steps at BATCH instead")
    parser.add_argument(
        "--decode",
        nargs="+",
        choices=sorted(DECODE_OPTIONS),
        default=["eager"],
        help="static-compile: a static KV cache, which transformers compiles on a GPU (not on a CPU); "
        "continuous: slots refilled as chunks finish, each prompt prefilled alone (pipeline.describe.slots)",
    )
    parser.add_argument(
        "--varied", action="store_true", help="chunks of varied new-token counts (1/4 to all of --new-tokens)"
    )
    parser.add_argument(
        "--memory-gb", type=float, default=None, help="cap this process's GPU memory (80: what an H100 80GB has)"
    )
    args = parser.parse_args()
    import torch

    from pipeline.config import DescribeConfig
    from pipeline.describe.qwen3vl import Qwen3VLDescriber

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here; use --device cpu with --text-layers/--vision-layers for a smoke run")
    if args.memory_gb and args.device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_gb * 2**30 / total))
    peak = matmul_tflops(args.device)
    model = build_model_8b(args.text_layers, args.vision_layers, args.device)
    describer = Qwen3VLDescriber(DescribeConfig(model="tiny-random", max_new_tokens=64, thinking_budget=0))
    describer.load()  # the processor only; the tiny model itself is not used
    describer.model = model
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(
        f"device: {name}   bf16 matmul: {peak:.0f} TFLOP/s   model: {params:.2f} B params   "
        f"chunk: {args.frames} frames of {args.size}x{args.size}"
    )
    if args.profile_decode:
        profile_decode(model, describer, args.profile_decode, args.frames, args.size, args.device)
        return
    print(
        f"{'decode':>15}{'batch':>6}{'new tok':>8}{'prompt':>8}{'footage h/GPU h':>16}{'prefill tok/s':>14}"
        f" {'gen tok/s':>9} {'peak GiB':>8} {'TFLOP/s':>8} {'of peak':>7}"
    )
    warm_up = True
    for new_tokens in args.new_tokens:
        out_of_memory: set[str] = set()  # decode modes whose larger batches are not tried
        for batch in args.batches:
            for decode in args.decode:  # side by side, so a comparison shares the process and the device
                if decode in out_of_memory:
                    continue
                try:
                    r = run(
                        model,
                        describer,
                        batch,
                        new_tokens,
                        args.frames,
                        args.size,
                        args.device,
                        warm_up,
                        decode,
                        args.varied,
                    )
                    warm_up = False
                except torch.cuda.OutOfMemoryError:
                    print(f"{decode:>15}{batch:>6}{new_tokens:>8}  out of memory")
                    torch.cuda.empty_cache()
                    out_of_memory.add(decode)
                    continue
                print(
                    f"{r['decode']:>15}{r['batch']:>6}{r['new_tokens']:>8}{r['prompt_tokens']:>8}"
                    f"{r['footage_h_per_gpu_h']:>16.1f}"
                    f"{r['prefill_tok_s']:>14.0f} {r['gen_tok_s']:>9.1f} {r['peak_gib']:>8.1f} {r['tflops']:>8.1f}"
                    f" {r['tflops'] / peak:>7.1%}"
                )


if __name__ == "__main__":
    main()

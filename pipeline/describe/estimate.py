"""Token and cost estimates for a planned ingest, before any model call (`vidseek ingest --dry-run`).

Visual tokens follow Qwen3-VL's geometry: one token per 32x32 pixels (patch 16, merge 2). As a video (the
transformers backend, or the OpenAI backend's ``send: video``) two frames share a token (temporal patch 2; on the
transformers path a frame kept alone by change-aware sampling takes a patch of its own); as separate images (the
OpenAI backend's default) each frame pays its own. Output is the thinking budget plus a typical answer, capped by
``max_new_tokens``.
"""

from __future__ import annotations

import math

from pipeline.config import DecodeConfig, DescribeConfig
from pipeline.decode.readers import sample_targets_s, target_size
from pipeline.describe.pairs import num_patches
from pipeline.types import ChunkSpan, FrameChunk, VideoInfo

PROMPT_TEXT_TOKENS = 230  # chat template + instruction (~160 words): an approximation, not a tokenizer count
TOKENS_PER_TIMESTAMP = 7  # "<123.5 seconds>"
ANSWER_TOKENS = 250  # a caption and a few events


def cost_usd(input_tokens: int, output_tokens: int, cfg: DescribeConfig) -> float:
    """Dollars at ``describe.price``."""
    return (input_tokens * cfg.price.input_per_million + output_tokens * cfg.price.output_per_million) / 1e6


def tokens_per_frame(info: VideoInfo, decode: DecodeConfig) -> int:
    width, height = target_size(info.width, info.height, decode.max_side)
    return max(1, round(width / 32)) * max(1, round(height / 32))


def output_tokens(describe: DescribeConfig) -> int:
    model = describe.openai.model if describe.backend == "openai" else describe.model
    thinking = describe.thinking_budget if "thinking" in model.lower() else 0
    return min(describe.max_new_tokens, thinking + ANSWER_TOKENS)


def input_tokens(
    num_frames: int, num_patches: int, info: VideoInfo, decode: DecodeConfig, describe: DescribeConfig
) -> int:
    """The prompt of one chunk of ``num_frames`` frames, ``num_patches`` temporal patches as the transformers
    path pairs them (pipeline.describe.pairs)."""
    per_frame = tokens_per_frame(info, decode)
    if describe.backend == "openai" and describe.openai.send == "images":
        return PROMPT_TEXT_TOKENS + num_frames * (per_frame + TOKENS_PER_TIMESTAMP)
    if describe.backend == "openai":  # one MP4: the server pairs its frames in order, whatever their spacing
        num_patches = math.ceil(num_frames / 2)
    return PROMPT_TEXT_TOKENS + num_patches * (per_frame + TOKENS_PER_TIMESTAMP)


def estimate_chunk(span: ChunkSpan, info: VideoInfo, decode: DecodeConfig, describe: DescribeConfig) -> tuple[int, int]:
    """(input, output) tokens of a chunk sent with every frame sampled at ``decode.fps``."""
    frames = len(sample_targets_s(span, decode.fps))
    return input_tokens(frames, math.ceil(frames / 2), info, decode, describe), output_tokens(describe)


def estimate_frames(
    chunk: FrameChunk, info: VideoInfo, decode: DecodeConfig, describe: DescribeConfig
) -> tuple[int, int]:
    """(input, output) tokens of a chunk sent with these frames (those change-aware sampling kept)."""
    patches = num_patches(chunk.pts_s, chunk.step_s)
    return input_tokens(len(chunk.frames), patches, info, decode, describe), output_tokens(describe)

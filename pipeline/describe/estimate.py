"""Token and cost estimates for a planned ingest, before any model call (`vidseek ingest --dry-run`).

Visual tokens follow Qwen3-VL's geometry: one token per 32x32 pixels (patch 16, merge 2). As a video (the
transformers backend, or the OpenAI backend's ``send: video``) two frames share a token (temporal patch 2); as
separate images (the OpenAI backend's default) each frame pays its own. Output is the thinking budget plus a
typical answer, capped by ``max_new_tokens``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.config import DecodeConfig, DescribeConfig
from pipeline.decode.readers import sample_targets_s, target_size
from pipeline.types import ChunkSpan, VideoInfo

PROMPT_TEXT_TOKENS = 230  # chat template + instruction (~160 words): an approximation, not a tokenizer count
TOKENS_PER_TIMESTAMP = 7  # "<123.5 seconds>"
ANSWER_TOKENS = 250  # a caption and a few events


@dataclass
class Estimate:
    chunks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def cost_usd(self, cfg: DescribeConfig) -> float:
        return (
            self.input_tokens * cfg.price.input_per_million + self.output_tokens * cfg.price.output_per_million
        ) / 1e6


def tokens_per_frame(info: VideoInfo, decode: DecodeConfig) -> int:
    width, height = target_size(info.width, info.height, decode.max_side)
    return max(1, round(width / 32)) * max(1, round(height / 32))


def output_tokens(describe: DescribeConfig) -> int:
    model = describe.openai.model if describe.backend == "openai" else describe.model
    thinking = describe.thinking_budget if "thinking" in model.lower() else 0
    return min(describe.max_new_tokens, thinking + ANSWER_TOKENS)


def estimate_chunk(span: ChunkSpan, info: VideoInfo, decode: DecodeConfig, describe: DescribeConfig) -> tuple[int, int]:
    frames = len(sample_targets_s(span, decode.fps))
    per_frame = tokens_per_frame(info, decode)
    if describe.backend == "openai" and describe.openai.send == "images":
        visual = frames * per_frame
        stamps = frames * TOKENS_PER_TIMESTAMP
    else:
        pairs = math.ceil(frames / 2)
        visual = pairs * per_frame
        stamps = pairs * TOKENS_PER_TIMESTAMP
    return PROMPT_TEXT_TOKENS + visual + stamps, output_tokens(describe)

"""Qwen3-VL on transformers: ``AutoProcessor`` + ``Qwen3VLForConditionalGeneration.generate``.

Each chunk's frames go in as one video with ``video_metadata`` built from the frames' PTS, so the processor writes
``<t seconds>`` with absolute times before every frame pair (pairs of consecutive samples: frames kept alone by
change-aware sampling are repeated, pipeline.describe.pairs). The processor computes ``t = index / fps``; passing
``fps=1000`` and millisecond indices makes ``t`` the frame's absolute PTS (averaged over each pair of frames).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipeline.config import TINY_MODEL, DescribeConfig
from pipeline.describe.budget import CLOSE_THINKING, ThinkingBudget
from pipeline.describe.pairs import temporal_pairs
from pipeline.describe.parse import THINK_END, describe_chunk, split_reasoning
from pipeline.describe.prompt import build_prompt_text
from pipeline.types import ChunkDescription, FrameChunk

log = logging.getLogger(__name__)
_TIMESTAMP_FPS = 1000.0  # frames_indices are PTS in milliseconds
_PATCH = 32  # pixels per visual token side: patch 16 x merge 2


def video_frames(chunk: FrameChunk) -> tuple[list[np.ndarray], object]:
    """The chunk's frames as the processor's video, two per temporal patch (pipeline.describe.pairs), and its
    metadata, whose timestamps are the frames' absolute PTS."""
    from transformers.video_utils import VideoMetadata

    order = temporal_pairs(chunk.pts_s, chunk.step_s)
    _, h, w, _ = chunk.frames.shape
    metadata = VideoMetadata(
        total_num_frames=len(order),
        fps=_TIMESTAMP_FPS,
        width=w,
        height=h,
        duration=chunk.span.duration_s,
        frames_indices=[int(round(chunk.pts_s[i] * _TIMESTAMP_FPS)) for i in order],
    )
    return [chunk.frames[i] for i in order], metadata


class Qwen3VLDescriber:
    """Load once, describe many batches. Thinking models: reasoning is split off at the last ``</think>``."""

    def __init__(self, cfg: DescribeConfig) -> None:
        self.cfg = cfg
        self.name = cfg.model
        self.thinking = "thinking" in cfg.model.lower() or cfg.model == TINY_MODEL
        self.model = self.processor = None
        self.batch_size = cfg.batch_size if isinstance(cfg.batch_size, int) else 1  # "auto" calibrates on GPU
        self._calibrated = isinstance(cfg.batch_size, int)

    # -- loading ------------------------------------------------------------------------------------------
    def _model_path(self) -> str:
        if self.cfg.model == TINY_MODEL:
            from pipeline.describe.tiny import build_tiny_qwen3vl

            return str(build_tiny_qwen3vl())
        return self.cfg.model

    def load(self) -> None:
        import torch
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        path = self._model_path()
        cuda = torch.cuda.is_available() and self.cfg.device != "cpu"
        self.device = torch.device("cuda" if cuda else "cpu")
        dtype = {
            "auto": torch.bfloat16 if cuda else torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
            "float32": torch.float32,
        }[self.cfg.dtype]
        local_only = Path(path).is_dir()
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=local_only)
        self.processor.tokenizer.padding_side = "left"  # batched generation appends on the right
        self.model = (
            Qwen3VLForConditionalGeneration.from_pretrained(
                path, dtype=dtype, attn_implementation="sdpa", local_files_only=local_only
            )
            .to(self.device)
            .eval()
        )
        log.info("loaded %s on %s (%s)", self.cfg.model, self.device, dtype)

    # -- inference -------------------------------------------------------------------------------------------
    def build_inputs(self, chunks: list[FrameChunk]):
        """Tokenised batch (left padded) with each chunk's frames and absolute timestamps."""
        texts = []
        for chunk in chunks:
            span = chunk.span
            messages = [
                {
                    "role": "user",
                    "content": [
                        {"type": "video"},
                        {"type": "text", "text": build_prompt_text(span.covered_start_s, span.covered_end_s)},
                    ],
                }
            ]
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        videos, metadata = zip(*(video_frames(c) for c in chunks), strict=True)
        # Frames were resized at decode; give the processor a pixel budget that keeps them (rounded to 32 px).
        budget = max(len(v) * (v[0].shape[0] + _PATCH) * (v[0].shape[1] + _PATCH) for v in videos)
        return self.processor(
            text=texts,
            videos=list(videos),
            video_metadata=list(metadata),
            do_sample_frames=False,
            size={"shortest_edge": _PATCH * _PATCH * 4, "longest_edge": int(budget)},
            cap_pixels_per_frame=False,
            padding=True,
            return_tensors="pt",
        )

    def _logits_processors(self, prompt_len: int) -> list:
        if not self.thinking:
            return []
        tok = self.processor.tokenizer
        close_ids = tok.encode(CLOSE_THINKING, add_special_tokens=False)
        budget = min(self.cfg.thinking_budget, self.cfg.max_new_tokens - len(close_ids) - 16)
        return [ThinkingBudget(prompt_len, max(0, budget), close_ids, tok.convert_tokens_to_ids(THINK_END))]

    @property
    def continuous(self) -> bool:
        return self.cfg.batching == "continuous"

    def generate(self, inputs) -> tuple[list[str], list[int], list[int]]:
        """(decoded new text, input tokens, output tokens) per row: one generate() for the whole batch, or the
        slot decoder (``describe.batching: continuous``) for prompts with video."""
        import torch
        from transformers import LogitsProcessorList

        inputs = inputs.to(self.device)
        input_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        if self.continuous and "pixel_values_videos" in inputs:
            torch.manual_seed(self.cfg.seed)
            tokens = self._slot_decoder().run(inputs)
            texts = self.processor.batch_decode(tokens, skip_special_tokens=True)
            return texts, input_tokens, [len(t) for t in tokens]
        if self.cfg.greedy:
            sampling = {"do_sample": False}
        else:
            sampling = {
                "do_sample": True,
                "temperature": self.cfg.temperature,
                "top_p": self.cfg.top_p,
                "top_k": self.cfg.top_k,
            }
        prompt_len = inputs["input_ids"].shape[1]
        processors = LogitsProcessorList(self._logits_processors(prompt_len))
        torch.manual_seed(self.cfg.seed)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.cfg.max_new_tokens,
                logits_processor=processors,
                **({"cache_implementation": "static"} if self.cfg.kv_cache == "static" else {}),
                **sampling,
            )
        new_tokens = out[:, prompt_len:]
        output_tokens = (new_tokens != self.processor.tokenizer.pad_token_id).sum(dim=1).tolist()
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True), input_tokens, output_tokens

    def _slot_decoder(self):
        from pipeline.describe.slots import SlotDecoder

        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        budget = (self._logits_processors(0) or [None])[0]
        return SlotDecoder(self.model, self.batch_size, self.cfg.max_new_tokens, eos_ids, self._chooser(), budget)

    def _chooser(self):
        """Next tokens from scores (B, V): greedy, or sampled with the model card's temperature, top-k, top-p."""
        import torch
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        if self.cfg.greedy:
            return lambda scores: scores.argmax(dim=-1)
        warpers = LogitsProcessorList([TemperatureLogitsWarper(self.cfg.temperature)])
        if self.cfg.top_k:
            warpers.append(TopKLogitsWarper(self.cfg.top_k))
        warpers.append(TopPLogitsWarper(self.cfg.top_p))
        return lambda scores: torch.multinomial(warpers(None, scores).softmax(dim=-1), 1).squeeze(1)

    def complete(self, prompt: str) -> str:
        """Text in, answer out (reasoning, bounded by the thinking budget, is dropped)."""
        if self.model is None:
            self.load()
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        texts, _, _ = self.generate(self.processor(text=[text], padding=True, return_tensors="pt"))
        reasoning, answer, _ = split_reasoning(texts[0], thinking=self.thinking)
        return (answer or ThinkingBudget.strip_close(reasoning)[-2000:]).strip()

    def count_tokens(self, text: str) -> int:
        if self.processor is None:
            self.load()
        return len(self.processor.tokenizer.encode(text, add_special_tokens=False))

    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription]:
        """Describe in sub-batches that fit: the first GPU batch calibrates the size, OOM halves it."""
        import torch

        if self.model is None:
            self.load()
        out: list[ChunkDescription] = []
        start = 0
        while start < len(chunks):
            # continuous: every chunk in one call, batch_size of them decoding at a time
            part = chunks[start:] if self.continuous else chunks[start : start + self.batch_size]
            try:
                out.extend(self._describe_batch(part))
            except torch.cuda.OutOfMemoryError:
                at = self.batch_size if self.continuous else len(part)
                if at == 1:
                    raise
                self.batch_size = max(1, at // 2)
                log.warning("CUDA out of memory at %d chunks per batch; retrying at %d", at, self.batch_size)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            start += len(part)
        return out

    def _describe_batch(self, chunks: list[FrameChunk]) -> list[ChunkDescription]:
        import torch

        calibrating = self.device.type == "cuda" and not self._calibrated
        if calibrating:
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        texts, input_tokens, output_tokens = self.generate(self.build_inputs(chunks))
        if calibrating:
            at_once = min(len(chunks), self.batch_size) if self.continuous else len(chunks)
            self._calibrate(at_once, torch.cuda.max_memory_allocated() - before)
        rows = zip(chunks, texts, input_tokens, output_tokens, strict=True)
        return [self.to_description(c, t, i, o) for c, t, i, o in rows]

    def _calibrate(self, batch: int, peak_bytes: int) -> None:
        """Batch size from free GPU memory and the peak one batch just needed (20% headroom)."""
        import torch

        free_bytes, _ = torch.cuda.mem_get_info()
        per_chunk = max(peak_bytes / batch, 1)
        self.batch_size = int(max(1, min(64, 0.8 * (free_bytes + peak_bytes) // per_chunk)))
        self._calibrated = True
        log.info(
            "batch size %d: %.1f GiB free, %.2f GiB per chunk", self.batch_size, free_bytes / 2**30, per_chunk / 2**30
        )

    def to_description(
        self, chunk: FrameChunk, text: str, input_tokens: int = 0, output_tokens: int = 0
    ) -> ChunkDescription:
        reasoning, answer, problem = split_reasoning(text, thinking=self.thinking)
        if self.thinking and ThinkingBudget.exhausted(reasoning):
            problem = f"thinking budget of {self.cfg.thinking_budget} tokens exhausted: answered without finishing"
            reasoning = ThinkingBudget.strip_close(reasoning)
        return describe_chunk(
            chunk.span, reasoning, answer, problem, self.name, self.cfg.keep_reasoning, input_tokens, output_tokens
        )


def rendered_timestamps(prompt_text: str) -> np.ndarray:
    """The ``<t seconds>`` values a processed prompt holds (for checks and tests)."""
    import re

    return np.array([float(m) for m in re.findall(r"<(\d+(?:\.\d+)?) seconds>", prompt_text)])

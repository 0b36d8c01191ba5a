"""Continuous batching on transformers (``describe.batching: continuous``): a fixed number of slots decode
together, and a sequence that finishes (end of text, or ``max_new_tokens``) hands its slot to the next chunk's
prompt at once, so a batch never waits for its longest reasoning. The thinking budget still holds per chunk.

Each prompt is prefilled alone: no padding and no attention mask, every token attends only to real tokens. The
frames of all the call's chunks go through the vision tower in one call first. A prefilled cache joins the shared
batch cache right-aligned (the columns to its left are masked out), and decoding goes on with explicit positions:
the text position is the number of real tokens before the new one, the three M-RoPE positions that plus the
row's rope delta, as ``generate`` computes them for a left-padded batch. Greedy decoding therefore writes the
same tokens as ``generate`` (tests/test_qwen3vl.py). Columns every row masks are dropped as rows leave, so the
cache is as long as the longest live row.

torch and transformers are imported by the caller (pipeline.describe.qwen3vl) before this runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pipeline.describe.budget import ThinkingBudget


@dataclass
class _Prompt:
    index: int  # place in the call's batch
    input_ids: torch.Tensor  # (1, L): the prompt without its padding
    mm_token_type_ids: torch.Tensor  # (1, L)
    video_grid_thw: torch.Tensor  # (1, 3)
    video: object  # this video's vision-tower output (BaseModelOutputWithDeepstackFeatures)


@dataclass
class _Row:
    index: int
    length: int  # real tokens in the cache
    rope_delta: int  # M-RoPE position minus text position, from the prompt's layout
    tokens: list[int] = field(default_factory=list)
    reasoning_open: bool = True


class SlotDecoder:
    """``choose(scores) -> tokens``: greedy or sampling over float32 scores (B, V) a budget has already forced."""

    def __init__(
        self,
        model,
        slots: int,
        max_new_tokens: int,
        eos_ids: set[int],
        choose: Callable[[torch.Tensor], torch.Tensor],
        budget: ThinkingBudget | None = None,
    ) -> None:
        self.model, self.slots, self.max_new_tokens = model, max(1, slots), max_new_tokens
        self.eos_ids, self.choose, self.budget = eos_ids, choose, budget

    @torch.inference_mode()
    def run(self, inputs) -> list[list[int]]:
        """The new tokens of each sequence of a processor batch (left padded), in the batch's order."""
        waiting = deque(self._prompts(inputs))
        done: list[list[int] | None] = [None] * len(waiting)
        rows: list[_Row] = []
        cache, mask, scores = None, None, None
        while waiting or rows:
            while waiting and len(rows) < self.slots:  # refill free slots
                row, row_cache, row_scores = self._prefill(waiting.popleft())
                cache, mask = _join(cache, mask, row_cache, row.length)
                scores = row_scores if scores is None else torch.cat([scores, row_scores])
                rows.append(row)
            tokens = self.choose(self._forced(rows, scores))
            keep = []
            for i, (row, token) in enumerate(zip(rows, tokens.tolist(), strict=True)):
                row.tokens.append(token)
                row.reasoning_open &= self.budget is None or token != self.budget.end_id
                if self.finished(row, token):
                    done[row.index] = row.tokens
                else:
                    keep.append(i)
            if not keep:
                rows, cache, mask, scores = [], None, None, None
                continue
            if len(keep) < len(rows):
                rows, tokens = [rows[i] for i in keep], tokens[keep]
                cache, mask = _keep_rows(cache, mask, keep)
            scores, mask = self._step(rows, tokens, cache, mask)
        return done

    def finished(self, row: _Row, token: int) -> bool:
        """Whether ``row`` ends with ``token``, its latest (the benchmark gives rows lengths of their own)."""
        return token in self.eos_ids or len(row.tokens) >= self.max_new_tokens

    # -- the model calls ------------------------------------------------------------------------------------------
    def _prompts(self, inputs) -> list[_Prompt]:
        grids = inputs["video_grid_thw"]
        videos = self.model.model.get_video_features(inputs["pixel_values_videos"], grids, return_dict=True)
        prompts = []
        for i, real in enumerate(inputs["attention_mask"].bool()):
            video = type(videos)(
                pooler_output=(videos.pooler_output[i],),
                deepstack_features=[(layer[i],) for layer in videos.deepstack_features],
            )
            ids, types = inputs["input_ids"][i, real][None], inputs["mm_token_type_ids"][i, real][None]
            prompts.append(_Prompt(i, ids, types, grids[i : i + 1], video))
        return prompts

    def _prefill(self, prompt: _Prompt) -> tuple[_Row, object, torch.Tensor]:
        from transformers import DynamicCache

        length = prompt.input_ids.shape[1]
        mrope, delta = self.model.model.get_rope_index(
            prompt.input_ids, prompt.mm_token_type_ids, video_grid_thw=prompt.video_grid_thw
        )
        text = torch.arange(length, device=mrope.device).view(1, 1, length)
        cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=prompt.input_ids,
            position_ids=torch.cat([text, mrope]),
            cache=cache,
            use_cache=True,
            mm_token_type_ids=prompt.mm_token_type_ids,
            video_grid_thw=prompt.video_grid_thw,
            mm_encoder_outputs={"video": prompt.video},
            logits_to_keep=1,
        )
        row = _Row(prompt.index, length, int(delta.reshape(-1)[0]))
        return row, cache, out.logits[:, -1, :].float()

    def _step(self, rows: list[_Row], tokens: torch.Tensor, cache, mask: torch.Tensor):
        """One decode step for every live row: their scores, and the mask with the new column."""
        text = torch.tensor([r.length for r in rows], device=mask.device).view(1, -1, 1)
        delta = torch.tensor([r.rope_delta for r in rows], device=mask.device).view(1, -1, 1)
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        out = self.model(
            input_ids=tokens.view(-1, 1).to(mask.device),
            attention_mask=mask,
            position_ids=torch.cat([text, (text + delta).expand(3, -1, -1)]),
            cache=cache,
            use_cache=True,
        )
        for row in rows:
            row.length += 1
        return out.logits[:, -1, :].float(), mask

    def _forced(self, rows: list[_Row], scores: torch.Tensor) -> torch.Tensor:
        """Scores with the thinking budget applied: a row past its budget with its reasoning open must take the
        next closing token."""
        if self.budget is None:
            return scores
        for i, row in enumerate(rows):
            forced = self.budget.forced_token(len(row.tokens)) if row.reasoning_open else None
            if forced is not None:
                scores[i] = float("-inf")
                scores[i, forced] = 0.0
        return scores


# -- the shared batch cache: rows right-aligned, masked on the left ----------------------------------------------
def _join(cache, mask: torch.Tensor | None, row_cache, length: int):
    """The batch cache with one more row (a prefilled prompt of ``length`` tokens) below the others."""
    if cache is None:
        return row_cache, torch.ones(1, length, dtype=torch.long, device=_device(row_cache))
    width = mask.shape[1]
    if length > width:  # the new row is longer than every row so far: everyone moves right
        for layer in cache.layers:
            layer.keys, layer.values = _pad_left(layer.keys, length - width), _pad_left(layer.values, length - width)
        mask = _pad_left(mask, length - width)
        width = length
    for layer, new in zip(cache.layers, row_cache.layers, strict=True):
        layer.keys = torch.cat([layer.keys, _pad_left(new.keys, width - length)])
        layer.values = torch.cat([layer.values, _pad_left(new.values, width - length)])
    row_mask = torch.cat([mask.new_zeros(1, width - length), mask.new_ones(1, length)], dim=1)
    return cache, torch.cat([mask, row_mask])


def _keep_rows(cache, mask: torch.Tensor, keep: list[int]):
    """Only the rows in ``keep``; leading columns no row uses any more are dropped."""
    index = torch.tensor(keep, device=mask.device)
    mask = mask[index]
    first = int(mask.any(dim=0).nonzero()[0])
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[index, :, first:], layer.values[index, :, first:]
    return cache, mask[:, first:]


def _pad_left(t: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` zero columns before ``t``'s sequence axis (-2 for cache tensors (B, H, L, D), -1 for a mask)."""
    if n <= 0:
        return t
    axis = -1 if t.ndim == 2 else -2
    shape = list(t.shape)
    shape[axis] = n
    return torch.cat([t.new_zeros(shape), t], dim=axis)


def _device(cache) -> torch.device:
    return cache.layers[0].keys.device

"""A tiny, randomly initialised Qwen3-VL with a locally built tokenizer, saved like a hub checkpoint.

It exists so the real ``AutoProcessor`` + ``Qwen3VLForConditionalGeneration.generate`` path runs offline on a CPU
(tests, CI, machines without weights). Its weights are random: everything it writes is noise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.storage import default_cache_dir

TINY_NOTICE = "tiny random Qwen3-VL: its text is noise, only the mechanics are real"


def model_notices(models) -> dict[str, str]:
    """What a person reading text these models wrote must know: the tiny test model's text is noise."""
    from pipeline.config import TINY_MODEL

    return {TINY_MODEL: TINY_NOTICE} if TINY_MODEL in set(models) else {}


_VERSION = "1"  # bump when the recipe below changes, so stale caches are rebuilt

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
THINK_TOKENS = ["<think>", "</think>"]  # added, not special: decoding keeps them, as Qwen's tokenizer does

# Same structure as Qwen3-VL-Thinking's template: video placeholder, and an opened <think> for the answer.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string %}{{ message['content'] }}"
    "{%- else %}{%- for item in message['content'] %}"
    "{%- if item['type'] == 'video' %}<|video_pad|>"
    "{%- elif item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif item['type'] == 'text' %}{{ item['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}<|im_end|>\n"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n<think>\n{%- endif %}"
)


def _corpus() -> list[str]:
    from pipeline.describe.prompt import build_prompt_text

    words = (
        "a person walks runs car truck red blue green street dog ball man woman child opens door drops bag "
        "enters leaves room kitchen pancake flips bike rides parking lot night day camera scene shows the "
        "of in on at and with caption events label description start_s end_s seconds json"
    )
    return [
        build_prompt_text(12.0, 72.0),
        words,
        '{"caption": "", "events": [{"start_s": 1.5}]}',
        "0123456789.,:;!?()[]{}\"'-_/ ",
    ] * 4


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"
    )
    fast.add_tokens(THINK_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _build_config(tokenizer):
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=32768,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5e6,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
            pad_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=16,
            temporal_patch_size=2,
            spatial_merge_size=2,
            num_position_embeddings=64,
            deepstack_visual_indexes=[1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def build_tiny_qwen3vl(cache_dir: Path | None = None) -> Path:
    """Build (once) and return the folder of the tiny model; ``from_pretrained`` loads it like any checkpoint."""
    out = (cache_dir or default_cache_dir()) / f"tiny-random-qwen3-vl-v{_VERSION}"
    if (out / "vidseek_tiny.json").exists():
        return out
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = _build_tokenizer()
    config = _build_config(tokenizer)
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "vidseek_tiny.json").write_text(json.dumps({"notice": TINY_NOTICE, "version": _VERSION}))
    try:
        tmp.rename(out)  # atomic: a concurrent builder's copy wins, ours is discarded
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out

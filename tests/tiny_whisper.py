"""A tiny randomly initialised Whisper checkpoint in Hugging Face form, for ``speech.backend: transformers``: no
Whisper in that form can be downloaded here. Its tokenizer is the real English Whisper BPE (the bundled tiny.en's
``tokenizer.json``) with Whisper's timestamp tokens added; its model is built from a scaled-down WhisperConfig, so
the real loading code, processor, ``generate`` and word-time alignment run, small. Random weights: what it "hears"
is noise."""

from __future__ import annotations

from pathlib import Path

NO_TIMESTAMPS, START_OF_TRANSCRIPT, END_OF_TEXT = 50362, 50257, 50256  # tiny.en's special tokens


TINY = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=128, decoder_ffn_dim=128)  # fmt: skip
# the English Whisper sizes, for benchmarks/bench_speech_gpu.py (same compute as the real checkpoints)
SIZES = {
    "tiny": dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6, decoder_attention_heads=6,
                 encoder_ffn_dim=1536, decoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8,
                 encoder_ffn_dim=2048, decoder_ffn_dim=2048),
}  # fmt: skip


def random_whisper(dims: dict):
    """(a randomly initialised English Whisper of ``dims``, its tokenizer)."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    from pipeline.speech import bundled_model_path

    special = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(bundled_model_path() / "tokenizer.json"),
        bos_token=special,
        eos_token=special,
        unk_token=special,
        pad_token=special,
    )
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])  # <|0.00|> ... <|30.00|>, as Whisper's
    ids = {"decoder_start_token_id": START_OF_TRANSCRIPT, "bos_token_id": END_OF_TEXT, "eos_token_id": END_OF_TEXT}
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, pad_token_id=END_OF_TEXT, **dims, **ids)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        **ids,
        pad_token_id=END_OF_TEXT,
        no_timestamps_token_id=NO_TIMESTAMPS,
        is_multilingual=False,  # English only, as tiny.en
        alignment_heads=[[1, 0], [1, 1]],  # the cross-attention heads word times are read from
        max_initial_timestamp_index=50,
        max_length=64,
    )
    return model, tokenizer


def write_tiny_whisper(folder: Path) -> Path:
    from transformers import WhisperFeatureExtractor

    model, tokenizer = random_whisper(TINY)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder

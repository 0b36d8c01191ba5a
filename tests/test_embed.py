"""The query encoder: the index's sentence-transformers model exported to ONNX gives the same vectors, and a search
process answers without importing torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from pipeline.config import EmbedConfig
from pipeline.embed import make_query_embedder
from pipeline.embed.onnx import OnnxEmbedder, exportable
from pipeline.embed.sentence import resolve_model_path
from tests.conftest import REPO

TEXTS = [
    "when does the red truck arrive?",
    "",
    "Un homme coupe des légumes — 切菜 🍅",
    "a person walks through the room " * 80,  # longer than the model's 256 tokens: truncated alike
    "The person gets out a knife.",
]


def test_the_onnx_export_gives_the_same_vectors(embedder):
    query_embedder = make_query_embedder(EmbedConfig())
    assert isinstance(query_embedder, OnnxEmbedder) and query_embedder.dim == embedder.dim == 384
    ours, theirs = query_embedder.embed(TEXTS), embedder.embed(TEXTS)
    cosines = np.sum(ours * theirs, axis=1)
    assert np.all(cosines > 1 - 1e-4), cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert query_embedder.embed([]).shape == (0, 384)


def test_only_transformer_pooling_models_are_exported(tmp_path):
    assert exportable(resolve_model_path("all-MiniLM-L6-v2")) == {
        "pooling": "mean",
        "normalize": True,
        "max_length": 256,
        "dim": 384,
    }
    assert exportable(str(tmp_path)) is None  # no modules.json: sentence-transformers loads it


def test_a_search_process_never_imports_torch(tmp_path, embedder):
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("a", "/a.mp4", 1, 60.0, "test", {})
    writer.write(ChunkDescription(ChunkSpan("a", "/a.mp4", 0, 60), "A red truck arrives.", model="test"))
    writer.finish_video("a", "complete", num_chunks=1)
    writer.close()
    script = (
        "import sys; from pipeline.search import Searcher; "
        f"hits = Searcher({str(tmp_path)!r}).search('a truck', 1); "
        "print(hits[0].text, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "A red truck arrives. False", done.stderr

"""Embed: texts -> unit-length float32 vectors (cosine similarity = inner product).

make_embedder(cfg) -> Embedder.embed(texts) -> (N, dim) float32          sentence-transformers (ingest, serve)
make_query_embedder(cfg)                                                 the same model via ONNX (search)
"""

from pipeline.embed.base import Embedder
from pipeline.embed.sentence import SentenceEmbedder, make_embedder, make_query_embedder

__all__ = ["Embedder", "SentenceEmbedder", "make_embedder", "make_query_embedder"]

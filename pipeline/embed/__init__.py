"""Embed: texts -> unit-length float32 vectors (cosine similarity = inner product).

make_embedder(cfg) -> Embedder.embed(texts) -> (N, dim) float32
"""

from pipeline.embed.base import Embedder
from pipeline.embed.sentence import SentenceEmbedder, make_embedder

__all__ = ["Embedder", "SentenceEmbedder", "make_embedder"]

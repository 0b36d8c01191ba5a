"""A fake embedder for tests that are about the index, not about the model: hashed words, no model to load.

Each lower-cased word adds +-1 to two of ``dim`` dimensions chosen by a stable hash, so texts that share words are
similar and the same text always gives the same vector, in any process. It understands no meaning ("lorry" is
not "truck"); tests of what a search finds with real language use the real embedder.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    def __init__(self, dim: int = 64, name: str = "fake-hashing") -> None:
        self.dim = dim
        self.name = name

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                for i in (0, 4):
                    slot = int.from_bytes(digest[i : i + 3], "little")
                    out[row, slot % self.dim] += 1.0 if digest[i + 3] & 1 else -1.0
            if not out[row].any():  # no words: a fixed vector, still of unit length
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

"""FAISS vectors keyed by 64-bit segment ids (``IndexIDMap2`` over exact inner product).

Saved by writing a temporary file and renaming it over the old one, so readers never see half an index.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("faiss is missing: pip install faiss-cpu") from exc
    return faiss


class VectorIndex:
    FILE = "vectors.faiss"

    def __init__(self, index_dir: Path, dim: int) -> None:
        faiss = _faiss()
        self.path = Path(index_dir) / self.FILE
        self.dim = dim
        if self.path.exists():
            self.index = faiss.read_index(str(self.path))
            if self.index.d != dim:
                raise ValueError(
                    f"{self.path} holds {self.index.d}-d vectors but the embedder makes {dim}-d ones; "
                    "run `vidseek index rebuild` after changing embed.model"
                )
        else:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        return _faiss().vector_to_array(self.index.id_map).astype(np.int64)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        self.remove(ids)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, ids) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids):
            self.index.remove_ids(ids)

    def search(self, query: np.ndarray, k: int, only_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) for one (dim,) query, best first; ``only_ids`` restricts the search to those ids (a
        FAISS ID selector, so filtered searches stay exact). ids are -1 where fewer than k vectors match."""
        faiss = _faiss()
        k = max(1, min(k, self.size if only_ids is None else len(only_ids)))
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if only_ids is None:
            scores, ids = self.index.search(q, k)
        else:
            selector = faiss.IDSelectorBatch(np.asarray(only_ids, dtype=np.int64))
            scores, ids = self.index.search(q, k, params=faiss.SearchParameters(sel=selector))
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        _faiss().write_index(self.index, str(tmp))
        os.replace(tmp, self.path)

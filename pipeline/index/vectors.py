"""FAISS vectors keyed by 64-bit segment ids, chosen by size: exact while small, approximate (IVF) once large,
compressed (IVF with SQ or PQ codes) once very large.

    size <= index.flat_max:      IndexIDMap2(IndexFlatIP)       exact; add and remove by id
    size >  index.flat_max:      IVF{nlist},Flat                trained once on a sample when crossing the
                                 with a hash-table direct map   threshold, then appended to without rebuilding;
                                                                remove_ids works; `nprobe` lists are scanned
    size >  index.compress_min:  IVF{nlist},{index.codec}       re-encoded once: SQ8 (at 1M 3.8x smaller than
                                                                IVF,Flat, recall@10 0.964 vs 0.972) or PQm (m
                                                                bytes a vector, lower recall: benchmarks/RESULTS.md)
HNSW is not used: it cannot remove ids, and removal is a user command. Saved by writing a temporary file and
renaming it over the old one, so readers never see half an index.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.index.damage import IndexDamaged
from pipeline.index.layout import IndexLayout

log = logging.getLogger(__name__)
EXACT_SUBSET_MAX = 20_000  # filtered searches over at most this many ids score them exactly
_MOVE_BATCH = 100_000  # vectors re-encoded at a time when the index type changes


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("faiss is missing: pip install faiss-cpu") from exc
    return faiss


class VectorIndex:
    @staticmethod
    def where(layout: IndexLayout) -> Path:
        return layout.vectors

    def __init__(
        self, index_dir: Path, dim: int, cfg: IndexConfig | None = None, mapped: bool = False, path: Path | None = None
    ) -> None:
        """``mapped``: map the saved file instead of reading it, for searchers, which never write. It opens in
        milliseconds at any size (reading a 1M-vector index takes about 0.8 s and 1.6 GB per process) and
        processes share its pages. The writer replaces the file by renaming, so a mapped copy stays valid.
        ``path``: another file than the layout's (a rebuild writes beside the live file, then renames)."""
        faiss = _faiss()
        self.path = path or self.where(IndexLayout(index_dir))
        self.dim = dim
        self.cfg = cfg or IndexConfig()
        self.mapped = mapped and self.path.exists()
        self._changed = False  # since the last save or open: save() rewrites the file only then
        if self.path.exists():
            try:
                self.index = faiss.read_index(str(self.path), faiss.IO_FLAG_MMAP_IFC if mapped else 0)
            except RuntimeError as exc:  # FAISS's own message is a C++ trace; keep its last clause
                raise IndexDamaged(self.path, str(exc).split("Error: ")[-1].strip()) from None
            if self.index.d != dim:
                raise ValueError(
                    f"{self.path} holds {self.index.d}-d vectors but the embedder makes {dim}-d ones; "
                    "run `vidseek index rebuild` after changing embed.model"
                )
        else:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._ivf = self.index if self.is_ivf else None  # read_index returns the IVF subclass itself
        pq = re.fullmatch(r"PQ(\d+)", self.cfg.codec)
        if pq and dim % int(pq[1]):
            raise ValueError(
                f"index.codec {self.cfg.codec} needs a dimension divisible by {pq[1]}; the embedder's is {dim}"
            )
        if self._ivf is not None:
            self._ivf.nprobe = self.cfg.nprobe

    @property
    def is_ivf(self) -> bool:
        return "IVF" in type(self.index).__name__

    @property
    def codec(self) -> str:
        """What an IVF list holds per vector: Flat, SQ8/SQ4 or PQ{m}."""
        faiss = _faiss()
        if isinstance(self._ivf, faiss.IndexIVFPQ):
            return f"PQ{self._ivf.pq.M}"
        if isinstance(self._ivf, faiss.IndexIVFScalarQuantizer):
            return f"SQ{self._ivf.sq.bits}"
        return "Flat"

    @property
    def kind(self) -> str:
        if self._ivf is None:
            return "Flat (exact)"
        return f"IVF{self._ivf.nlist},{self.codec} (nprobe {self._ivf.nprobe})"

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        if self._ivf is None:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self._ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def has(self, segment_id: int) -> bool:
        try:
            self.index.reconstruct(int(segment_id))
            return True
        except RuntimeError:
            return False

    def _writable(self) -> None:
        if self.mapped:
            raise RuntimeError(f"{self.path} was opened mapped, for searching only")

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._writable()
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        self.remove(ids)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._changed = True
        if self.cfg.type != "auto":
            return
        if self._ivf is None and self.size > self.cfg.flat_max:
            self.to_ivf("Flat" if self.size <= self.cfg.compress_min else self.cfg.codec)
        elif self._ivf is not None and self.size > self.cfg.compress_min and self.codec != self.cfg.codec:
            self.to_ivf(self.cfg.codec)

    def remove(self, ids) -> None:
        self._writable()
        faiss = _faiss()
        ids = np.ascontiguousarray(list(ids), dtype=np.int64)
        if len(ids):  # an array selector: IVF's hash-table direct map accepts no other
            self._changed |= bool(self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))

    def to_ivf(self, codec: str = "Flat") -> None:
        """Re-index as IVF{nlist},{codec}: train on a sample of the current vectors, then move them all, a batch
        at a time (from an IVF index with a lossy codec they move as its reconstructions)."""
        faiss = _faiss()
        nlist = self.cfg.nlist or max(16, int(2 * math.sqrt(self.size)))
        ivf = faiss.index_factory(self.dim, f"IVF{nlist},{codec}", faiss.METRIC_INNER_PRODUCT)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.nprobe = self.cfg.nprobe
        self._move_into(ivf, sample_size=64 * nlist)
        self._ivf = ivf

    def _move_into(self, target, sample_size: int) -> None:
        """Train the empty index ``target`` on a sample of this one's vectors, move them all into it a batch at a
        time, and make it this index."""
        ids = self.ids()
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(ids), size=min(len(ids), sample_size), replace=False))
        target.train(self.index.reconstruct_batch(ids[sample]))
        for start in range(0, len(ids), _MOVE_BATCH):
            batch = ids[start : start + _MOVE_BATCH]
            target.add_with_ids(self.index.reconstruct_batch(batch), batch)
        self.index = target
        log.info("switched %s to %s at %d vectors", self.path, type(target).__name__, len(ids))

    def search(self, query: np.ndarray, k: int, only_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) for one (dim,) query, best first. ``only_ids`` restricts the search to those ids:
        exactly, by scoring their stored vectors when there are few (a video's segments), else through a FAISS
        ID selector."""
        if only_ids is not None and len(only_ids) <= EXACT_SUBSET_MAX:
            ids = np.asarray(only_ids, dtype=np.int64)
            scores = self.index.reconstruct_batch(ids) @ np.asarray(query, dtype=np.float32).ravel()
            order = np.argsort(-scores)[:k]
            return scores[order], ids[order]
        scores, ids = self.search_many(query.reshape(1, -1), k, only_ids)
        return scores[0][ids[0] >= 0], ids[0][ids[0] >= 0]

    def search_many(self, queries: np.ndarray, k: int, only_ids=None) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        k = max(1, min(k, self.size if only_ids is None else len(only_ids)))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        selector = None if only_ids is None else faiss.IDSelectorBatch(np.asarray(only_ids, dtype=np.int64))
        if self._ivf is not None:
            # a filtered search scans every list: the selector may keep few vectors, all in unprobed lists
            nprobe = self._ivf.nlist if selector is not None else self._ivf.nprobe
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        else:
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        return self.index.search(q, k, params=params) if params else self.index.search(q, k)

    def save(self) -> None:
        """Write the index if it changed (a writer that only opened and closed leaves the file, and readers'
        reload stamps, alone)."""
        if not self._changed and self.path.exists():
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        _faiss().write_index(self.index, str(tmp))
        os.replace(tmp, self.path)
        self._changed = False

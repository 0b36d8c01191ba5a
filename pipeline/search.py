"""Search: a question in words -> the moments (video, start_s, end_s) whose captions or events match it."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import EmbedConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.vectors import VectorIndex
from pipeline.types import Hit


class Searcher:
    def __init__(self, index_dir: str | Path, embedder: Embedder | None = None) -> None:
        self.dir = Path(index_dir)
        if not (self.dir / Catalog.FILE).exists():
            raise FileNotFoundError(
                f"{self.dir} is not a vidseek index (no {Catalog.FILE}); run `vidseek ingest` first"
            )
        self.catalog = Catalog(self.dir)
        if embedder is None:
            from pipeline.embed import make_embedder

            embedder = make_embedder(EmbedConfig(model=self.catalog.get_meta("embedder") or EmbedConfig().model))
        self.embedder = embedder
        self.vectors = VectorIndex(self.dir, embedder.dim)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        if self.vectors.size == 0:
            return []
        scores, ids = self.vectors.search(self.embedder.embed([query])[0], k)
        rows = self.catalog.segments(int(i) for i in ids if i >= 0)
        hits = []
        for score, sid in zip(scores, ids, strict=True):
            row = rows.get(int(sid))
            if row is not None:
                hits.append(
                    Hit(
                        row["video_path"],
                        row["start_s"],
                        row["end_s"],
                        float(score),
                        row["text"],
                        row["kind"],
                        row["label"],
                    )
                )
        return hits

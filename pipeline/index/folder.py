"""An index folder as one object: whether a folder holds an index, the settings it recorded, a reader, the writer.

Index.open(dir)                 NotAnIndex (naming the folder and the remedy) when it holds none
index.files                     where each of its files is (pipeline.index.layout)
index.settings(given)           what it recorded (pipeline.index.settings); SettingsConflict against ``given``
index.writer(embedder, ...)     the single writer, holding the lease

A reader is the searcher's business (``pipeline.search.Searcher.open``): the index does not know who reads it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import IndexConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.layout import IndexLayout, NotAnIndex


class Index:
    def __init__(self, folder: str | Path) -> None:
        self.dir = Path(folder)
        self.files = IndexLayout(self.dir)

    @classmethod
    def open(cls, folder: str | Path) -> Index:
        """An existing index (a catalog, or records a rebuild can restore one from)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise NotAnIndex(folder, "not a folder" if folder.exists() else "no such folder")
        index = cls(folder)
        if not index.exists and not index.files.records.is_dir():
            raise NotAnIndex(folder)
        return index

    @property
    def exists(self) -> bool:
        """Whether the folder holds a catalog (an index that may be searched)."""
        return self.files.catalog.is_file()

    def saved_at(self) -> tuple[int | None, ...]:
        """When the writer last saved what a searcher maps (vector files are replaced whole, the catalog is
        WAL): a long-lived searcher is reopened when this changes."""
        files = (self.files.vectors, self.files.context, self.files.frame_vectors)
        return tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)

    def settings(self, given: IndexConfig | None = None) -> IndexConfig:
        """The recorded settings (``given``'s for an index that recorded none); SettingsConflict where ``given``
        explicitly sets a recorded value to another."""
        from pipeline.index.settings import index_settings

        catalog = Catalog(self.dir)
        try:
            return index_settings(self.dir, catalog, given)
        finally:
            catalog.close()

    def check_frame_model(self, model: str) -> None:
        """SettingsConflict where the frame index was built with another image-text model."""
        from pipeline.index.frames import META_EMBEDDER, check_frame_model

        catalog = Catalog(self.dir)
        try:
            check_frame_model(self.dir, catalog.get_meta(META_EMBEDDER), model)
        finally:
            catalog.close()

    def writer(self, embedder: Embedder, given: IndexConfig | None = None, lock=None, wait_s: float = 0.0):
        """The writer (``given``: a new index's settings; an existing one keeps its own). ``lock``: a lease the
        caller already holds, else one is taken, waiting up to ``wait_s``."""
        from pipeline.index.writer import IndexWriter

        return IndexWriter(self.dir, embedder, index_cfg=given, lock_wait_s=wait_s, lock=lock)

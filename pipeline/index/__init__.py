"""Index: durable Parquet records -> SQLite catalog + FAISS vectors (+ context vectors), written by one IndexWriter.

Index.open(dir)                                       the folder: its recorded settings, a searcher, the writer
IndexWriter(dir, embedder).write(ChunkDescription)   Parquet, then catalog, then FAISS
rebuild_index(dir, embedder)                          catalog + FAISS from the Parquet records
writer.write_frames(rows, model)                      the frame index (pipeline.index.frames), the same way
"""

from pipeline.index.catalog import Catalog
from pipeline.index.folder import Index
from pipeline.index.layout import NotAnIndex
from pipeline.index.records import RecordStore
from pipeline.index.vectors import VectorIndex
from pipeline.index.writer import IndexWriter, rebuild_index

__all__ = ["Catalog", "Index", "IndexWriter", "NotAnIndex", "RecordStore", "VectorIndex", "rebuild_index"]

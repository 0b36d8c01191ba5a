"""Writer, search, crash repair and rebuild on a small index with known answers."""

from __future__ import annotations

import numpy as np

from pipeline.index import Catalog, IndexWriter, VectorIndex, rebuild_index
from pipeline.search import Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event

TEXTS = {
    (0.0, 60.0): ("A red truck arrives at the warehouse gate.", [Event(12.0, 20.0, "truck", "a red truck stops")]),
    (60.0, 120.0): ("A woman flips a pancake in a kitchen.", []),
    (120.0, 180.0): ("Cyclists ride down a busy street.", [Event(130.0, 140.0, "bikes", "two cyclists pass")]),
}


def describe_all(video_id="vid1", path="/videos/a.mp4"):
    return [
        ChunkDescription(ChunkSpan(video_id, path, s, e), caption, events, model="test")
        for (s, e), (caption, events) in TEXTS.items()
    ]


def fill(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("vid1", "/videos/a.mp4", 1, 180.0, "test", {})
    for d in describe_all():
        writer.write(d)
    writer.finish_video("vid1", "complete", num_chunks=3)
    return writer


def test_search_finds_the_right_moment(tmp_path, embedder):
    fill(tmp_path, embedder).close()
    hits = Searcher(tmp_path, embedder).search("when does the red truck arrive?", k=3)
    assert hits[0].video == "/videos/a.mp4" and (hits[0].start_s, hits[0].end_s) in [(0.0, 60.0), (12.0, 20.0)]
    hits = Searcher(tmp_path, embedder).search("cooking breakfast", k=1)
    assert (hits[0].start_s, hits[0].end_s, hits[0].kind) == (60.0, 120.0, "caption")


def test_rewriting_a_chunk_does_not_duplicate(tmp_path, embedder):
    writer = fill(tmp_path, embedder)
    for d in describe_all():
        writer.write(d)
    assert writer.vectors.size == 5 and writer.catalog.count_segments() == 5
    writer.close()


def test_reconcile_restores_vectors_lost_in_a_crash(tmp_path, embedder):
    fill(tmp_path, embedder).close()
    (tmp_path / VectorIndex.FILE).unlink()  # as if killed before FAISS was saved
    writer = IndexWriter(tmp_path, embedder)
    assert writer.vectors.size == 5
    writer.close()


def test_reconcile_restores_catalog_rows_from_records(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("vid1", "/videos/a.mp4", 1, 180.0, "test", {})
    writer.write(describe_all()[0])  # parquet part written; pretend the catalog commit was lost
    with writer.catalog.db:
        writer.catalog.db.execute("DELETE FROM segments")
    writer.close()
    writer = IndexWriter(tmp_path, embedder)
    assert writer.catalog.count_segments() == 2 and writer.vectors.size == 2
    assert writer.done_chunk_ids("vid1") == {describe_all()[0].span.chunk_id}
    writer.close()


def test_rebuild_from_records_gives_same_results(tmp_path, embedder):
    fill(tmp_path, embedder).close()
    before = [(h.start_s, h.text) for h in Searcher(tmp_path, embedder).search("bicycles", k=5)]
    (tmp_path / Catalog.FILE).unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / (Catalog.FILE + extra)).unlink(missing_ok=True)
    (tmp_path / VectorIndex.FILE).unlink()
    assert rebuild_index(tmp_path, embedder) == 5
    after = [(h.start_s, h.text) for h in Searcher(tmp_path, embedder).search("bicycles", k=5)]
    assert before == after


def test_remove_video_drops_vectors_records_and_rows(tmp_path, embedder):
    writer = fill(tmp_path, embedder)
    assert writer.remove_video("vid1") == 5
    assert writer.vectors.size == 0 and writer.catalog.count_segments() == 0
    assert writer.records.video_ids() == []
    writer.close()


def test_segment_ids_are_deterministic_positive_int64(tmp_path, embedder):
    from pipeline.types import segments_from

    a = [s.segment_id for d in describe_all() for s in segments_from(d)]
    b = [s.segment_id for d in describe_all() for s in segments_from(d)]
    assert a == b and len(set(a)) == len(a) and all(0 < i < 2**63 for i in a)
    assert np.array(a, dtype=np.int64).tolist() == a

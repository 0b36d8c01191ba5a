"""Writer, search, crash repair and rebuild on a small index with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.index import Catalog, IndexWriter, VectorIndex, rebuild_index
from pipeline.index.layout import IndexLayout
from pipeline.search import Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event, SegmentRecord

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
    assert hits[0].video_id == "vid1"  # the API and page address videos by id, without mapping paths back
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
    IndexLayout(tmp_path).vectors.unlink()  # as if killed before FAISS was saved
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
    IndexLayout(tmp_path).catalog.unlink()
    for extra in ("-wal", "-shm"):
        IndexLayout(tmp_path).catalog.with_suffix(".sqlite" + extra).unlink(missing_ok=True)
    IndexLayout(tmp_path).vectors.unlink()
    assert rebuild_index(tmp_path, embedder).segments == 5
    after = [(h.start_s, h.text) for h in Searcher(tmp_path, embedder).search("bicycles", k=5)]
    assert before == after


def test_a_damaged_catalog_is_named_then_set_aside_and_rebuilt_from_the_records(tmp_path, embedder):
    import pytest

    from pipeline.index.damage import IndexDamaged

    fill(tmp_path, embedder).close()
    catalog_file = IndexLayout(tmp_path).catalog
    for part in tmp_path.glob(IndexLayout(tmp_path).catalog.name + "-*"):
        part.unlink()  # the WAL was checkpointed on close
    with open(catalog_file, "r+b") as f:
        f.write(b"not sqlite" * 50)
    with pytest.raises(IndexDamaged, match=f"{catalog_file} cannot be read.*vidseek index rebuild --index {tmp_path}"):
        Catalog(tmp_path)
    rebuilt = rebuild_index(tmp_path, embedder)
    assert (rebuilt.segments, rebuilt.videos_restored) == (5, 1)
    assert rebuilt.damaged_catalog.name.startswith("catalog.sqlite.damaged-") and rebuilt.damaged_catalog.exists()
    row = Catalog(tmp_path).video("vid1")  # as the writer left it, from the row kept beside the records
    assert (row.path, row.status, row.num_chunks, row.model) == ("/videos/a.mp4", "complete", 3, "test")
    assert (row.duration_s, row.size_bytes, row.config) == (180.0, 1, "{}")
    hits = Searcher(tmp_path, embedder).search("when does the red truck arrive?", k=1)
    assert hits[0].video == "/videos/a.mp4"


def test_rebuild_restores_failed_and_interrupted_videos_as_they_were(tmp_path, embedder):
    """A failed file keeps its reason (even one with nothing indexed), an interrupted one stays to be finished,
    and records written before rows were kept beside them still give a row."""
    writer = fill(tmp_path, embedder)
    writer.begin_video("broken", "/videos/broken.mp4", 9, 60.0, "test", {})
    writer.finish_video("broken", "failed", reason="no frame could be decoded")
    writer.begin_video("cut", "/videos/cut.mp4", 5, 120.0, "test", {})
    writer.write(ChunkDescription(ChunkSpan("cut", "/videos/cut.mp4", 0.0, 60.0), "A dog runs.", model="test"))
    writer.close()  # "cut" is left ingesting, as by a run that was stopped
    (tmp_path / "records" / "vid1.json").unlink()  # as an index written before the rows were kept
    for part in tmp_path.glob(IndexLayout(tmp_path).catalog.name + "*"):
        part.unlink()
    assert rebuild_index(tmp_path, embedder).videos_restored == 3
    catalog = Catalog(tmp_path)
    broken, cut, vid1 = (catalog.video(v) for v in ("broken", "cut", "vid1"))
    assert (broken.status, broken.reason, broken.duration_s) == ("failed", "no frame could be decoded", 60.0)
    assert (cut.status, cut.num_chunks, cut.duration_s) == ("ingesting", 1, 120.0)
    assert (vid1.status, vid1.num_chunks, vid1.duration_s) == ("ingesting", 3, 180.0)


def two_videos(tmp_path, embedder):
    """vid1 (three chunks, compacted) and vid2 (one chunk), both complete."""
    writer = fill(tmp_path, embedder)
    writer.begin_video("vid2", "/videos/b.mp4", 1, 60.0, "test", {})
    writer.write(ChunkDescription(ChunkSpan("vid2", "/videos/b.mp4", 0, 60), "A dog runs on a beach.", model="test"))
    writer.finish_video("vid2", "complete", num_chunks=1)
    writer.close()


def test_rebuild_sets_an_unreadable_record_aside_and_restores_everything_else(tmp_path, embedder):
    import os

    from pipeline.index.damage import IndexDamaged

    two_videos(tmp_path, embedder)
    record = tmp_path / "records" / "vid1.parquet"
    os.truncate(record, record.stat().st_size // 2)
    with pytest.raises(IndexDamaged, match=f"{record} cannot be read.*rebuild --index {tmp_path}` moves it aside"):
        IndexWriter(tmp_path, embedder)  # an ingest stops on it, naming the file and the remedy
    rebuilt = rebuild_index(tmp_path, embedder)
    assert rebuilt.segments == 1
    [(bad, moved)] = rebuilt.set_aside
    assert bad.path == record and "ArrowInvalid" in bad.reason
    assert moved.parent == tmp_path / "damaged" / "records" and moved.exists() and not record.exists()
    assert list(rebuilt.videos_failed) == ["/videos/a.mp4"] and str(moved) in rebuilt.videos_failed["/videos/a.mp4"]
    catalog = Catalog(tmp_path)
    vid1, vid2 = catalog.video("vid1"), catalog.video("vid2")
    assert (vid1.status, vid1.num_chunks) == ("failed", 0) and "vid1.parquet unreadable" in vid1.reason
    assert vid2.status == "complete" and catalog.count_segments() == 1
    hits = Searcher(tmp_path, embedder).search("a dog on the beach", k=3)
    assert [h.video for h in hits] == ["/videos/b.mp4"]
    writer = IndexWriter(tmp_path, embedder)  # ingests work again; vid1's chunks are to be described anew
    assert writer.done_chunk_ids("vid1") == set()
    writer.close()


def test_a_rebuild_that_fails_midway_leaves_the_index_as_it_was(tmp_path, embedder, monkeypatch):
    two_videos(tmp_path, embedder)
    faiss_before = IndexLayout(tmp_path).vectors.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VectorIndex, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        rebuild_index(tmp_path, embedder)
    monkeypatch.undo()
    assert IndexLayout(tmp_path).vectors.read_bytes() == faiss_before
    assert Catalog(tmp_path).count_segments() == 6
    assert Searcher(tmp_path, embedder).search("a red truck", k=1)[0].video == "/videos/a.mp4"
    assert rebuild_index(tmp_path, embedder).segments == 6  # and a later rebuild completes


def test_rebuild_marks_a_finished_video_whose_records_lost_chunks_failed(tmp_path, embedder):
    """A record moved away by hand: the video must not stay complete (a re-ingest would skip it)."""
    two_videos(tmp_path, embedder)
    (tmp_path / "records" / "vid1.parquet").rename(tmp_path / "elsewhere.parquet")
    rebuilt = rebuild_index(tmp_path, embedder)
    why = "records hold 0 of 3 chunks: ingest the file again to describe the rest"
    assert rebuilt.videos_failed == {"/videos/a.mp4": why}
    assert Catalog(tmp_path).video("vid1").status == "failed"


def test_a_damaged_kept_video_row_is_set_aside_and_the_row_made_from_the_records(tmp_path, embedder):
    two_videos(tmp_path, embedder)
    (tmp_path / "records" / "vid2.json").write_bytes(b"\xff\xfe not json")
    rebuilt = rebuild_index(tmp_path, embedder)
    assert [bad.path.name for bad, _ in rebuilt.set_aside] == ["vid2.json"] and rebuilt.segments == 6
    assert Catalog(tmp_path).video("vid2").status == "failed"  # its row could not be trusted: described again


def record(segment_id: int, chunk_id: str, text: str, vector: list[float], video_id: str = "v1") -> SegmentRecord:
    """A record row of one caption, as the writer makes them."""
    return SegmentRecord(segment_id, chunk_id, video_id, f"/{video_id}.mp4", 0.0, 1.0, "caption", text, vector=vector)


def test_setting_aside_a_compacted_file_renumbers_the_later_ones(tmp_path):
    from pipeline.index import RecordStore

    store = RecordStore(tmp_path)
    for n, name in enumerate(["v1.parquet", "v1.1.parquet", "v1.2.parquet"]):
        store.write_chunk("v1", f"c{n}", [record(n, f"c{n}", "t", [0.0])])
        (tmp_path / "records" / "v1" / f"c{n}.parquet").rename(tmp_path / "records" / name)
    store.set_aside(tmp_path / "records" / "v1.1.parquet")
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == ["v1", "v1.1.parquet", "v1.parquet"]
    assert store.segment_ids("v1") == {0, 2}


def test_a_writer_that_changed_nothing_leaves_the_faiss_file_alone(tmp_path, embedder):
    """Readers reload when the file changes; an open and close (a `remove` of nothing) must not rewrite it."""
    fill(tmp_path, embedder).close()
    stamp = IndexLayout(tmp_path).vectors.stat().st_mtime_ns
    IndexWriter(tmp_path, embedder).close()
    assert IndexLayout(tmp_path).vectors.stat().st_mtime_ns == stamp
    writer = IndexWriter(tmp_path, embedder)
    writer.remove_video("vid1")
    writer.close()
    assert IndexLayout(tmp_path).vectors.stat().st_mtime_ns != stamp
    assert VectorIndex(tmp_path, embedder.dim).size == 0


def test_remove_video_drops_vectors_records_and_rows(tmp_path, embedder):
    writer = fill(tmp_path, embedder)
    assert writer.remove_video("vid1") == 5
    assert writer.vectors.size == 0 and writer.catalog.count_segments() == 0
    assert writer.records.video_ids() == []
    writer.close()


def test_compacted_records_continue_in_a_new_file_once_one_is_full(tmp_path, monkeypatch):
    """A live source is compacted every few hours for months: a full file is left alone, not rewritten."""
    from pipeline.index import RecordStore, records

    store = RecordStore(tmp_path)

    def row(segment_id, text):
        return record(segment_id, f"c{segment_id}", text, [0.0, 1.0])

    store.write_chunk("v1", "c1", [row(1, "first")])
    store.compact("v1")
    first = tmp_path / "records" / "v1.parquet"
    monkeypatch.setattr(records, "VOLUME_BYTES", first.stat().st_size)
    written = first.stat().st_mtime_ns
    store.write_chunk("v1", "c2", [row(2, "second")])
    store.write_chunk("v1", "c1", [row(1, "first, again")])  # a chunk written again after it was compacted
    store.compact("v1")
    assert first.stat().st_mtime_ns == written and (tmp_path / "records" / "v1.1.parquet").exists()
    assert store.video_ids() == ["v1"] and store.segment_ids("v1") == {1, 2}
    assert sorted(r.text for r in store.rows("v1")) == ["first, again", "second"]  # the newest row of each
    store.write_chunk("v1", "c3", [row(3, "third")])
    store.compact("v1")
    assert (tmp_path / "records" / "v1.2.parquet").exists() and store.segment_ids("v1") == {1, 2, 3}
    store.remove_video("v1")
    assert store.video_ids() == [] and not list((tmp_path / "records").iterdir())


def test_local_paths_are_stored_absolute_and_found_by_any_name(tmp_path, monkeypatch):
    """A catalog written from one folder must still point at the files when served from another."""
    from pipeline.media import discover

    (tmp_path / "cams").mkdir()
    (tmp_path / "cams" / "a.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    found = discover(["cams", "./cams/a.mp4", "missing.mp4", (tmp_path / "cams" / "a.mp4").as_uri()]).files
    assert found == [str(tmp_path / "cams" / "a.mp4"), str(tmp_path / "missing.mp4")]
    (tmp_path / "idx").mkdir()
    catalog = Catalog(tmp_path / "idx")
    catalog.set_video("vid1", path=found[0])
    for key in (found[0], "cams/a.mp4", "a.mp4", "vid1"):
        assert catalog.find_video(key).video_id == "vid1", key
    assert catalog.find_video("cams/b.mp4") is None


def test_segment_ids_are_deterministic_positive_int64(tmp_path, embedder):
    from pipeline.types import segments_from

    a = [s.segment_id for d in describe_all() for s in segments_from(d)]
    b = [s.segment_id for d in describe_all() for s in segments_from(d)]
    assert a == b and len(set(a)) == len(a) and all(0 < i < 2**63 for i in a)
    assert np.array(a, dtype=np.int64).tolist() == a


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around cluster centres: like sentence embeddings, not uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_index_switches_to_ivf_past_flat_max_and_keeps_ids(tmp_path):
    from pipeline.config import IndexConfig

    x = clustered(3000)
    ids = np.arange(1, 3001, dtype=np.int64) * 7919
    vectors = VectorIndex(tmp_path, 64, IndexConfig(flat_max=1000, nprobe=16))
    vectors.upsert(ids[:1000], x[:1000])
    assert vectors.kind == "Flat (exact)"
    vectors.upsert(ids[1000:2000], x[1000:2000])  # crossing flat_max: trained once, then appended to
    assert vectors.kind.startswith("IVF") and vectors.size == 2000
    vectors.upsert(ids[2000:], x[2000:])
    vectors.remove(ids[:100])
    vectors.upsert(ids[100:200], x[100:200])  # re-writing the same ids does not duplicate
    assert vectors.size == 2900 and set(vectors.ids().tolist()) == set(ids[100:].tolist())
    vectors.save()
    assert VectorIndex(tmp_path, 64).kind.startswith("IVF")


def test_approximate_recall_at_10_against_exact(tmp_path):
    import faiss

    from pipeline.config import IndexConfig

    x = clustered(5000, seed=1)
    queries = clustered(200, seed=2)
    ids = np.arange(5000, dtype=np.int64) + 1
    exact = faiss.IndexFlatIP(64)
    exact.add(x)
    _, truth = exact.search(queries, 10)
    vectors = VectorIndex(tmp_path, 64, IndexConfig(flat_max=1000, nprobe=16))
    vectors.upsert(ids, x)
    assert vectors.kind.startswith("IVF")
    _, found = vectors.search_many(queries, 10)
    recall = np.mean([len(set(t + 1) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9, recall


def test_index_compresses_past_compress_min_and_keeps_ids_and_recall(tmp_path):
    import faiss

    from pipeline.config import IndexConfig

    x = clustered(6000, seed=4)
    queries = clustered(200, seed=5)
    ids = np.arange(1, 6001, dtype=np.int64) * 31
    vectors = VectorIndex(tmp_path, 64, IndexConfig(flat_max=1000, compress_min=3000, codec="SQ8", nprobe=16))
    kinds = []
    for start in range(0, 6000, 1000):
        vectors.upsert(ids[start : start + 1000], x[start : start + 1000])
        kinds.append(vectors.kind.split(" ")[0])
    assert kinds == ["Flat"] + ["IVF89,Flat"] * 2 + ["IVF126,SQ8"] * 3  # re-encoded once, then appended to
    vectors.remove(ids[:100])
    assert set(vectors.ids().tolist()) == set(ids[100:].tolist())
    vectors.save()
    reopened = VectorIndex(tmp_path, 64)
    assert reopened.codec == "SQ8" and reopened.size == 5900
    exact = faiss.IndexFlatIP(64)
    exact.add(x[100:])
    _, truth = exact.search(queries, 10)
    _, found = reopened.search_many(queries, 10)
    recall = np.mean([len(set(ids[t + 100]) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9, recall


@pytest.mark.parametrize("codec", ["Flat (exact)", "IVF,Flat", "IVF,SQ8", "IVF,PQ16", "context SQ8"])
def test_a_mapped_index_searches_like_a_read_one_and_outlives_the_writers_save(tmp_path, codec):
    """Searchers map the saved file instead of reading it; the writer keeps replacing it by renaming."""
    from pipeline.config import IndexConfig
    from pipeline.index.context import ContextVectors

    x, queries = clustered(3000, seed=6), clustered(50, seed=7)
    ids = np.arange(1, 3001, dtype=np.int64) * 13
    cfg = {
        "Flat (exact)": IndexConfig(),
        "IVF,Flat": IndexConfig(flat_max=1000, nprobe=8),
        "IVF,SQ8": IndexConfig(flat_max=1000, compress_min=1000, codec="SQ8", nprobe=8),
        "IVF,PQ16": IndexConfig(flat_max=1000, compress_min=1000, codec="PQ16", nprobe=8),
        "context SQ8": IndexConfig(compress_min=1000),
    }[codec]
    kind = ContextVectors if codec.startswith("context") else VectorIndex
    writer = kind(tmp_path, 64, cfg)
    writer.upsert(ids, x)
    writer.save()
    read, mapped = kind(tmp_path, 64, cfg), kind(tmp_path, 64, cfg, mapped=True)
    assert mapped.kind == read.kind and mapped.size == read.size == 3000
    assert mapped.compressed if kind is ContextVectors else codec.split(" ")[0].split(",")[-1] in mapped.kind
    assert np.array_equal(read.index.reconstruct_batch(ids[:20]), mapped.index.reconstruct_batch(ids[:20]))
    if kind is VectorIndex:
        (read_scores, read_ids), (mapped_scores, mapped_ids) = (
            read.search_many(queries, 10),
            mapped.search_many(queries, 10),
        )
        assert np.array_equal(read_ids, mapped_ids) and np.array_equal(read_scores, mapped_scores)
    writer.remove(ids[:1000])
    writer.save()  # a new file renamed over the mapped one
    assert mapped.size == 3000 and np.isfinite(mapped.index.reconstruct_batch(ids[:5])).all()
    assert kind(tmp_path, 64, cfg, mapped=True).size == 2000
    with pytest.raises(RuntimeError, match="mapped, for searching only"):
        mapped.upsert(ids[:1], x[:1])


def test_a_pq_codec_that_does_not_divide_the_dimension_is_refused_before_any_write(tmp_path):
    import pytest

    from pipeline.config import IndexConfig

    with pytest.raises(ValueError, match="PQ7.*divisible by 7.*64"):
        VectorIndex(tmp_path, 64, IndexConfig(codec="PQ7"))
    assert VectorIndex(tmp_path, 64, IndexConfig(codec="PQ16")).size == 0


def test_filtered_search_is_exact_on_ivf(tmp_path):
    from pipeline.config import IndexConfig

    x = clustered(3000, seed=3)
    ids = np.arange(3000, dtype=np.int64) + 1
    vectors = VectorIndex(tmp_path, 64, IndexConfig(flat_max=1000, nprobe=1))
    vectors.upsert(ids, x)
    subset = ids[1234:1300]
    scores, found = vectors.search(x[1250], 5, subset)
    assert found[0] == ids[1250] and set(found) <= set(subset)
    assert np.all(np.diff(scores) <= 1e-6)


def test_a_catalog_made_before_the_audit_trail_gains_its_columns_on_open(tmp_path):
    """Indexes from before change-aware sampling: their segments table lacks the audit columns; opening adds them
    (zeros until a rebuild reads the records), and status can sum them."""
    import sqlite3

    from pipeline.index import Catalog
    from pipeline.index.catalog import AUDIT_COLUMNS

    old = sqlite3.connect(tmp_path / "catalog.sqlite")
    old.execute(
        "CREATE TABLE segments (segment_id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, video_id TEXT NOT NULL, "
        "video_path TEXT NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, kind TEXT NOT NULL, "
        "text TEXT NOT NULL, label TEXT DEFAULT '', model TEXT DEFAULT '')"
    )
    old.execute("INSERT INTO segments VALUES (1, 'c', 'v', '/v.mp4', 0, 60, 'caption', 'a room', '', 'm')")
    old.commit()
    old.close()
    catalog = Catalog(tmp_path)
    columns = {r[1] for r in catalog.db.execute("PRAGMA table_info(segments)")}
    assert set(AUDIT_COLUMNS) <= columns
    (costs,) = catalog.costs().values()
    assert (costs.model_calls, costs.carried, costs.frames_sent, costs.input_tokens) == (1, 0, 0, 0)
    assert catalog.caption_source("c") is None  # its caption's id is not the derived one: nothing to carry
    catalog.close()


def test_a_half_written_record_left_by_a_killed_writer_does_not_stop_the_merge(tmp_path, embedder):
    """kill -9 in the middle of writing a chunk's record leaves its temporary file beside the parts; the next run
    re-describes that chunk and merges the parts when the video ends: the stale file must not stop it (it did:
    "Directory not empty", exit 2, found by the kill test in a still stretch)."""
    from pipeline.index import IndexWriter
    from pipeline.types import ChunkDescription, ChunkSpan

    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("v", "/v.mp4", 1, 10.0, "m", {})
    span = ChunkSpan("v", "/v.mp4", 0.0, 10.0)
    writer.write(ChunkDescription(span, "a loading dock", model="m"))
    folder = tmp_path / "records" / "v"
    (folder / f".{span.chunk_id}.parquet.99999.tmp").write_bytes(b"PAR1 half a file")  # the dead writer's
    writer.finish_video("v", "complete", num_chunks=1)
    assert not folder.exists() and writer.records.chunk_ids("v") == {span.chunk_id}
    writer.close()

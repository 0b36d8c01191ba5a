"""Context vectors: each segment's neighbouring captions, embedded, kept current as chunks arrive and go, and
used to rank searches over the whole index."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import IndexConfig
from pipeline.index import Catalog, IndexWriter
from pipeline.index.context import ContextVectors
from pipeline.index.layout import IndexLayout
from pipeline.search import Searcher
from pipeline.types import ChunkDescription, ChunkSpan

CAPTIONS = [
    "A man stands at the edge of a frozen lake.",
    "He drills a hole through the ice.",
    "He lowers a fishing line into the hole.",
    "A fish is pulled out of the water.",
]


def chunk(video: str, i: int, text: str, chunk_s: float = 60.0) -> ChunkDescription:
    return ChunkDescription(ChunkSpan(video, f"{video}.mp4", i * chunk_s, (i + 1) * chunk_s), text, model="test")


def context_of(index_dir, embedder) -> dict[int, np.ndarray]:
    context = ContextVectors(index_dir, embedder.dim)
    return context.lookup(context.ids().tolist())


def segment_id(index_dir, video: str, start_s: float) -> int:
    ids = Catalog(index_dir).select_ids(video, after_s=start_s, before_s=start_s + 1)
    assert len(ids) == 1
    return ids[0]


def test_a_context_holds_its_nearest_segments_own_first(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=2))
    writer.begin_video("lake", "lake.mp4", 1, 240.0, "test", {})
    writer.write_batch([chunk("lake", i, text) for i, text in enumerate(CAPTIONS)])
    writer.finish_video("lake", "complete", num_chunks=4)
    writer.close()
    vectors = context_of(tmp_path, embedder)
    assert len(vectors) == 4
    # 120-180 s: its own caption first, then its two nearest: 60-120 and 180-240 (equally near: earlier first)
    expected = embedder.embed([" ".join([CAPTIONS[2], CAPTIONS[1], CAPTIONS[3]])])[0]
    assert np.allclose(vectors[segment_id(tmp_path, "lake", 120)], expected, atol=1e-5)
    expected = embedder.embed([" ".join([CAPTIONS[0], CAPTIONS[1], CAPTIONS[2]])])[0]  # 0-60 s: the next two
    assert np.allclose(vectors[segment_id(tmp_path, "lake", 0)], expected, atol=1e-5)


def test_a_new_neighbour_updates_the_context_of_those_already_saved(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=1))
    writer.begin_video("lake", "lake.mp4", 1, 240.0, "test", {})
    writer.write(chunk("lake", 0, CAPTIONS[0]))
    writer.save()
    first = segment_id(tmp_path, "lake", 0)
    assert np.allclose(context_of(tmp_path, embedder)[first], embedder.embed([CAPTIONS[0]])[0], atol=1e-5)
    writer.write(chunk("lake", 1, CAPTIONS[1]))
    writer.write(chunk("lake", 3, CAPTIONS[3]))  # 180-240 s: farther than 60-120 s, so not the nearest
    writer.close()
    vectors = context_of(tmp_path, embedder)
    assert np.allclose(vectors[first], embedder.embed([f"{CAPTIONS[0]} {CAPTIONS[1]}"])[0], atol=1e-5)
    assert Catalog(tmp_path).context_stale() == []


def test_removal_and_crash_repair_keep_contexts_in_step_with_the_catalog(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder)
    for video in ("lake", "other"):
        writer.begin_video(video, f"{video}.mp4", 1, 240.0, "test", {})
        writer.write_batch([chunk(video, i, text) for i, text in enumerate(CAPTIONS)])
        writer.finish_video(video, "complete", num_chunks=4)
    writer.remove_video("other")
    writer.close()
    assert set(context_of(tmp_path, embedder)) == Catalog(tmp_path).segment_ids()
    IndexLayout(tmp_path).context.unlink()  # lost (a crash, a partial copy): recomputed on the next open
    IndexWriter(tmp_path, embedder).close()
    assert set(context_of(tmp_path, embedder)) == Catalog(tmp_path).segment_ids("lake") != set()


def test_context_off_writes_no_context_and_search_still_ranks(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=0))
    writer.begin_video("lake", "lake.mp4", 1, 240.0, "test", {})
    writer.write_batch([chunk("lake", i, text) for i, text in enumerate(CAPTIONS)])
    writer.close()
    assert not IndexLayout(tmp_path).context.exists()
    hits = Searcher(tmp_path, embedder).search("drilling through ice", k=1)
    assert (hits[0].start_s, hits[0].end_s) == (60.0, 120.0)


@pytest.mark.parametrize("neighbours", [2, 0])
def test_the_context_tells_apart_two_identical_captions(tmp_path, embedder, neighbours):
    """The same generic caption in two videos: with context, the one whose neighbours match the query ranks first;
    without, the two score alike."""
    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=neighbours))
    for video, follow_up in (
        ("park", "He throws a frisbee for his dog on the grass."),
        ("kitchen", "He chops onions and stirs a pot of soup."),
    ):
        writer.begin_video(video, f"{video}.mp4", 1, 120.0, "test", {})
        writer.write_batch([chunk(video, 0, "A man talks to the camera."), chunk(video, 1, follow_up)])
    writer.close()
    hits = Searcher(tmp_path, embedder).search("a man talks to the camera about cooking soup", k=4, merge=False)
    generic = {h.video: h.score for h in hits if h.text == "A man talks to the camera."}
    if neighbours:
        assert generic["kitchen.mp4"] > generic["park.mp4"] + 0.01
    else:
        assert abs(generic["kitchen.mp4"] - generic["park.mp4"]) < 0.01


def test_context_vectors_are_quantised_past_compress_min_and_still_looked_up_by_id(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(1500, dtype=np.int64) * 13 + 5
    context = ContextVectors(tmp_path, 32, IndexConfig(compress_min=1000))
    context.upsert(ids[:1000], x[:1000])
    assert not context.compressed
    context.upsert(ids[1000:], x[1000:])
    assert context.compressed and context.size == 1500
    context.remove(ids[:10])
    context.save()
    reopened = ContextVectors(tmp_path, 32)
    assert reopened.compressed and set(reopened.ids().tolist()) == set(ids[10:].tolist())
    found = reopened.lookup(ids[:20].tolist())
    assert sorted(found) == ids[10:20].tolist()
    cosines = [float(found[i] @ x[j]) / float(np.linalg.norm(found[i])) for j, i in enumerate(ids[10:20], start=10)]
    assert min(cosines) > 0.99  # 8-bit codes: a lossy copy, close enough to rank with
    assert ContextVectors(tmp_path / "f", 32, IndexConfig(compress_min=1000, codec="Flat")).compress_min is None

"""The frame index at ingest: frames embedded as soon as a chunk is decoded, kept as durably as the captions, and
ingest at two speeds (frames only, then described later). The visual model is the tiny random SigLIP (real
processor and model code; it cannot see, so nothing here checks what a search finds by looking); the describer is
the frame-counting fake and the text embedder the hashing fake, since neither is under test here."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.describe.fake import FrameCountDescriber
from pipeline.embed.fake import HashingEmbedder
from pipeline.embed.visual import TINY_SIGLIP, make_visual_embedder
from pipeline.index import Catalog, IndexWriter, rebuild_index
from pipeline.index.layout import IndexLayout
from pipeline.job import run_local

CLIP = "concat_real_clips_640x360.mp4"  # 288.5 s
FRAMES = ["frames.enabled=true", f"frames.model={TINY_SIGLIP}", "frames.device=cpu"]


@pytest.fixture(scope="module")
def visual():
    embedder = make_visual_embedder(TINY_SIGLIP, device="cpu")
    embedder.load()
    return embedder


def config(*overrides: str):
    return load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=30", "decode.max_side=224", *overrides])


def ingest(index, paths, cfg, describer, visual):
    writer = IndexWriter(index, HashingEmbedder())
    report = run_local(cfg, paths, writer, describer, visual=visual)
    writer.close()
    return report


def spans_of(index) -> list[tuple]:
    catalog = Catalog(index)
    rows = catalog.db.execute("SELECT video_id, chunk_id, start_s, end_s, frames FROM frame_spans ORDER BY start_s")
    out = [tuple(r) for r in rows]
    catalog.close()
    return out


def test_frames_only_then_described_by_a_later_run(tmp_path, media, visual):
    """describe.backend none indexes the frames alone (the video complete, no model recorded); a later run with a
    describer describes every chunk and embeds none again."""
    index = tmp_path / "idx"
    (result,) = ingest(index, [media(CLIP)], config("describe.backend=none", *FRAMES), None, visual).results
    assert result.status == "ingested" and result.chunks == 10
    spans = spans_of(index)
    assert len({s[1] for s in spans}) == 10 and sum(s[4] for s in spans) >= 280  # a frame a second, merged
    starts, ends = np.array([s[2] for s in spans]), np.array([s[3] for s in spans])
    assert np.all(ends > starts) and np.allclose(starts[1:], ends[:-1], atol=1.01)  # they tile the video
    catalog = Catalog(index)
    (video,) = catalog.videos()
    assert (video.status, video.model, video.chunks) == ("complete", "", 0)  # searchable by frames, no captions
    state, note = video.state(writing=False)  # what a person is told: not "complete" with 0 described
    assert state == "frames only" and "searchable by what it looks like only" in note and video.framed == 10
    catalog.close()
    records = IndexLayout(index).frame_records
    merged = sorted(p.name for p in records.iterdir() if p.name != "embedder.json")
    assert merged == [f"{video.video_id}.parquet"]  # the chunk files were merged when the video finished
    record_times = {p: p.stat().st_mtime_ns for p in records.rglob("*.parquet")}

    describer = FrameCountDescriber()
    (again,) = ingest(index, [media(CLIP)], config(*FRAMES), describer, visual).results
    assert again.status == "ingested" and len(describer.seen) == 10  # every chunk described now
    assert {p: p.stat().st_mtime_ns for p in record_times} == record_times  # and no frame embedded again
    catalog = Catalog(index)
    (video,) = catalog.videos()
    assert (video.status, video.model, video.chunks) == ("complete", "frame-count", 10)
    assert video.state(writing=False) == ("complete", "")
    catalog.close()
    (skipped,) = ingest(index, [media(CLIP)], config(*FRAMES), FrameCountDescriber(), visual).results
    assert skipped.status == "skipped"


def test_a_chunk_is_in_the_frame_index_before_it_is_described(tmp_path, media, visual):
    """With both stages on, each chunk's frames are written as soon as it is decoded: the describer, called
    after, finds them in the index already."""
    index = tmp_path / "idx"
    seen_framed = []

    class Checking(FrameCountDescriber):
        def describe(self, chunks):
            seen_framed.extend(c.span.chunk_id in writer.framed_chunk_ids(c.span.video_id) for c in chunks)
            return super().describe(chunks)

    writer = IndexWriter(index, HashingEmbedder())
    run_local(config(*FRAMES, "describe.batch_size=1"), [media("bikes.mp4")], writer, Checking(), visual=visual)
    writer.close()
    assert seen_framed and all(seen_framed)


def test_frames_survive_a_crash_a_removal_and_a_lost_catalog(tmp_path, media, visual):
    index = tmp_path / "idx"
    ingest(index, [media("bikes.mp4"), media("fire2.mp4")], config("describe.backend=none", *FRAMES), None, visual)
    before = spans_of(index)
    files = IndexLayout(index)
    # killed after the records were written, before catalog rows and vectors were: both restored on open
    files.frame_vectors.unlink()
    catalog = Catalog(index)
    catalog.db.execute("DELETE FROM frame_spans WHERE rowid % 2 = 0")
    catalog.db.commit()
    catalog.close()
    writer = IndexWriter(index, HashingEmbedder())
    assert writer.frames.vectors.size == len(before) and spans_of(index) == before
    # removing a video removes its frames (rows, vectors, records)
    bikes = writer.catalog.find_video(media("bikes.mp4")).video_id
    writer.remove_video(bikes)
    writer.close()
    left = spans_of(index)
    assert left and all(s[0] != bikes for s in left) and not (files.frame_records / bikes).exists()
    # the catalog lost: a rebuild restores the frame index from its records, vectors included
    for part in index.glob(files.catalog.name + "*"):
        part.unlink()
    rebuilt = rebuild_index(index, HashingEmbedder())
    assert rebuilt.frame_spans == len(left) and spans_of(index) == left
    writer = IndexWriter(index, HashingEmbedder())
    assert writer.frames.vectors.size == len(left)
    writer.close()


def test_backend_none_needs_the_frame_index():
    from pipeline.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="frames.enabled"):
        config("describe.backend=none")


def test_another_image_text_model_is_refused_with_the_remedy(tmp_path, media, visual):
    from pipeline.index.settings import SettingsConflict

    index = tmp_path / "idx"
    ingest(index, [media("fire2.mp4")], config("describe.backend=none", *FRAMES), None, visual)

    class Other:  # the same vectors under another model's name
        name, dim = "another-siglip", visual.dim

        def embed_images(self, frames):
            return visual.embed_images(frames)

    before = spans_of(index)
    with pytest.raises(SettingsConflict, match="frames.model=tiny-random-siglip, the configuration gives another"):
        ingest(index, [media("bikes.mp4")], config("describe.backend=none", *FRAMES), None, Other())
    assert spans_of(index) == before  # nothing of the other model's was written


def test_a_chunk_written_again_after_the_merge_replaces_its_rows(tmp_path):
    from pipeline.index.frames import FrameRecords
    from pipeline.types import FrameSpanRecord

    records = FrameRecords(tmp_path)
    first = [FrameSpanRecord(i, f"c{i}", "v", "/v.mp4", i * 10.0, i * 10.0 + 10, 10, [1.0, 0.0]) for i in range(3)]
    for row in first:
        records.write_chunk([row])
    records.compact("v")
    again = [
        FrameSpanRecord(7, "c1", "v", "/v.mp4", 10.0, 14.0, 4, [0.0, 1.0]),
        FrameSpanRecord(8, "c1", "v", "/v.mp4", 14.0, 20.0, 6, [0.0, 1.0]),
    ]
    records.write_chunk(again)  # c1 described... embedded again (say, another merge_cosine)
    assert sorted(r.frame_id for r in records.rows("v")) == [0, 2, 7, 8] and records.ids("v") == {0, 2, 7, 8}
    assert records.chunk_ids("v") == {"c0", "c1", "c2"} and records.video_ids() == ["v"]
    records.compact("v")
    assert sorted(r.frame_id for r in records.rows("v")) == [0, 2, 7, 8] and not (records.root / "v").exists()
    records.remove_video("v")
    assert records.video_ids() == [] and records.rows("v") == []


def test_damaged_frame_files_are_named_and_a_rebuild_repairs_them(tmp_path, media, visual):
    from pipeline.index.damage import IndexDamaged
    from pipeline.index.health import diagnose
    from pipeline.search import Searcher

    index = tmp_path / "idx"
    ingest(index, [media("bikes.mp4"), media("fire2.mp4")], config("describe.backend=none", *FRAMES), None, visual)
    files = IndexLayout(index)
    files.frame_vectors.write_bytes(b"not a faiss file")
    catalog = Catalog(index)
    fire2_id = catalog.find_video(media("fire2.mp4")).video_id
    catalog.close()
    damaged_record = files.frame_records / f"{fire2_id}.parquet"
    damaged_record.write_bytes(damaged_record.read_bytes()[:100])  # truncated
    problems = diagnose(index)
    assert any("frames.faiss" in p and "index rebuild" in p for p in problems), problems
    assert any(damaged_record.name in p and "embeds its chunks again" in p for p in problems), problems
    with pytest.raises(IndexDamaged, match="frames.faiss"):
        Searcher(index, HashingEmbedder(), visual=visual)
    rebuilt = rebuild_index(index, HashingEmbedder())
    assert rebuilt.frame_spans > 0 and diagnose(index) == []
    assert list((files.damaged / "frames").glob(f"{fire2_id}.parquet.damaged-*"))  # set aside, not deleted
    hits = Searcher(index, HashingEmbedder(), visual=visual).search("anything", k=3, modality="visual")
    assert hits and all(h.video_id != fire2_id for h in hits)
    again = ingest(
        index, [media("bikes.mp4"), media("fire2.mp4")], config("describe.backend=none", *FRAMES), None, visual
    )
    assert [r.status for r in again.results] == ["skipped", "ingested"]  # fire2's frames embedded again


def test_a_deleted_frame_index_is_named_like_a_missing_vectors_file(tmp_path, media, visual):
    """Not a silent gap: a default search would drop every frame moment, a visual one would call the index
    frame-less. Status, searches and the API name frames.faiss and the remedy; a rebuild restores it."""
    from pipeline.index.damage import IndexDamaged
    from pipeline.index.health import diagnose
    from pipeline.search import Searcher

    index = tmp_path / "idx"
    ingest(index, [media("bikes.mp4")], config("describe.backend=none", *FRAMES), None, visual)
    files = IndexLayout(index)
    files.frame_vectors.unlink()
    problems = diagnose(index)
    assert len(problems) == 1 and str(files.frame_vectors) in problems[0], problems
    assert "missing: the catalog lists" in problems[0] and "written before, then deleted" in problems[0]
    assert f"vidseek index rebuild --index {index}" in problems[0]
    with pytest.raises(IndexDamaged, match="frames.faiss"):
        Searcher(index, HashingEmbedder(), visual=visual)
    rebuild_index(index, HashingEmbedder())
    assert diagnose(index) == [] and Searcher(index, HashingEmbedder(), visual=visual).frames.vectors.size > 0


def test_frames_never_saved_are_not_called_damaged(tmp_path, visual):
    """Killed before the first save: frames.faiss was never written, which is not a file lost."""
    from pipeline.index.health import diagnose
    from pipeline.types import FrameSpanRecord

    index = tmp_path / "idx"
    writer = IndexWriter(index, HashingEmbedder())
    vector = [1.0] + [0.0] * (visual.dim - 1)
    writer.write_frames([FrameSpanRecord(7, "c0", "v", "/v.mp4", 0.0, 1.0, 1, vector)], visual.name)
    writer.catalog.close()  # ... and killed: no save, the lease's holder gone
    writer.lock.release()
    problems = diagnose(index)
    assert len(problems) == 1 and "frames.faiss was never written" in problems[0], problems
    assert "cannot be read" not in problems[0] and "index rebuild" in problems[0]

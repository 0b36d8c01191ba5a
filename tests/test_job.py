"""The whole flow in one process (run_local), with a describer that knows the true clip boundaries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.index import IndexWriter
from pipeline.index.layout import IndexLayout
from pipeline.job import run_local
from pipeline.search import Searcher
from tests.doubles import SegmentsDescriber, clip_name

CHUNK_S = 10.0


@pytest.fixture(scope="module")
def concat_index(tmp_path_factory, embedder):
    from tests.conftest import media_path

    path = media_path("concat_real_clips_640x360.mp4")
    segments = path.replace(".mp4", ".segments.json")
    index = tmp_path_factory.mktemp("concat_index")
    cfg = load_config(None, [f"decode.chunk_s={CHUNK_S}", "decode.max_side=128", "ray.enabled=false"])
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [path], writer, SegmentsDescriber(segments))
    writer.close()
    assert [r.status for r in report.results] == ["ingested"]
    return index, path, json.loads(Path(segments).read_text())


def unique_clips(segments):
    names = [clip_name(g["source"]) for g in segments]
    return [g for g in segments if names.count(clip_name(g["source"])) == 1]


def test_search_by_clip_name_lands_on_its_seconds(concat_index, embedder):
    index, path, segments = concat_index
    searcher = Searcher(index, embedder)
    for clip in unique_clips(segments):
        hit = searcher.search(clip_name(clip["source"]), k=1)[0]
        assert hit.video == path
        assert hit.start_s < clip["end"] and hit.end_s > clip["start"], (clip, hit)  # overlaps the true clip
        assert clip["start"] - CHUNK_S <= hit.start_s and hit.end_s <= clip["end"] + CHUNK_S, (clip, hit)


def test_every_chunk_indexed_once(concat_index):
    index, _, _ = concat_index
    from pipeline.index import Catalog

    catalog = Catalog(index)
    (video,) = catalog.videos()
    assert video.status == "complete" and video.chunks == 29  # 288.5 s in 10 s chunks, 8.5 s tail kept
    rows = catalog.db.execute("SELECT chunk_id, COUNT(*) FROM segments WHERE kind='caption' GROUP BY chunk_id")
    assert all(n == 1 for _, n in rows)


def test_second_ingest_skips_finished_video(concat_index, embedder):
    index, path, segments = concat_index
    cfg = load_config(None, [f"decode.chunk_s={CHUNK_S}", "ray.enabled=false"])
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [path], writer, SegmentsDescriber(path.replace(".mp4", ".segments.json")))
    writer.close()
    assert [r.status for r in report.results] == ["skipped"]


def test_bad_inputs_fail_alone_and_nothing_is_lost(tmp_path, media, embedder):
    good, corrupt = media("bikes.mp4"), media("corrupted.mp4")
    folder = tmp_path / "footage"
    folder.mkdir()
    shutil.copy(good, folder / "bikes.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mkv").write_text("this is not a video\n" * 100)
    shutil.copy(corrupt, folder / "corrupted.mp4")
    index = tmp_path / "index"
    cfg = load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=5"])
    from pipeline.describe import make_describer

    describer = make_describer(cfg.describe)
    writer = IndexWriter(index, embedder)
    first = run_local(cfg, [media("chaplin.mp4")], writer, describer)
    assert first.exit_code == 0
    before = writer.catalog.count_segments()
    report = run_local(cfg, [str(folder), str(tmp_path / "missing.mp4")], writer, describer)
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["bikes.mp4"].status == "ingested" and by_name["bikes.mp4"].chunks == 2
    assert "empty file" in by_name["empty.mp4"].reason
    assert "not a readable video" in by_name["notes.mkv"].reason
    assert "file not found" in by_name["missing.mp4"].reason
    assert by_name["corrupted.mp4"].status == "failed" and "corrupt" in by_name["corrupted.mp4"].reason
    assert report.exit_code == 1
    assert writer.catalog.count_segments() >= before + 2  # chaplin kept, bikes added
    assert writer.catalog.find_video(media("chaplin.mp4")).status == "complete"
    writer.close()


def test_after_losing_the_catalog_rebuild_restores_it_and_a_new_ingest_describes_nothing(tmp_path, media, embedder):
    """The Parquet records are the durable copy: a lost catalog comes back from them, the video complete, and
    ingesting the file again skips it."""
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.index import Catalog, rebuild_index

    cfg = load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=5"])
    index = tmp_path / "idx"
    writer = IndexWriter(index, embedder)
    assert run_local(cfg, [media("bikes.mp4")], writer, FrameCountDescriber()).exit_code == 0
    writer.close()
    for part in index.glob(IndexLayout(index).catalog.name + "*"):
        part.unlink()
    assert rebuild_index(index, embedder).videos_restored == 1
    describer = FrameCountDescriber()
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [media("bikes.mp4")], writer, describer)
    writer.close()
    assert [r.status for r in report.results] == ["skipped"] and describer.seen == []
    (row,) = Catalog(index).videos()
    assert (row.status, row.chunks) == ("complete", 2)


def test_a_file_that_changed_replaces_its_earlier_version(tmp_path, media, embedder):
    """A recording ingested while still being copied, then again once complete: one video, no duplicate hits."""
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.index import Catalog

    cfg = load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=2"])
    full = Path(media("flipping_a_pancake.mkv")).read_bytes()
    path = tmp_path / "cam.mkv"
    path.write_bytes(full[: len(full) * 6 // 10])
    writer = IndexWriter(tmp_path / "idx", embedder)
    (partial,) = run_local(cfg, [str(path)], writer, FrameCountDescriber()).results
    path.write_bytes(full)
    (complete,) = run_local(cfg, [str(path)], writer, FrameCountDescriber()).results
    writer.close()
    assert partial.status == "failed" and "truncated" in partial.reason
    assert complete.status == "ingested" and complete.reason.startswith("replaced the earlier version of this file")
    catalog = Catalog(tmp_path / "idx")
    (row,) = catalog.videos()
    assert (row.path, row.status, row.chunks) == (str(path), "complete", 5)
    assert catalog.count_segments() == 2 * 5  # a caption and an event per chunk, none left from the first version


def test_a_partly_decodable_file_stays_failed_on_the_next_run(tmp_path, media, embedder):
    """Same bytes, same decode: a second run reports the first run's reason instead of calling the file complete."""
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.index import Catalog

    cfg = load_config("tiny.yaml", ["ray.enabled=false"])
    writer = IndexWriter(tmp_path / "idx", embedder)
    (first,) = run_local(cfg, [media("corrupted.mp4")], writer, FrameCountDescriber()).results
    describer = FrameCountDescriber()
    (second,) = run_local(cfg, [media("corrupted.mp4")], writer, describer).results
    writer.close()
    assert first.status == "failed" and "decoding stopped at" in first.reason and first.chunks == 1
    assert (second.status, second.reason, second.chunks) == ("failed", first.reason, 1) and describer.seen == []
    catalog = Catalog(tmp_path / "idx")
    assert catalog.videos()[0].status == "failed"
    ends = [row.end_s for row in catalog.segments(catalog.segment_ids()).values()]
    assert ends == [pytest.approx(2.8)] * 2  # the caption and the event end where decoding stopped, not at 5.0


def test_a_folder_says_what_it_passed_over_and_what_is_a_video(tmp_path, embedder):
    """An animated GIF is footage; pictures and other files in a folder are counted and named as passed over; a
    folder with no video fails, saying so; a symlink looping back into the tree is walked once."""
    from pipeline.describe.fake import FrameCountDescriber
    from tests.clips import write_images

    folder = tmp_path / "footage"
    write_images(folder)
    (folder / "notes.txt").write_text("shot list")
    (folder / "again").symlink_to(folder)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("nothing here yet")
    cfg = load_config("tiny.yaml", ["ray.enabled=false"])
    writer = IndexWriter(tmp_path / "idx", embedder)
    report = run_local(
        cfg, [str(folder), str(tmp_path / "empty"), str(folder / "still.png")], writer, FrameCountDescriber()
    )
    writer.close()
    rows = {(Path(r.path).name, r.status): r.reason for r in report.results}
    assert ("animated.gif", "ingested") in rows and ("one.gif", "failed") in rows
    assert rows["one.gif", "failed"] == "a still image (gif), not a video"
    assert rows["still.png", "failed"] == "a still image (png), not a video"  # named: probed, and refused
    assert rows["footage", "skipped"] == "3 files that are not videos by their name (.jpg x1, .png x1, .txt x1)"
    assert rows["again", "skipped"].startswith("a symlink loop")
    assert rows["empty", "failed"] == "no video files here; 1 files that are not videos by their name (.md x1)"
    assert report.exit_code == 1


def test_two_copies_of_one_file_are_one_video_found_by_either_name(tmp_path, media, embedder):
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.index import Catalog

    for name in ("dupA.mp4", "dupB.mp4"):
        shutil.copy(media("bikes.mp4"), tmp_path / name)
    cfg = load_config("tiny.yaml", ["ray.enabled=false"])
    writer = IndexWriter(tmp_path / "idx", embedder)
    describer = FrameCountDescriber()
    report = run_local(cfg, [str(tmp_path / "dupA.mp4"), str(tmp_path / "dupB.mp4")], writer, describer)
    writer.close()
    by_name = {Path(r.path).name: r for r in report.results}
    assert (by_name["dupA.mp4"].status, by_name["dupB.mp4"].status) == ("ingested", "skipped")
    assert by_name["dupB.mp4"].reason == f"same content as {tmp_path / 'dupA.mp4'}"
    assert len(describer.seen) == 1  # described once
    catalog = Catalog(tmp_path / "idx")
    for key in ("dupA.mp4", "dupB.mp4", str(tmp_path / "dupB.mp4")):
        assert catalog.find_video(key).path == str(tmp_path / "dupA.mp4"), key
    assert catalog.find_video("dup_.mp4") is None  # a file name is matched as it is, not as a LIKE pattern


def test_second_run_over_a_folder_ingests_only_the_new_video(tmp_path, media, embedder):
    from pipeline.describe import make_describer

    folder = tmp_path / "footage"
    folder.mkdir()
    shutil.copy(media("bikes.mp4"), folder / "bikes.mp4")
    cfg = load_config("tiny.yaml", ["ray.enabled=false"])
    describer = make_describer(cfg.describe)
    writer = IndexWriter(tmp_path / "idx", embedder)
    first = run_local(cfg, [str(folder)], writer, describer)
    shutil.copy(media("chaplin.mp4"), folder / "chaplin.mp4")
    second = run_local(cfg, [str(folder)], writer, describer)
    writer.close()
    assert [(Path(r.path).name, r.status) for r in first.results] == [("bikes.mp4", "ingested")]
    assert sorted((Path(r.path).name, r.status) for r in second.results) == [
        ("bikes.mp4", "skipped"),
        ("chaplin.mp4", "ingested"),
    ]

"""Fault injection: each file of an index is damaged in turn (cut in half, overwritten with garbage, deleted), then
the commands a user would run next are run on it. None may lose a segment that a rebuild could restore: after
`index rebuild` every segment of every readable record is back, searchable, and the index checks clean; a video
whose record was lost is marked failed, so the next ingest describes it again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipeline.index import Catalog, IndexWriter, RecordStore, rebuild_index
from pipeline.index.damage import IndexDamaged
from pipeline.index.health import diagnose
from pipeline.search import Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event

DAMAGES = {
    "cut in half": lambda f: os.truncate(f, f.stat().st_size // 2),
    "garbage": lambda f: f.write_bytes(b"\x00garbage\xff" * 400),
    "deleted": lambda f: f.unlink(),
}
SCENES = ["a red truck at the gate", "a dog runs on the beach", "two cyclists pass a bakery", "snow falls on a car"]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, embedder) -> Path:
    """Three videos: two finished (compacted records), one cut short (a part file per chunk); context vectors."""
    index = tmp_path_factory.mktemp("healthy")
    writer = IndexWriter(index, embedder)
    for n, video in enumerate(("vid1", "vid2", "vid3")):
        writer.begin_video(video, f"/videos/{video}.mp4", 1, 120.0, "test", {})
        for start in (0, 60):
            scene = SCENES[(n + start // 60) % len(SCENES)]
            span = ChunkSpan(video, f"/videos/{video}.mp4", start, start + 60)
            event = Event(start + 5.0, start + 9.0, "moment", f"{scene}, closer")
            writer.write(ChunkDescription(span, f"{scene} in {video}", [event], model="test"))
        if video != "vid3":
            writer.finish_video(video, "complete", num_chunks=2)
    writer.close()
    return index


def index_files(index: Path) -> list[str]:
    return sorted(str(f.relative_to(index)) for f in index.rglob("*") if f.is_file() and f.name != "writer.lock")


def test_the_healthy_index_has_every_kind_of_file(healthy):
    names = index_files(healthy)
    assert {"catalog.sqlite", "vectors.faiss", "context.faiss", "records/vid1.parquet", "records/vid3.json"} <= set(
        names
    )
    assert any(n.startswith("records/vid3/") for n in names) and diagnose(healthy) == []


def restorable(index: Path, damaged: str) -> dict[int, str]:
    """Segment id -> video of every row in a record file other than the damaged one."""
    store = RecordStore(index)
    rows = {}
    for video in store.video_ids():
        for f in store._files(video):
            if str(f.relative_to(index)) != damaged:
                rows.update({sid: video for sid in store._read(f, ["segment_id"]).column(0).to_pylist()})
    return rows


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize(
    "target",
    [
        "catalog.sqlite",
        "vectors.faiss",
        "context.faiss",
        "records/vid1.parquet",
        "records/vid1.json",
        "records/vid3/*.parquet",
        "records/vid3.json",
    ],
)
def test_no_command_loses_what_a_rebuild_could_restore(healthy, embedder, tmp_path, target, damage):
    index = tmp_path / "index"
    shutil.copytree(healthy, index)
    for part in index.glob("catalog.sqlite-*"):
        part.unlink()  # checkpointed on close: the catalog is one file
    victim = sorted(index.glob(target))[0]
    relative = str(victim.relative_to(index))
    want = restorable(index, relative)
    DAMAGES[damage](victim)

    # what a user runs next: status, a search, an ingest (a writer opening and closing), then a rebuild
    problems = diagnose(index)
    silent = damage == "deleted" and victim.suffix != ".sqlite" and victim.name != "vectors.faiss"
    assert problems or silent, f"status saw nothing wrong after {relative} was {damage}"
    try:
        Searcher(index, embedder).search("a red truck", k=5)
    except IndexDamaged as exc:
        assert exc.path.name in (victim.name, "catalog.sqlite", "vectors.faiss"), exc
    except FileNotFoundError as exc:  # no catalog: "not a vidseek index"
        assert victim.name == "catalog.sqlite", exc
    try:
        IndexWriter(index, embedder).close()
    except IndexDamaged as exc:
        assert str(victim) in str(exc) or "vectors.faiss" in str(exc) or "context.faiss" in str(exc), exc
    assert restorable(index, relative).keys() >= want.keys(), "a readable record was lost"

    rebuilt = rebuild_index(index, embedder)
    catalog = Catalog(index)
    have = catalog.segment_ids()
    assert have >= want.keys(), f"segments lost after {relative} was {damage}"
    assert diagnose(index) == []
    lost_videos = {want_video for sid, want_video in restorable(healthy, "").items() if sid not in have}
    for video in lost_videos:  # what the damaged record held is to be described again by the next ingest
        status = catalog.video(video).status
        assert status == "failed" or (video, damage) == ("vid3", "deleted"), (video, status)  # vid3: cut short
        assert status == "ingesting" or f"/videos/{video}.mp4" in rebuilt.videos_failed
    hits = Searcher(index, embedder).search("a dog runs on the beach", k=3)
    assert hits and all(h.video.startswith("/videos/") for h in hits)

"""An index keeps the settings it was built with: every later command uses them, a conflicting one is refused."""

from __future__ import annotations

import pytest

from pipeline.config import IndexConfig
from pipeline.embed.fake import HashingEmbedder
from pipeline.index import Catalog, IndexWriter, rebuild_index
from pipeline.index.layout import IndexLayout
from pipeline.index.settings import META_KEY, SettingsConflict, recorded_settings
from pipeline.search import Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event
from tests.test_cli import vidseek

EMBEDDER = HashingEmbedder()


def write_video(writer: IndexWriter, events: int = 3, video_id: str = "vid1") -> None:
    """One 60 s chunk holding a caption and ``events`` events of a second each."""
    writer.begin_video(video_id, f"/videos/{video_id}.mp4", 1, 60.0, "test", {})
    evs = [Event(i % 59, i % 59 + 1, f"label {i}", f"event number {i} happens") for i in range(events)]
    writer.write(ChunkDescription(ChunkSpan(video_id, f"/videos/{video_id}.mp4", 0, 60), "a caption", evs, "test"))
    writer.finish_video(video_id, "complete", num_chunks=1)


def test_nprobe_reaches_the_searcher(tmp_path):
    """It was stored in the FAISS file, then overwritten with the default 64 by every searcher."""
    settings = IndexConfig(flat_max=1000, nlist=8, nprobe=3, context_neighbours=0)
    writer = IndexWriter(tmp_path, EMBEDDER, index_cfg=settings)
    write_video(writer, events=1200)
    writer.close()
    searcher = Searcher(tmp_path, EMBEDDER)
    assert searcher.vectors.is_ivf and searcher.vectors.kind == "IVF8,Flat (nprobe 3)"
    assert searcher.search("event number 7 happens", k=1)


def test_a_command_without_config_keeps_an_index_without_context(tmp_path, embedder):
    """`vidseek remove` opened the index with default settings and created context.faiss."""
    writer = IndexWriter(tmp_path, embedder, index_cfg=IndexConfig(context_neighbours=0))
    write_video(writer, video_id="vid1")
    write_video(writer, video_id="vid2")
    writer.close()
    assert not IndexLayout(tmp_path).context.exists()
    result = vidseek("remove", "vid1.mp4", "--index", tmp_path)
    assert result.returncode == 0, result.stderr
    assert not IndexLayout(tmp_path).context.exists()
    assert recorded_settings(Catalog(tmp_path)).context_neighbours == 0


def test_settings_are_recorded_once_and_a_conflict_is_refused(tmp_path):
    writer = IndexWriter(tmp_path, EMBEDDER, index_cfg=IndexConfig(nprobe=16))
    write_video(writer)
    writer.close()
    assert recorded_settings(Catalog(tmp_path)).nprobe == 16
    IndexWriter(tmp_path, EMBEDDER).close()  # nothing given: the recorded settings
    IndexWriter(tmp_path, EMBEDDER, index_cfg=IndexConfig(nprobe=16, codec="SQ8")).close()  # the same values
    refused = r"index.nprobe=16.*gives 32.*vidseek index rebuild --set index.nprobe=32"
    with pytest.raises(SettingsConflict, match=refused):
        IndexWriter(tmp_path, EMBEDDER, index_cfg=IndexConfig(nprobe=32))
    assert IndexWriter(tmp_path, EMBEDDER, lock_wait_s=1).settings.nprobe == 16  # the refusal released the lease


def test_rebuild_records_the_values_it_is_given(tmp_path):
    writer = IndexWriter(tmp_path, EMBEDDER, index_cfg=IndexConfig(nprobe=16))
    write_video(writer)
    writer.close()
    rebuild_index(tmp_path, EMBEDDER, IndexConfig(context_neighbours=0))
    settings = recorded_settings(Catalog(tmp_path))
    assert (settings.nprobe, settings.context_neighbours) == (16, 0)  # kept, changed
    assert not IndexLayout(tmp_path).context.exists()


def test_an_index_from_before_settings_keeps_what_it_has(tmp_path):
    writer = IndexWriter(tmp_path, EMBEDDER, index_cfg=IndexConfig(context_neighbours=0))
    write_video(writer)
    writer.close()
    catalog = Catalog(tmp_path)
    catalog.db.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
    catalog.db.commit()
    writer = IndexWriter(tmp_path, EMBEDDER)  # the default has context vectors; the index had none
    assert writer.context is None and writer.settings.context_neighbours == 0
    writer.close()
    assert recorded_settings(Catalog(tmp_path)).context_neighbours == 0


def test_cli_refuses_a_conflicting_setting_before_loading_a_model(tmp_path):
    writer = IndexWriter(tmp_path / "idx", EMBEDDER, index_cfg=IndexConfig(context_neighbours=0))
    write_video(writer)
    writer.close()
    result = vidseek("ingest", tmp_path, "--index", tmp_path / "idx", "--config", "tiny.yaml",
                     "--set", "index.context_neighbours=3", timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert "index.context_neighbours=0" in result.stderr and "vidseek index rebuild" in result.stderr
    assert "Traceback" not in result.stderr

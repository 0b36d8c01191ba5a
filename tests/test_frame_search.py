"""Searching the frame index and fusing it with the captions, checked against the true clip boundaries of the shared
concatenated clip: the visual model is an oracle that knows which clip each frame comes from (tests/doubles.py),
since retrieval quality cannot be measured without real weights. What is tested is the mechanics: moments formed
from consecutive matching frames across chunk boundaries, to the second; fusion; image queries; filters."""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.embed.fake import HashingEmbedder
from pipeline.frame_search import fuse
from pipeline.index import IndexWriter
from pipeline.job import run_local
from pipeline.search import Filters, Searcher
from pipeline.types import Hit
from tests.doubles import ClipOracleVisual, SegmentsDescriber

CLIP = "concat_real_clips_640x360.mp4"
BIKES = (149.4, 159.4)  # true boundaries, across the chunk boundary at 150 s (30 s chunks)


@pytest.fixture(scope="module")
def oracle():
    from tests.conftest import media_path

    return ClipOracleVisual(media_path(CLIP), media_path(CLIP.replace(".mp4", ".segments.json")))


@pytest.fixture(scope="module")
def index(tmp_path_factory, oracle):
    """The clip ingested with captions (the segments oracle) and frames (the clip oracle), 30 s chunks."""
    from tests.conftest import media_path

    index = tmp_path_factory.mktemp("frames") / "idx"
    cfg = load_config(
        "tiny.yaml", ["ray.enabled=false", "decode.chunk_s=30", "decode.max_side=224", "frames.enabled=true"]
    )
    writer = IndexWriter(index, HashingEmbedder())
    describer = SegmentsDescriber(media_path(CLIP.replace(".mp4", ".segments.json")))
    run_local(cfg, [media_path(CLIP)], writer, describer, visual=oracle)
    writer.close()
    return index


def test_a_visual_moment_has_the_true_boundaries_across_chunks(index, oracle):
    searcher = Searcher(index, HashingEmbedder(), visual=oracle)
    top = searcher.search("bikes", k=3, modality="visual")[0]
    assert top.kind == "frames" and abs(top.start_s - BIKES[0]) <= 1.0 and abs(top.end_s - BIKES[1]) <= 1.0, top
    assert top.text == "bikes: the clip bikes plays"  # the caption or event matching its span best
    chaplin = searcher.search("chaplin", k=1, modality="visual")[0]
    assert abs(chaplin.start_s - 159.4) <= 1.0 and abs(chaplin.end_s - 169.04) <= 1.0, chaplin


def test_an_image_finds_the_moment_it_was_taken_from(index, oracle, media):
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.types import ChunkSpan

    info = probe(media(CLIP))
    frame = (
        open_reader(info, DecodeConfig(fps=1.0, max_side=640)).read(ChunkSpan("v", info.path, 164.0, 165.0)).frames[0]
    )
    top = Searcher(index, HashingEmbedder(), visual=oracle).search_image(frame, k=1)[0]
    assert abs(top.start_s - 159.4) <= 1.0 and abs(top.end_s - 169.04) <= 1.0  # the chaplin clip


def test_fused_search_keeps_the_caption_and_takes_the_frames_span(index, oracle):
    searcher = Searcher(index, HashingEmbedder(), visual=oracle)
    text = searcher.search("the clip bikes plays", k=5, modality="text")
    both = searcher.search("the clip bikes plays", k=5, modality="both")
    assert both[0].text == "bikes: the clip bikes plays" and both[0].kind == "event"
    assert abs(both[0].start_s - BIKES[0]) <= 1.0 and abs(both[0].end_s - BIKES[1]) <= 1.0
    assert len(text) >= 2 and text[0].end_s - text[0].start_s < BIKES[1] - BIKES[0]  # the event is cut by the chunk
    assert searcher.search("the clip bikes plays", k=5) == both  # both is the default


def test_filters_reach_the_frame_index(index, oracle):
    searcher = Searcher(index, HashingEmbedder(), visual=oracle)
    late = searcher.search("bikes", k=3, filters=Filters(after_s=200.0), modality="visual")
    assert late and all(h.end_s > 200.0 for h in late)
    assert searcher.search("bikes", k=3, filters=Filters(kind="event"), modality="visual") == []
    with pytest.raises(ValueError, match="modality"):
        searcher.search("bikes", modality="pixels")


def test_fusion_adds_up_a_moment_found_both_ways():
    caption = Hit("v.mp4", 0.0, 60.0, 0.9, "a truck arrives", "caption", "", "v")
    other = Hit("v.mp4", 60.0, 120.0, 0.95, "a dog", "caption", "", "v")
    frames = Hit("v.mp4", 12.0, 19.0, 0.3, "", "frames", "", "v")
    elsewhere = Hit("w.mp4", 5.0, 9.0, 0.2, "", "frames", "", "w")
    fused = fuse([other, caption], [frames, elsewhere], k=3)
    assert [(h.text, h.start_s, h.end_s) for h in fused] == [
        ("a truck arrives", 12.0, 19.0),  # second by text, first by frames: first fused, with the frames' span
        ("a dog", 60.0, 120.0),
        ("", 5.0, 9.0),
    ]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)

"""Search on small hand-built indexes with known answers: filters, merged moments, localisation, removal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.index import IndexWriter
from pipeline.moments import iou, merge_overlapping
from pipeline.search import Filters, Searcher
from pipeline.types import ChunkDescription, ChunkSpan, Event, Hit

VIDEOS = {
    "a.mp4": [
        ((0, 60), "A red truck arrives at the warehouse gate.", [Event(12, 20, "truck", "a red truck stops")]),
        ((60, 120), "Workers unload boxes from the red truck.", []),
        ((120, 180), "A woman flips a pancake in a kitchen.", []),
    ],
    "b.mp4": [
        ((0, 60), "Cyclists ride down a busy street.", [Event(30, 40, "bikes", "two cyclists pass")]),
        ((60, 120), "A dog chases a ball in the park.", []),
    ],
}


@pytest.fixture
def index(tmp_path, embedder):
    writer = IndexWriter(tmp_path, embedder)
    for path, chunks in VIDEOS.items():
        writer.begin_video(path, path, 1, float(chunks[-1][0][1]), "test", {})
        writer.write_batch(
            [
                ChunkDescription(ChunkSpan(path, path, s, e), caption, events, model="test")
                for (s, e), caption, events in chunks
            ]
        )
        writer.finish_video(path, "complete", num_chunks=len(chunks))
    writer.close()
    return tmp_path


def test_overlapping_hits_of_a_video_merge_into_one_moment(index, embedder):
    hits = Searcher(index, embedder).search("red truck", k=3)
    # the event 12-20 and the caption 0-60 overlap: one moment; 60-120 only touches it (spans are half-open)
    assert (hits[0].video, hits[0].start_s, hits[0].end_s, hits[0].kind) == ("a.mp4", 0.0, 60.0, "event")
    assert (hits[1].video, hits[1].start_s, hits[1].end_s) == ("a.mp4", 60.0, 120.0)
    spans = [(h.video, h.start_s, h.end_s) for h in hits]
    assert len(spans) == len(set(spans))
    for x in hits:
        for y in hits:
            assert x is y or x.video != y.video or x.end_s <= y.start_s or y.end_s <= x.start_s


def test_unmerged_search_returns_each_segment(index, embedder):
    hits = Searcher(index, embedder).search("red truck", k=3, merge=False)
    assert {(h.start_s, h.end_s) for h in hits} >= {(0.0, 60.0), (12.0, 20.0)}


def test_filters(index, embedder):
    s = Searcher(index, embedder)
    assert {h.video for h in s.search("something moving", 10, Filters(video="b.mp4"), localize_moments=False)} == {
        "b.mp4"
    }
    late = s.search("truck", 10, Filters(after_s=100), merge=False)
    assert late and all(h.end_s > 100 for h in late)
    early = s.search("truck", 10, Filters(before_s=50), merge=False)
    assert early and all(h.start_s < 50 for h in early)
    events = s.search("truck", 10, Filters(kind="event"), merge=False)
    assert events and all(h.kind == "event" for h in events)
    assert [h.label for h in s.search("anything", 10, Filters(label="BIKES"), merge=False)] == ["bikes"]
    assert s.search("truck", 10, Filters(video="a.mp4", after_s=500)) == []
    assert s.search("truck", 10, Filters(after_s=12, before_s=12), merge=False)  # moments covering 12 s
    with pytest.raises(ValueError, match="later than before"):
        Filters(after_s=5, before_s=3)


def test_unknown_video_filter_is_a_clear_error(index, embedder):
    with pytest.raises(ValueError, match="no indexed video matches 'nope.mp4'"):
        Searcher(index, embedder).search("truck", 5, Filters(video="nope.mp4"))


def test_localize_within_a_video_prefers_the_matching_span(index, embedder):
    hits = Searcher(index, embedder).search("a pancake is flipped", 3, Filters(video="a.mp4"))
    assert hits[0].video == "a.mp4" and iou(hits[0].start_s, hits[0].end_s, 120.0, 180.0) >= 0.5


def test_moments_localized_in_a_video_keep_to_the_time_filters(index, embedder):
    """Localising proposes spans between any boundaries (0 and the end too): each must still overlap the window."""
    s = Searcher(index, embedder)
    for after_s, before_s in ((70, None), (None, 50), (65, 110)):
        hits = s.search("a red truck", 10, Filters(video="a.mp4", after_s=after_s, before_s=before_s))
        assert hits, (after_s, before_s)
        for h in hits:
            assert after_s is None or h.end_s > after_s, (h, after_s)
            assert before_s is None or h.start_s < before_s, (h, before_s)


def test_remove_drops_a_video(index, embedder):
    writer = IndexWriter(index, embedder)
    assert writer.remove_video("b.mp4") == 3
    writer.close()
    hits = Searcher(index, embedder).search("cyclists on a street", 5, merge=False)
    assert hits and all(h.video == "a.mp4" for h in hits)


def test_merge_chains_through_a_grown_span():
    hits = [
        Hit("v", 0, 10, 0.9, "a", "caption"),
        Hit("v", 20, 30, 0.8, "b", "caption"),
        Hit("v", 8, 22, 0.7, "c", "caption"),
        Hit("w", 0, 10, 0.6, "d", "caption"),
    ]
    merged = merge_overlapping(hits)
    assert [(h.video, h.start_s, h.end_s, h.text) for h in merged] == [("v", 0, 30, "a"), ("w", 0, 10, "d")]


def test_merge_for_k_results_ignores_hits_below_the_kth_moment():
    hits = [
        Hit("v", 10, 20, 0.9, "a", "caption"),
        Hit("w", 0, 10, 0.8, "b", "caption"),
        Hit("x", 0, 10, 0.5, "would be the third moment", "caption"),
        Hit("v", 0, 60, 0.3, "weak and long", "caption"),
    ]
    assert [(h.start_s, h.end_s) for h in merge_overlapping(hits, k=2)] == [(10, 20), (0, 10)]
    assert [(h.start_s, h.end_s) for h in merge_overlapping(hits)] == [(0, 60), (0, 10), (0, 10)]


def test_eval_on_a_tiny_activitynet_file(tmp_path, embedder):
    from pipeline.config import IndexConfig
    from pipeline.evaluate import build_index, evaluate

    captions = {
        "v_1": {
            "duration": 100.0,
            "timestamps": [[0, 50], [50, 100]],
            "sentences": ["A man paints a fence.", "He cleans the brushes in a sink."],
        },
        "v_2": {
            "duration": 60.0,
            "timestamps": [[0, 30], [30, 60]],
            "sentences": ["A girl jumps on a trampoline.", "She falls and laughs."],
        },
    }
    queries = {
        "v_1": {"duration": 100.0, "timestamps": [[55, 95]], "sentences": ["Brushes are washed."]},
        "v_2": {"duration": 60.0, "timestamps": [[0, 25]], "sentences": ["A child bounces on a trampoline."]},
    }
    (tmp_path / "c.json").write_text(json.dumps(captions))
    (tmp_path / "q.json").write_text(json.dumps(queries))
    assert build_index(tmp_path / "c.json", tmp_path / "idx", embedder) == 4
    result = evaluate(tmp_path / "idx", tmp_path / "q.json", embedder)
    assert result["baseline"]["within_video"] == {"r1": 1.0, "r5": 1.0}
    assert result["baseline"]["global"]["r1"] == 1.0
    assert set(result["method"]) == {"global", "within_video"}
    # a method without context vectors, its baseline on an index of its own (as for another embedder)
    build_index(tmp_path / "c.json", tmp_path / "plain", embedder, IndexConfig(context_s=0))
    assert not (tmp_path / "plain" / "context.faiss").exists()
    build_index(tmp_path / "c.json", tmp_path / "base", embedder)
    other = evaluate(tmp_path / "plain", tmp_path / "q.json", embedder, baseline=(tmp_path / "base", embedder))
    assert other["baseline"] == result["baseline"]


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json", "csv"])
def test_export_formats(index, fmt):
    from pipeline.export import render, video_segments
    from pipeline.index import Catalog

    text = render(video_segments(Catalog(index), "a.mp4"), fmt)
    if fmt == "srt":
        assert text.startswith("1\n00:00:00,000 --> 00:00:59,999\nA red truck arrives")
        assert "2\n00:00:12,000 --> 00:00:19,999\n[truck] truck: a red truck stops" in text
    elif fmt == "vtt":
        assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:59.999\n")
        assert "00:02:00.000 --> 00:02:59.999\nA woman flips a pancake" in text
    elif fmt == "json":
        rows = json.loads(text)
        assert [r["start_s"] for r in rows] == [0.0, 12.0, 60.0, 120.0] and rows[1]["kind"] == "event"
    else:
        lines = text.strip().splitlines()
        assert lines[0] == "start_s,end_s,kind,label,text" and len(lines) == 5


def test_live_subtitles_count_from_the_first_chunk():
    from pipeline.export import render

    t0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z: a live source stores UTC seconds
    segments = [
        {"start_s": t0, "end_s": t0 + 8, "kind": "caption", "label": None, "text": "a gate opens"},
        {"start_s": t0 + 8, "end_s": t0 + 16, "kind": "caption", "label": None, "text": "a van drives in"},
    ]
    vtt = render(segments, "vtt")
    assert vtt.startswith("WEBVTT\n\nNOTE times count from 2025-11-24T16:00:00Z\n\n00:00:00.000 --> 00:00:07.999\n")
    assert "00:00:08.000 --> 00:00:15.999\na van drives in" in vtt
    assert "2\n00:00:08,000 --> 00:00:15,999\na van drives in" in render(segments, "srt")
    assert json.loads(render(segments, "json"))[0]["start_s"] == t0  # data keeps the UTC seconds


def test_hubness_marks_descriptions_close_to_everything(tmp_path, embedder):
    from pipeline.index import Catalog
    from pipeline.index.hubness import HUB_BETA, rank_scores

    generic = "A person is standing and talking to the camera."
    specific = [
        "A red truck backs into the loading dock.",
        "A girl juggles three oranges in a kitchen.",
        "Two dogs swim across a lake after a stick.",
        "A chef slices onions on a wooden board.",
        "Snow falls on parked cars at night.",
        "A man repairs a bicycle tyre in a garage.",
        "Children build a sandcastle on the beach.",
        "A woman paints a fence blue.",
        "Fireworks explode over a river.",
        "A cat knocks a glass off a table.",
        "Surfers ride a large wave at sunset.",
        "A baker pulls bread out of an oven.",
    ]
    writer = IndexWriter(tmp_path, embedder)
    for i, text in enumerate(specific):
        video = f"v{i}.mp4"
        writer.begin_video(video, video, 1, 20.0, "test", {})
        writer.write_batch(
            [
                ChunkDescription(ChunkSpan(video, video, 0, 10), f"{generic} Take {i}.", model="t"),
                ChunkDescription(ChunkSpan(video, video, 10, 20), text, model="t"),
            ]
        )
        writer.finish_video(video, "complete", num_chunks=2)
    writer.close()
    catalog = Catalog(tmp_path)
    rows = {r["text"]: r["hubness"] for r in catalog.db.execute("SELECT text, hubness FROM segments")}
    assert None not in rows.values() and int(catalog.get_meta("hubness_full_at")) >= 20
    hub_generic = min(h for t, h in rows.items() if t.startswith(generic))
    hub_specific = max(h for t, h in rows.items() if not t.startswith(generic))
    assert hub_generic > hub_specific  # the repeated description is a hub, every specific one is not
    gap = HUB_BETA * (hub_generic - hub_specific)
    ranked = rank_scores(np.array([0.60, 0.60 - gap / 2]), [hub_generic, hub_specific])
    assert ranked[1] > ranked[0]  # a slightly less similar segment that is not a hub ranks first
    assert rank_scores(np.array([0.5]), [None])[0] == 0.5  # no values yet: plain similarity
    hits = Searcher(tmp_path, embedder).search("a red truck at the loading dock", k=3)
    assert hits[0].video == "v0.mp4" and hits[0].start_s == 10.0
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))  # reported = ranked by

"""Search on small hand-built indexes with known answers: filters, distinct moments, localisation, removal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.index import IndexWriter
from pipeline.moments import covered_spans, distinct, iou
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


def assert_trustworthy(hits, index_dir) -> None:
    """Best first; each result's span made of indexed segments without a gap, its text one of theirs."""
    from pipeline.index import Catalog

    catalog = Catalog(index_dir)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True), scores
    for h in hits:
        video = catalog.find_video(h.video).video_id
        inside = [r for r in catalog.segments_between(video, h.start_s - 1e-6, h.end_s + 1e-6)
                  if r.start_s >= h.start_s - 1e-6 and r.end_s <= h.end_s + 1e-6]  # fmt: skip
        assert h.text in {r.text for r in inside}, (h, inside)
        spans = covered_spans(np.array([r.start_s for r in inside]), np.array([r.end_s for r in inside]))
        assert (h.start_s, h.end_s) in {tuple(x) for x in spans.tolist()}, (h, inside)


def test_a_moment_is_shown_once_with_its_own_span_and_text(index, embedder):
    hits = Searcher(index, embedder).search("red truck", k=4)
    # the caption 0-60 and its event 12-20 are different moments; a hit repeating one would be dropped
    assert (hits[0].video, hits[0].kind) == ("a.mp4", "event") and (hits[0].start_s, hits[0].end_s) == (12.0, 20.0)
    assert {(h.start_s, h.end_s) for h in hits if h.video == "a.mp4"} >= {(0.0, 60.0), (60.0, 120.0)}
    for x in hits:
        for y in hits:
            assert x is y or x.video != y.video or iou(x.start_s, x.end_s, y.start_s, y.end_s) < 0.7
    assert_trustworthy(hits, index)


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
    assert_trustworthy(hits, index)


def test_moments_localized_in_a_video_keep_to_the_time_filters(index, embedder):
    s = Searcher(index, embedder)
    for after_s, before_s in ((70, None), (None, 50), (65, 110)):
        hits = s.search("a red truck", 10, Filters(video="a.mp4", after_s=after_s, before_s=before_s))
        assert hits, (after_s, before_s)
        for h in hits:
            assert after_s is None or h.end_s > after_s, (h, after_s)
            assert before_s is None or h.start_s < before_s, (h, before_s)


def test_a_moment_found_in_a_video_is_described_by_the_segments_it_spans(tmp_path, embedder):
    """Segments with gaps between them (as events are): a result used to span 14.4-27.25 s, where nothing was
    indexed, with the text of the segment at 9.3-14.4 s, and scores came out of order."""
    events = [(2.0, 6.1, "a man opens the fridge"), (9.3, 14.4, "he takes out two eggs"),
              (27.25, 33.0, "he cracks the eggs into a bowl"), (33.0, 41.0, "he whisks the eggs"),
              (52.0, 58.0, "he pours the eggs into a pan")]  # fmt: skip
    writer = IndexWriter(tmp_path, embedder)
    writer.begin_video("v", "/v.mp4", 1, 60.0, "test", {})
    writer.write(
        ChunkDescription(
            ChunkSpan("v", "/v.mp4", 0, 60), "A man cooks eggs.", [Event(s, e, "", t) for s, e, t in events], model="t"
        )
    )
    writer.finish_video("v", "complete", num_chunks=1)
    writer.close()
    searcher = Searcher(tmp_path, embedder)
    for query in ("he gets eggs", "eggs are beaten", "the pan", "a fridge door"):
        hits = searcher.search(query, 5, Filters(video="v"))
        assert hits
        assert_trustworthy(hits, tmp_path)


def test_remove_drops_a_video(index, embedder):
    writer = IndexWriter(index, embedder)
    assert writer.remove_video("b.mp4") == 3
    writer.close()
    hits = Searcher(index, embedder).search("cyclists on a street", 5, merge=False)
    assert hits and all(h.video == "a.mp4" for h in hits)


def test_distinct_drops_only_hits_that_repeat_a_better_one():
    hits = [
        Hit("v", 0, 10, 0.9, "a", "caption"),
        Hit("v", 0.5, 10, 0.8, "a again", "event"),  # IoU 0.95 with the first: the same moment
        Hit("v", 0, 60, 0.7, "the chunk around it", "caption"),  # IoU 0.17: another moment
        Hit("w", 0, 10, 0.6, "d", "caption"),  # another video
    ]
    assert [h.text for h in distinct(hits)] == ["a", "the chunk around it", "d"]
    assert [h.text for h in distinct(hits, k=2)] == ["a", "the chunk around it"]


def test_covered_spans_join_runs_of_segments_but_never_a_gap():
    spans = covered_spans(np.array([0.0, 10.0, 30.0]), np.array([10.0, 20.0, 40.0]))
    assert spans.tolist() == [[0.0, 10.0], [0.0, 20.0], [10.0, 20.0], [30.0, 40.0]]


def test_eval_on_a_tiny_activitynet_file(tmp_path, embedder):
    from pipeline.evaluate import Catalog, build_index, evaluate, load_pair

    captions = {
        "v_1": {
            "duration": 100.0,
            "timestamps": [[0, 50], [50, 100], [50, 100]],  # two sentences of one span: both are indexed
            "sentences": ["A man paints a fence.", "He cleans the brushes in a sink.", "Brushes soak in water."],
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
    data = load_pair("tiny", tmp_path / "c.json", tmp_path / "q.json")
    assert build_index(data, tmp_path / "idx", embedder) == 5
    texts = {r.text for r in Catalog(tmp_path / "idx").segments(Catalog(tmp_path / "idx").segment_ids()).values()}
    assert {"He cleans the brushes in a sink.", "Brushes soak in water."} <= texts  # neither overwrote the other
    result = evaluate(tmp_path / "idx", data, embedder, embedder)
    assert result["baseline"]["within_video"] == {"r1": 1.0, "r5": 1.0}
    assert result["baseline"]["global"]["r1"] == 1.0 and result["indexed"] == 5
    assert set(result["method"]) == {"global", "within_video"}


def test_a_mixed_set_indexes_minute_captions_beside_every_sentence():
    from pipeline.evaluate import EvalSet, Moment

    data = EvalSet(
        "mixed",
        {"v": 130.0},
        [Moment("v", 10, 20, "a"), Moment("v", 50, 70, "b"), Moment("v", 125, 129, "c")],
        [],
        chunk_s=60.0,
    )
    assert [(m.start_s, m.end_s, m.text) for m in data.texts()[:3]] == [(0, 60, "a b"), (60, 120, "b"), (120, 130, "c")]
    assert len(data.texts()) == 6


def test_results_counted_fairly_when_several_score_the_same():
    """The same sentence in four videos, one of them the query's: a draw, counted as one chance in four."""
    from pipeline.evaluate import _hit_chances

    assert _hit_chances([False, True, False, False], [0.9, 0.9, 0.9, 0.9]) == (0.25, 1.0)
    assert _hit_chances([False] * 5 + [True] + [False] * 4, [1.0] * 4 + [0.5] * 6) == (0.0, pytest.approx(1 / 6))
    assert _hit_chances([True, False], [0.9, 0.8]) == (1.0, 1.0)
    assert _hit_chances([], []) == (0.0, 0.0)


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json", "csv"])
def test_export_formats(index, fmt):
    from pipeline.export import render
    from pipeline.index import Catalog

    text = render(Catalog(index).timeline("a.mp4"), fmt)
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

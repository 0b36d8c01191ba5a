"""Property-based tests (hypothesis) of the small parts everything leans on: the time parser, the search filters
against the catalog, and the record store under writes, rewrites, compaction and damage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.timefmt import TimeRangeError, check_range, hhmmss, parse_time
from pipeline.types import SegmentRecord
from tests.test_index import record

SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(
    hours=st.integers(0, 10_000),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
    fraction=st.sampled_from(["", ".5", ".25", ".125"]),
)
def test_clock_times_read_as_their_seconds(hours, minutes, seconds, fraction):
    expected = hours * 3600 + minutes * 60 + seconds + float(fraction or 0)
    assert parse_time(f"{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}") == expected
    assert parse_time(f"{minutes}:{seconds:02d}{fraction}") == minutes * 60 + seconds + float(fraction or 0)
    assert parse_time(f" {expected} ") == expected


@SETTINGS
@given(st.integers(0, 10**7))
def test_printed_times_read_back(seconds):
    assert parse_time(hhmmss(seconds)) == seconds


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_a_valid_time_or_a_value_error(text):
    try:
        value = parse_time(text)
    except ValueError as exc:
        assert len(str(exc)) < 600  # the message quotes a bounded part of the text (40 characters, escaped)
        return
    assert value is not None and value >= 0 and value == value and value != float("inf")


@SETTINGS
@given(st.one_of(st.none(), st.floats(0, 1e9)), st.one_of(st.none(), st.floats(0, 1e9)))
def test_a_range_is_refused_exactly_when_it_ends_before_it_starts(after, before):
    backwards = after is not None and before is not None and after > before
    if backwards:
        with pytest.raises(TimeRangeError):
            check_range(after, before)
    else:
        check_range(after, before)


segment = st.tuples(
    st.integers(0, 3),  # video
    st.floats(0, 500, allow_nan=False),  # start
    st.floats(0.01, 120, allow_nan=False),  # length
    st.sampled_from(["caption", "event"]),
    st.sampled_from(["", "truck", "Dog"]),
)


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(segment, min_size=1, max_size=40),
    video=st.one_of(st.none(), st.integers(0, 3)),
    window=st.tuples(st.one_of(st.none(), st.floats(0, 600)), st.one_of(st.none(), st.floats(0, 600))),
    kind=st.sampled_from([None, "caption", "event"]),
    label=st.sampled_from([None, "truck", "dog"]),
)
def test_catalog_filters_keep_exactly_the_segments_they_describe(segments, video, window, kind, label):
    """Time filters mean "overlaps [after, before]"; labels match whatever their case."""
    from pipeline.index.catalog import Catalog

    after, before = window
    assume(after is None or before is None or after <= before)
    rows = [
        SegmentRecord(segment_id=i + 1, chunk_id=f"c{i}", video_id=f"v{v}", video_path=f"/v{v}.mp4", start_s=s,
                      end_s=s + length, kind=k, text="t", label=lab, model="m")
        for i, (v, s, length, k, lab) in enumerate(segments)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog(Path(folder))
        catalog.upsert_segments(rows)
        got = set(catalog.select_ids(None if video is None else f"v{video}", after, before, kind, label))
        catalog.close()
    expected = {
        r.segment_id
        for r in rows
        if (video is None or r.video_id == f"v{video}")
        and (after is None or r.end_s > after)
        and (before is None or r.start_s < before)
        and (kind is None or r.kind == kind)
        and (label is None or r.label.lower() == label.lower())
    }
    assert got == expected


action = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 5), st.lists(st.integers(0, 20), min_size=1, max_size=4, unique=True)),
    st.tuples(st.just("compact"), st.just(0), st.just([])),
)


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(action, min_size=1, max_size=25), damage=st.booleans())
def test_the_record_store_keeps_each_segments_newest_row(actions, damage, monkeypatch_module):
    """Writes, rewrites of chunks already compacted, and compactions into volumes of a few rows: reading gives each
    chunk as it was last written (a rewrite with fewer segments keeps none of the old ones). A damaged file, read
    with an ``unreadable`` list, is named and only its rows go."""
    import os

    from pipeline.index import records

    monkeypatch_module.setattr(records, "VOLUME_BYTES", 3000)  # a volume holds a few chunks: many volumes
    newest: dict[int, dict[int, str]] = {}  # chunk -> its segments' texts
    ever: set[int] = set()
    with tempfile.TemporaryDirectory() as folder:
        store = records.RecordStore(Path(folder))
        for n, (what, chunk, ids) in enumerate(actions):
            if what == "compact":
                store.compact("v")
                continue
            rows = [record(1000 * chunk + i, f"c{chunk}", f"w{n}", [0.0], video_id="v") for i in ids]
            store.write_chunk("v", f"c{chunk}", rows)
            newest[chunk] = {r.segment_id: r.text for r in rows}  # a chunk written again: all its rows anew
            ever.update(newest[chunk])
        expected = {sid: text for rows in newest.values() for sid, text in rows.items()}
        assert sorted((r.segment_id, r.text) for r in store.rows("v")) == sorted(expected.items())
        assert store.segment_ids("v") == set(expected) and store.chunk_ids("v") == {f"c{c}" for c in newest}
        if damage and store._files("v"):
            files = store._files("v")
            victim = files[len(files) // 2]
            os.truncate(victim, victim.stat().st_size // 2)
            unreadable: list = []
            kept = {r.segment_id for r in store.rows("v", unreadable)}
            # an unreadable newer version of a chunk lets its older one (compacted before) be read again
            assert [u.path for u in unreadable] == [victim] and kept <= ever

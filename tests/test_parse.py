"""Reasoning/answer split and event parsing on well-formed, malformed and truncated model output."""

import pytest

from pipeline.describe.parse import parse_answer, split_reasoning
from pipeline.types import ChunkSpan

SPAN = ChunkSpan("v", "x.mp4", 60.0, 120.0)
GOOD = (
    '{"caption": "A red truck arrives at the gate.", "events": [{"start_s": 72.5, "end_s": 80, '
    '"label": "truck arrives", "description": "A red truck drives in."}]}'
)


def test_split_on_last_think_end():
    reasoning, answer, problem = split_reasoning("I see a truck.</think>maybe</think>\n" + GOOD)
    assert reasoning == "I see a truck.</think>maybe" and answer == GOOD and problem == ""


def test_reasoning_without_end_means_budget_exhausted():
    reasoning, answer, problem = split_reasoning("Let me think about frame 3 and")
    assert answer == "" and "did not finish" in problem and reasoning.startswith("Let me")


def test_non_thinking_output_is_all_answer():
    assert split_reasoning(GOOD, thinking=False) == ("", GOOD, "")


def test_well_formed_answer():
    caption, events, problem = parse_answer(GOOD, SPAN)
    assert caption == "A red truck arrives at the gate." and problem == ""
    assert [(e.start_s, e.end_s, e.label) for e in events] == [(72.5, 80.0, "truck arrives")]


def test_fenced_json_with_prose_around_it():
    caption, events, problem = parse_answer("Here you go:\n```json\n" + GOOD + "\n```\nDone.", SPAN)
    assert caption.startswith("A red truck") and len(events) == 1 and problem == ""


def test_truncated_json_is_repaired_keeping_complete_events():
    cut = GOOD[:-2] + ', {"start_s": 90, "end_s": 9'  # second event cut mid-number, object never closed
    caption, events, problem = parse_answer(cut, SPAN)
    assert caption.startswith("A red truck") and len(events) == 1 and "repaired" in problem


def test_trailing_comma_is_repaired():
    caption, events, problem = parse_answer(GOOD[:-2] + ",]}", SPAN)
    assert len(events) == 1 and "repaired" in problem


def test_not_json_is_kept_as_caption_with_problem():
    caption, events, problem = parse_answer("A man walks a dog along the beach.", SPAN)
    assert caption == "A man walks a dog along the beach." and events == [] and "no JSON object" in problem


def test_garbage_json_is_kept_as_caption_with_problem():
    caption, events, problem = parse_answer('{"caption": "half" "events": ]', SPAN)
    assert caption and events == [] and "not valid JSON" in problem


@pytest.mark.parametrize(
    "start,end,kept",
    [
        (50, 70, (60.0, 70.0)),  # starts before the chunk: clamped
        (110, 130, (110.0, 120.0)),  # ends after: clamped
        (10, 20, None),  # wholly before: dropped
        (130, 140, None),  # wholly after: dropped
        (90, 80, None),  # ends before it starts: rejected
        ("00:01:05", "1:10", (65.0, 70.0)),  # clock strings are understood
    ],
)
def test_event_times_are_clamped_or_rejected(start, end, kept):
    start_json, end_json = (f'"{v}"' if isinstance(v, str) else v for v in (start, end))
    answer = f'{{"caption": "c", "events": [{{"start_s": {start_json}, "end_s": {end_json}, "label": "x"}}]}}'
    _, events, problem = parse_answer(answer, SPAN)
    assert [(e.start_s, e.end_s) for e in events] == ([kept] if kept else [])
    assert bool(problem) == (kept is None)


def test_event_without_times_is_rejected_but_caption_kept():
    caption, events, problem = parse_answer('{"caption": "c", "events": [{"label": "x"}, "junk"]}', SPAN)
    assert caption == "c" and events == [] and "no numeric" in problem and "not an object" in problem

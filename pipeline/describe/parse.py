"""Turn the model's raw text into a caption and events.

    raw text -> split_reasoning -> (reasoning, answer) -> parse_answer -> (caption, [Event], problem)
    (reasoning, answer) -> describe_chunk -> ChunkDescription       what both model backends return

The Thinking model's prompt opens ``<think>``, so its output holds only the closing ``</think>``: the answer is
what follows the last one. Output that is not valid JSON is repaired when it can be, otherwise kept as a caption
with the problem recorded. Event times are clamped to the chunk; events wholly outside it are dropped.
"""

from __future__ import annotations

import json
import math
import re

from pipeline.types import ChunkDescription, ChunkSpan, Event

THINK_END = "</think>"
_MAX_CAPTION_CHARS = 1000


def split_reasoning(text: str, thinking: bool = True) -> tuple[str, str, str]:
    """(reasoning, answer, problem). With ``thinking`` and no ``</think>``, the reasoning never finished."""
    text = text.replace("<think>", "", 1) if text.lstrip().startswith("<think>") else text
    if THINK_END in text:
        reasoning, answer = text.rsplit(THINK_END, 1)
        return reasoning.strip(), answer.strip(), ""
    if thinking:
        return text.strip(), "", "reasoning did not finish (no </think>): output budget exhausted"
    return "", text.strip(), ""


def _strip_fences(text: str) -> str:
    match = re.search(r"```(?:json)?\s*(.*?)(```|$)", text, re.S)
    return match.group(1) if match else text


def _scan(text: str) -> tuple[list[str], bool, int] | None:
    """Walk JSON text: (closers for the brackets still open, inside a string?, end of the last complete value);
    None when a bracket closes that never opened."""
    stack, in_string, escaped, last_safe = [], False, False, -1
    for i, ch in enumerate(text):
        if in_string:
            escaped = (ch == "\\") and not escaped
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
            last_safe = i
        elif ch == ",":
            last_safe = i - 1
    return stack, in_string, last_safe


def _close_truncated(text: str) -> str | None:
    """Repair JSON cut off mid-way: cut back to the last complete value, then close what is still open there."""
    scan = _scan(text)
    if scan is None:
        return None
    stack, in_string, last_safe = scan
    if not stack and not in_string:
        return text
    head = text[: last_safe + 1].rstrip().rstrip(",")
    scan = _scan(head)
    return head + "".join(reversed(scan[0])) if head and scan is not None else None


def _loads_object(text: str) -> tuple[dict | None, str]:
    body = _strip_fences(text)
    start = body.find("{")
    if start < 0:
        return None, "answer has no JSON object"
    body = body[start:]
    try:
        obj, _ = json.JSONDecoder().raw_decode(body)
        return (obj, "") if isinstance(obj, dict) else (None, "answer JSON is not an object")
    except json.JSONDecodeError as exc:
        repaired = _close_truncated(body)
        if repaired is not None:
            repaired = re.sub(r",\s*([}\]])", r"\1", repaired)  # trailing commas
            try:
                obj = json.loads(repaired)
                if isinstance(obj, dict):
                    return obj, f"answer JSON repaired ({exc.msg} at char {exc.pos})"
            except json.JSONDecodeError:
                pass
        return None, f"answer is not valid JSON ({exc.msg} at char {exc.pos})"


def _seconds(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        parts = value.strip().rstrip("s").split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            return None
        total = 0.0
        for n in nums:
            total = total * 60 + n
        return total
    return None


def parse_events(items, span: ChunkSpan, offset_s: float = 0.0) -> tuple[list[Event], list[str]]:
    """Valid events clamped to ``[span.covered_start_s, span.covered_end_s]``, and a note for each one rejected.
    ``offset_s`` is added to the model's times first (for a model that counted from the start of the clip it was
    shown)."""
    events, notes = [], []
    if not isinstance(items, list):
        return [], ["events is not a list"] if items is not None else []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            notes.append(f"event {n} is not an object")
            continue
        start_s, end_s = _seconds(item.get("start_s", item.get("start"))), _seconds(item.get("end_s", item.get("end")))
        if start_s is not None and end_s is not None:
            start_s, end_s = start_s + offset_s, end_s + offset_s
        label = str(item.get("label") or "").strip()
        description = str(item.get("description") or "").strip()
        if start_s is None or end_s is None:
            notes.append(f"event {n} has no numeric start_s/end_s")
        elif end_s < start_s:
            notes.append(f"event {n} ends before it starts ({start_s}, {end_s})")
        elif end_s < span.covered_start_s or start_s > span.covered_end_s:
            covered = f"[{span.covered_start_s}, {span.covered_end_s}]"
            notes.append(f"event {n} [{start_s}, {end_s}] is outside the chunk {covered}")
        elif not (label or description):
            notes.append(f"event {n} has no label or description")
        else:
            events.append(
                Event(
                    max(start_s, span.covered_start_s),
                    min(end_s, span.covered_end_s),
                    label or description[:40],
                    description,
                )
            )
    return events, notes


def parse_answer(answer: str, span: ChunkSpan, offset_s: float = 0.0) -> tuple[str, list[Event], str]:
    """(caption, events, problem); ``problem`` is empty for a clean answer. ``offset_s``: see ``parse_events``."""
    obj, problem = _loads_object(answer)
    if obj is None:
        caption = re.sub(r"\s+", " ", answer).strip()[:_MAX_CAPTION_CHARS]
        return caption, [], problem
    caption = str(obj.get("caption") or "").strip()[:_MAX_CAPTION_CHARS]
    events, notes = parse_events(obj.get("events"), span, offset_s)
    if not caption and events:
        caption = "; ".join(e.description or e.label for e in events)[:_MAX_CAPTION_CHARS]
    problems = [p for p in [problem, *notes] if p]
    if not caption:
        problems.append("answer has no caption")
    return caption, events, "; ".join(problems)


def describe_chunk(
    span: ChunkSpan,
    reasoning: str,
    answer: str,
    problem: str,
    model: str,
    keep_reasoning: bool,
    input_tokens: int = 0,
    output_tokens: int = 0,
    offset_s: float = 0.0,
) -> ChunkDescription:
    """One chunk's description from the model's reasoning and answer; with no answer (the output budget ran out
    while thinking) the end of the reasoning is parsed instead. ``problem``: what went wrong before parsing."""
    caption, events, parse_problem = parse_answer(answer or reasoning[-2000:], span, offset_s)
    return ChunkDescription(
        span,
        caption or "(no caption)",
        events,
        model=model,
        reasoning=reasoning if keep_reasoning else "",
        problem="; ".join(p for p in (problem, parse_problem) if p),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )

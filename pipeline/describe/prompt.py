"""The instruction sent with each chunk. Times in the prompt are absolute seconds on the video's clock."""

from __future__ import annotations

ANSWER_SCHEMA = (
    '{"caption": "<one or two plain sentences about what is seen>", "events": [{"start_s": <number>, '
    '"end_s": <number>, "label": "<2-5 words>", "description": "<one sentence>"}]}'
)


def build_prompt_text(start_s: float, end_s: float) -> str:
    return (
        f"These frames are seconds {start_s:.1f} to {end_s:.1f} of a longer video; the time before each frame is "
        "its absolute position in seconds. Describe them for a search index.\n"
        "Answer with JSON only, in this form:\n"
        f"{ANSWER_SCHEMA}\n"
        "List each distinct action or change as an event, with start_s and end_s taken from the frame times "
        f"(between {start_s:.1f} and {end_s:.1f}). Use an empty list when nothing happens."
    )

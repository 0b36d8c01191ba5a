"""The instruction sent with each chunk. Times in the prompt are absolute seconds on the video's clock, except
for a chunk sent as one video file (the OpenAI backend's ``send: video``), whose server numbers its frames from 0."""

from __future__ import annotations

ANSWER_SCHEMA = (
    '{"caption": "<one or two plain sentences about what is seen>", "events": [{"start_s": <number>, '
    '"end_s": <number>, "label": "<2-5 words>", "description": "<one sentence>"}]}'
)


def build_prompt_text(start_s: float, end_s: float, clip_duration_s: float | None = None) -> str:
    """With ``clip_duration_s``, event times are asked for in seconds from the clip's first frame."""
    if clip_duration_s is None:
        what = "These frames are"
        clock = "the time before each frame is its absolute position in seconds. Describe them"
        times = f"taken from the frame times (between {start_s:.1f} and {end_s:.1f})"
    else:
        what = "This video is"
        clock = "its own timestamps count from 0 at its first frame. Describe it"
        times = f"in seconds from the start of this video (between 0 and {clip_duration_s:.1f})"
    return (
        f"{what} seconds {start_s:.1f} to {end_s:.1f} of a longer video; {clock} for a search index.\n"
        "Answer with JSON only, in this form:\n"
        f"{ANSWER_SCHEMA}\n"
        f"List each distinct action or change as an event, with start_s and end_s {times}. Use an empty list when "
        "nothing happens."
    )

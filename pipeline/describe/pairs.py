"""Frames as Qwen3-VL's temporal patches: the processor merges two consecutive frames into one patch and writes
the mean of their two times before it. Frames sampled one step apart pair up as they always did; a frame kept
alone by change-aware sampling (its neighbours dropped as unchanged) is paired with itself, so no patch spans
more than one sampling step and every ``<t seconds>`` stays within half a step of its frames' true PTS."""

from __future__ import annotations

import numpy as np

PAIR_GAP = 1.5  # sampling steps: two frames closer than this are consecutive samples


def temporal_pairs(pts_s: np.ndarray, step_s: float) -> list[int]:
    """Frame indices in the order the processor takes them, two per temporal patch (a frame alone repeated)."""
    order: list[int] = []
    i = 0
    while i < len(pts_s):
        if i + 1 < len(pts_s) and pts_s[i + 1] - pts_s[i] <= PAIR_GAP * step_s:
            order += [i, i + 1]
            i += 2
        else:
            order += [i, i]
            i += 1
    return order


def num_patches(pts_s: np.ndarray, step_s: float) -> int:
    return len(temporal_pairs(pts_s, step_s)) // 2

"""What is said on a live source (`vidseek watch` with speech on): its audio, demuxed beside the frames on the same
UTC clock (pipeline.decode.stream), transcribed chunk by chunk as a file's is (pipeline.speech).

A chunk's window reaches ``speech.margin_s`` past each side, and the chunk keeps the utterances that start inside
it, so a sentence said across two chunks is indexed once, whole, by the chunk it starts in. A chunk's speech
therefore waits until the audio has run ``margin_s`` past its end; it is transcribed with what there is when the
audio lags the frames by ``LATE_AUDIO_S`` more (a stalled or absent track) and when the watch stops.

    listener = LiveListener(margin_s)       one per source
    listener.hear(piece) / .note(reason)    reader thread: audio as it comes, or why there is none
    listener.wait_for(span)                 commit thread: a chunk cut (UTC span)
    listener.due(frames_to_s, closing)      commit thread: [(span, its window's AudioClip, note)] now complete
"""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np

from pipeline.decode.audio import SAMPLE_RATE, AudioClip
from pipeline.decode.stream import StreamAudio
from pipeline.types import ChunkSpan

LATE_AUDIO_S = 10.0  # audio this far behind the frames no longer holds a chunk's speech back
HELD_S = 900.0  # audio kept at most (64 KB a second): a source whose video stalls while its audio goes on, cutting
# no chunk, must not fill memory; a chunk waiting for the model (live.max_queued_chunks) needs less than this


class LiveListener:
    def __init__(self, margin_s: float) -> None:
        self.margin_s = margin_s
        self._lock = threading.Lock()
        self._pieces: deque[StreamAudio] = deque()
        self._heard_to = -math.inf  # UTC end of the audio heard so far
        self._note = ""  # why the source gives no audio, if it does not
        self._waiting: deque[ChunkSpan] = deque()

    def hear(self, piece: StreamAudio) -> None:
        with self._lock:
            self._pieces.append(piece)
            self._heard_to = max(self._heard_to, piece.end_s)
            while self._pieces[0].end_s < self._heard_to - HELD_S:
                self._pieces.popleft()

    def note(self, reason: str) -> None:
        with self._lock:
            self._note = reason

    def wait_for(self, span: ChunkSpan) -> None:
        self._waiting.append(span)

    def due(self, frames_to_s: float, closing: bool = False) -> list[tuple[ChunkSpan, AudioClip, str]]:
        """The chunks whose window is complete (see the module's docstring), in order, each with its window's
        audio (silence where none came) and why there is none; the audio no later window needs is let go."""
        out = []
        with self._lock:
            while self._waiting:
                span = self._waiting[0]
                until = span.end_s + self.margin_s
                if not (closing or self._heard_to >= until or frames_to_s >= until + LATE_AUDIO_S):
                    break
                out.append((self._waiting.popleft(), self._window(span.start_s - self.margin_s, until), self._note))
            if out:  # the next window starts at or after the last one's end, less the margin
                keep_from = out[-1][0].end_s - self.margin_s
                while self._pieces and self._pieces[0].end_s < keep_from:
                    self._pieces.popleft()
        return out

    def _window(self, start_s: float, end_s: float) -> AudioClip:
        """The audio of ``[start_s, end_s)``, silence where none came (a drop); empty when none came at all."""
        heard = [p for p in self._pieces if p.utc_s < end_s and p.end_s > start_s]
        if not heard:
            return AudioClip(np.zeros(0, np.float32), start_s)
        start_s = max(start_s, heard[0].utc_s)  # nothing before the first audio heard: the window starts there
        samples = np.zeros(int(round((end_s - start_s) * SAMPLE_RATE)), np.float32)
        for piece in heard:
            at = int(round((piece.utc_s - start_s) * SAMPLE_RATE))
            part = piece.samples[max(0, -at) :][: len(samples) - max(0, at)]
            samples[max(0, at) : max(0, at) + len(part)] = part
        end = min(len(samples), int(round((self._heard_to - start_s) * SAMPLE_RATE)))
        return AudioClip(samples[: max(0, end)], round(start_s, 6))

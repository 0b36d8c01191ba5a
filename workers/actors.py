"""Ray actor bodies: thin wrappers that load once and call the pipeline's stage functions many times.

They do not import Ray; ``workers.ray_job`` turns them into actors with the resources the job assigns.
"""

from __future__ import annotations

from collections import OrderedDict

from pipeline.config import DecodeConfig, DescribeConfig, FramesConfig, SpeechConfig
from pipeline.decode import DecodeError, open_reader
from pipeline.decode.change import ChangeSampler
from pipeline.describe import describe_chunks, make_describer
from pipeline.types import ChunkDescription, ChunkSpan, FrameChunk, Needs, VideoInfo

_OPEN_READERS = 2  # a decode worker moves through one time range at a time; keep few files open


class DecodeWorker:
    """Reads chunk spans; keeps the reader of the file it is on open between calls (forward reads), and picks the
    frames that changed (decode.sampling: change), so only those travel to a model worker. With the frame index
    on (``frames``), it also embeds every frame it read, so the driver can index them before any model worker
    describes the chunk (the visual model is loaded on the first such call)."""

    def __init__(
        self, cfg: DecodeConfig, frames: FramesConfig | None = None, speech: SpeechConfig | None = None
    ) -> None:
        self.cfg, self.frames, self.speech = cfg, frames, speech
        self._readers: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._visual = self._transcriber = None

    def _reader(self, info: VideoInfo, backend: str):
        key = (info.path, backend)
        if key not in self._readers:
            reader = ChangeSampler(open_reader(info, self.cfg, "opencv" if backend == "opencv" else None), self.cfg)
            self._readers[key] = reader
            while len(self._readers) > _OPEN_READERS:
                self._readers.popitem(last=False)[1].close()
        self._readers.move_to_end(key)
        return self._readers[key]

    def read(
        self, info: VideoInfo, span: ChunkSpan, backend: str = "auto", needs: Needs = Needs(True, False, False)
    ) -> tuple[FrameChunk | None, dict]:
        """(the frames to describe, or None; status). The status holds ``error`` or the reader's ``warning``,
        whether the span is ``still`` (nothing to describe: it carries the description before it) and how many
        frames were decoded, and with ``needs.frames`` the frame spans of every decoded frame (``frames``, a few
        small vectors) and the model that made them, and with ``needs.speech`` the span's transcript (``speech``,
        pipeline.speech: the Whisper model is loaded on the first such call). A span that needs only its
        transcript decodes no frame. Two returns: the driver fetches only the small status and hands the frames
        to a model worker by reference."""
        said = {"speech": self._transcript(info, span)} if needs.speech else {}
        if not needs.frames_read:
            return None, {"error": "", "warning": "", "decoder": "", "still": False, "frames_decoded": 0} | said
        try:
            reader = self._reader(info, backend)
            sampled = reader.read(span)
        except DecodeError as exc:
            return None, {"error": exc.reason, "warning": "", "decoder": ""} | said
        chunk = sampled.chunk
        status = {
            "error": "",
            "warning": reader.warning,
            "decoder": chunk.decoder,
            "still": sampled.still,
            "frames_decoded": chunk.frames_decoded,
        } | said
        if needs.frames:
            status |= {"frames": self._frame_records(chunk), "frame_model": self.frames.model}
        return (None if sampled.still else sampled.for_model()), status

    def _transcript(self, info: VideoInfo, span: ChunkSpan):
        from pipeline.speech import make_transcriber, transcribe_span

        if self._transcriber is None:
            self._transcriber = make_transcriber(self.speech)
        return transcribe_span(self._transcriber, info.path, span, self.speech.margin_s)

    def _frame_records(self, chunk: FrameChunk) -> list:
        from pipeline.embed.visual import make_visual_embedder
        from pipeline.index.frames import frame_records

        if self._visual is None:
            self._visual = make_visual_embedder(self.frames.model, self.frames.device, self.frames.batch_size)
        return frame_records(chunk, self._visual, self.frames.merge_cosine)


class ModelWorker:
    """One per GPU: ``__init__`` loads the model, ``describe`` runs one batch."""

    def __init__(self, cfg: DescribeConfig) -> None:
        self.describer = make_describer(cfg)
        self.describer.load()

    def describe(self, *chunks: FrameChunk) -> list[ChunkDescription]:
        return describe_chunks(self.describer, list(chunks))

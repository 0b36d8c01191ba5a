"""Change-aware sampling (decode.sampling: change) on real footage, with the tiny Qwen3-VL through the real
processor and generate(): frames that did not change are not sent, still chunks carry the description before
them, every second keeps a caption, and nothing that happens is missed.

The fixed camera is one-by-one-person-detection.mp4's empty room held still with sensor noise, with the clip's
first visitor (its seconds 5-22) inserted at 40 s: the activity seconds are its labels
(benchmarks/activity_labels.json) moved by 35 s.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.decode import open_reader, plan_spans, probe
from pipeline.decode.change import ChangeSampler, change_signal, changed_frames, thumbnail
from pipeline.describe import make_describer
from pipeline.describe.fake import FrameCountDescriber
from pipeline.dry_run import dry_run
from pipeline.index import Catalog, IndexWriter, rebuild_index
from pipeline.job import run_local, write_run_summary
from pipeline.media import content_id
from pipeline.types import ChunkSpan
from tests.clips import write_fixed_camera
from tests.conftest import REPO, media_path

PERSON = "one-by-one-person-detection.mp4"
INSERTED_AT, CLIP_FROM, CLIP_TO = 40.0, 5.0, 22.0
CHANGE = ["ray.enabled=false", "decode.chunk_s=10", "decode.max_still_s=60"]
LABELS = json.loads((REPO / "benchmarks" / "activity_labels.json").read_text())


def activity_seconds() -> list[float]:
    """The inserted visitor's labelled seconds on the made file's clock."""
    shift = INSERTED_AT - CLIP_FROM
    return [t + shift for a, b in LABELS[PERSON] for t in range(a, b) if CLIP_FROM <= t < CLIP_TO]


@pytest.fixture(scope="module")
def fixed_camera(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "fixed_camera.mp4"
    plan = [("hold", INSERTED_AT), ("clip", CLIP_FROM, CLIP_TO), ("hold", 120.0 - INSERTED_AT - (CLIP_TO - CLIP_FROM))]
    return str(write_fixed_camera(path, media_path(PERSON), plan))


@pytest.fixture(scope="module")
def ingested(fixed_camera, tmp_path_factory, embedder):
    """The fixed camera ingested once with the tiny model: (index folder, report, config)."""
    index = tmp_path_factory.mktemp("idx")
    cfg = load_config("tiny.yaml", CHANGE)
    writer = IndexWriter(index, embedder)
    report = run_local(cfg, [fixed_camera], writer, make_describer(cfg.describe))
    write_run_summary(index, report, 0.0, [fixed_camera])
    writer.close()
    return index, report, cfg


def captions(index) -> list:
    catalog = Catalog(index)
    rows = catalog.db.execute("SELECT segment_id FROM segments WHERE kind='caption' ORDER BY start_s").fetchall()
    out = list(catalog.segments(r[0] for r in rows).values())
    catalog.close()
    return sorted(out, key=lambda s: s.start_s)


def records(index, video_id):
    from pipeline.index.records import RecordStore

    return {r.chunk_id: r for r in RecordStore(index).rows(video_id) if r.kind == "caption"}


# -- the signal ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def room():
    """The empty room and a frame with the first visitor, decoded as ingest decodes them (448 px)."""
    path = media_path(PERSON)
    chunk = open_reader(probe(path), load_config(None).decode).read(ChunkSpan("v", path, 0.0, 12.0))
    return chunk.frames[0], chunk.frames[10]


def test_the_signal_ignores_noise_lighting_drift_and_compression(room):
    empty, _ = room
    rng = np.random.default_rng(1)
    reference = thumbnail(empty)
    for gain, offset in ((1.0, 0.0), (1.0, -30.0), (0.85, 10.0), (1.1, -15.0)):  # lamps, clouds, auto-exposure
        noisy = empty.astype(np.float32) * gain + offset + rng.normal(0, 8, empty.shape)
        signal = change_signal(thumbnail(np.clip(noisy, 0, 255).astype(np.uint8)), reference)
        assert signal < 24, (gain, offset, signal)
    import cv2

    _, jpeg = cv2.imencode(".jpg", empty, [cv2.IMWRITE_JPEG_QUALITY, 30])  # heavy compression artefacts
    assert change_signal(thumbnail(cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)), reference) < 24


def test_the_signal_sees_a_person_even_small_in_the_frame(room):
    empty, visitor = room
    assert change_signal(thumbnail(visitor), thumbnail(empty)) > 100
    h, w, _ = empty.shape
    small = cv2_resize(visitor, (w // 6, h // 6))  # the whole scene a sixth as large: the visitor ~16 px tall
    far = empty.copy()
    far[h - h // 6 :, w // 2 : w // 2 + w // 6] = small  # ... pasted into the room's floor
    background = empty.copy()
    background[h - h // 6 :, w // 2 : w // 2 + w // 6] = cv2_resize(empty, (w // 6, h // 6))
    assert change_signal(thumbnail(far), thumbnail(background)) > 24


def cv2_resize(image, size):
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def test_changed_frames_compare_with_the_last_frame_kept():
    """A slow change that never differs much from the frame before it is still caught against the last kept."""
    frames = [np.full((10, 96), 100.0, np.float32) for _ in range(6)]
    for i, f in enumerate(frames):
        f[2:5, 10:14] += 10 * i  # a patch brightening by 10 levels a frame
    assert changed_frames(frames, None, 24) == [0, 3]  # 30 levels past frame 0 at frame 3
    assert changed_frames(frames, frames[0], 24) == [3]


# -- ingest ------------------------------------------------------------------------------------------------------
def test_every_activity_second_has_a_frame_the_model_saw(ingested):
    index, report, _ = ingested
    seen = np.array([t for r in records(index, report_video_id(index)).values() for t in r.frame_pts])
    missed = [t for t in activity_seconds() if not np.any(np.abs(seen - t) <= 1.0)]
    assert not missed, f"activity seconds with no frame sent within 1 s: {missed}"


def report_video_id(index) -> str:
    catalog = Catalog(index)
    (video,) = catalog.videos()
    catalog.close()
    return video.video_id


def test_still_chunks_carry_the_description_before_them_and_cost_no_call(ingested, fixed_camera):
    index, report, cfg = ingested
    (result,) = report.results
    assert result.status == "ingested", result.reason
    rows = records(index, content_id(fixed_camera))
    spans = plan_spans(probe(fixed_camera), content_id(fixed_camera), cfg.decode)
    by_start = {s.start_s: rows[s.chunk_id] for s in spans}
    assert set(rows) == {s.chunk_id for s in spans}  # every chunk indexed once: described or carried
    described = [start for start, r in by_start.items() if not r.carried_from]
    # the first chunk, the visitor's two, and one every max_still_s (60 s) of the grid
    assert described == [0.0, 40.0, 50.0, 60.0], described
    first, refresh = by_start[0.0], by_start[60.0]
    for start in (10.0, 20.0, 30.0):  # the empty room before the visitor repeats the first description
        carried = by_start[start]
        assert carried.carried_from == first.chunk_id and carried.text == first.text and carried.frame_pts == []
        assert carried.input_tokens == carried.output_tokens == 0 and carried.frames_decoded == 10
    assert all(by_start[s].carried_from == refresh.chunk_id for s in (70.0, 80.0, 90.0, 100.0, 110.0))
    assert len(refresh.frame_pts) == 1 and refresh.frame_pts[0] == pytest.approx(60.0, abs=0.11)  # a still refresh
    costs = result.costs
    assert (costs.model_calls, costs.carried, costs.frames_decoded) == (4, 8, 120)
    assert costs.frames_sent == sum(len(r.frame_pts) for r in rows.values()) < 0.25 * costs.frames_decoded


def test_every_second_lies_in_some_caption(ingested):
    index, _, _ = ingested
    covered = 0.0
    for c in captions(index):
        assert c.start_s <= covered + 1e-6, f"a hole before {c.start_s}"
        covered = max(covered, c.end_s)
    assert covered == pytest.approx(120.0)


def test_status_and_the_run_summary_report_what_was_sent(ingested):
    index, report, _ = ingested
    catalog = Catalog(index)
    (costs,) = catalog.costs().values()
    catalog.close()
    assert costs == report.results[0].costs
    (summary,) = (index / "runs").glob("*.json")
    run = json.loads(summary.read_text())
    assert run["costs"]["model_calls"] == 4 and run["costs"]["carried"] == 8
    assert run["videos"][0]["costs"]["frames_sent"] == costs.frames_sent
    assert run["costs"]["input_tokens"] == costs.input_tokens > 0


def test_a_scene_that_holds_is_found_over_the_whole_stretch(ingested, embedder):
    from pipeline.search import Searcher

    index, _, _ = ingested
    first = captions(index)[0]
    hits = Searcher(index, embedder).search(first.text, k=3)
    held = [h for h in hits if h.text == first.text and h.start_s == 0.0]
    assert held and held[0].end_s == pytest.approx(40.0), hits  # described at 0 s, carried until the visitor


def test_the_dry_run_scan_counts_what_ingest_sends(ingested, fixed_camera, tmp_path):
    _, report, cfg = ingested
    (line,) = dry_run([fixed_camera], cfg, tmp_path / "none", scan=True)
    ingest = report.results[0].costs
    scanned = line.costs
    assert (scanned.model_calls, scanned.carried, scanned.frames_sent, scanned.frames_decoded) == (
        ingest.model_calls,
        ingest.carried,
        ingest.frames_sent,
        ingest.frames_decoded,
    )
    (plain,) = dry_run([fixed_camera], cfg, tmp_path / "none")
    assert (plain.costs.model_calls, plain.costs.frames_sent) == (12, 120)  # no scan: every chunk, every frame


def test_the_rebuild_restores_carried_captions(ingested, tmp_path, embedder):
    import shutil

    index, _, _ = ingested
    copy = tmp_path / "copy"
    shutil.copytree(index, copy)

    def kept(segments):
        return {(c.segment_id, c.start_s, c.end_s, c.text, c.carried_from) for c in segments}

    before = kept(captions(copy))
    for part in copy.glob("catalog.sqlite*"):
        part.unlink()
    rebuild_index(copy, embedder)
    after = kept(captions(copy))
    assert after == before and sum(bool(c[-1]) for c in after) == 8
    catalog = Catalog(copy)
    assert list(catalog.costs().values()) == list(Catalog(index).costs().values())
    catalog.close()


# -- resume after a crash --------------------------------------------------------------------------------------
class Crash(Exception):
    pass


@pytest.mark.parametrize("where", ["in the still stretch", "describing the first chunk after it"])
def test_a_crash_then_a_rerun_leaves_every_second_once(where, fixed_camera, tmp_path, embedder, monkeypatch):
    """Killed (an exception stands in for kill -9: nothing is closed or saved) after two still chunks were carried,
    or while the model describes the visitor's chunk; the rerun indexes every span once and nothing twice."""
    cfg = load_config(None, [*CHANGE, "describe.batch_size=1"])  # each chunk described as soon as it is decoded
    describer = FrameCountDescriber()
    writer = IndexWriter(tmp_path, embedder)
    calls = {"carried": 0}
    write = writer.write

    def crashing_write(description, decoder=""):
        if where == "in the still stretch" and description.carried_from:
            calls["carried"] += 1
            if calls["carried"] == 3:
                raise Crash
        return write(description, decoder)

    def crashing_describe(chunks):
        if where != "in the still stretch" and any(c.span.start_s == INSERTED_AT for c in chunks):
            raise Crash
        return FrameCountDescriber.describe(describer, chunks)

    monkeypatch.setattr(writer, "write", crashing_write)
    monkeypatch.setattr(describer, "describe", crashing_describe)
    with pytest.raises(Crash):
        run_local(cfg, [fixed_camera], writer, describer)
    writer.lock.release()  # the process is gone: so is its lease
    writer.catalog.close()
    before = set(records(tmp_path, content_id(fixed_camera)))
    assert 0 < len(before) < 12

    rerun = IndexWriter(tmp_path, embedder)
    report = run_local(cfg, [fixed_camera], rerun, FrameCountDescriber())
    rerun.close()
    assert report.results[0].status == "ingested"
    spans = plan_spans(probe(fixed_camera), content_id(fixed_camera), cfg.decode)
    rows = records(tmp_path, content_id(fixed_camera))
    assert set(rows) == {s.chunk_id for s in spans} and before <= set(rows)
    catalog = Catalog(tmp_path)
    per_chunk = dict(catalog.db.execute("SELECT chunk_id, COUNT(*) FROM segments WHERE kind='caption' GROUP BY 1"))
    catalog.close()
    assert set(per_chunk.values()) == {1} and len(per_chunk) == 12
    assert report.results[0].costs.model_calls + report.results[0].costs.carried == 12 - len(before)


# -- files that never change, and that always do ------------------------------------------------------------------
def test_a_file_that_never_changes_is_described_once_per_max_still(tmp_path, embedder, media):
    card = write_fixed_camera(tmp_path / "card.mp4", media("smpte-2997.mp4"), [("hold", 120.0)], noise=3.0)
    cfg = load_config("tiny.yaml", [*CHANGE, "decode.max_still_s=40"])
    writer = IndexWriter(tmp_path / "idx", embedder)
    report = run_local(cfg, [str(card)], writer, make_describer(cfg.describe))
    writer.close()
    rows = records(tmp_path / "idx", content_id(str(card))).values()
    sent = sorted((r.start_s, len(r.frame_pts)) for r in rows if not r.carried_from)
    assert sent == [(0.0, 1), (40.0, 1), (80.0, 1)]  # once per 40 s, from one frame
    assert (report.results[0].costs.model_calls, report.results[0].costs.carried) == (3, 9)


def test_a_file_that_changes_every_frame_costs_no_more_than_fixed(tmp_path, embedder):
    """Noise in every frame: change-aware sampling sends every frame and every chunk, as fixed sampling does."""
    import av

    path = tmp_path / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for _ in range(5 * 30):
            image = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sent = {}
    for sampling in ("change", "fixed"):
        cfg = load_config("tiny.yaml", [*CHANGE, f"decode.sampling={sampling}"])
        writer = IndexWriter(tmp_path / sampling, embedder)
        report = run_local(cfg, [str(path)], writer, make_describer(cfg.describe))
        writer.close()
        rows = records(tmp_path / sampling, content_id(str(path))).values()
        sent[sampling] = sorted((r.start_s, len(r.frame_pts)) for r in rows)
        assert report.results[0].costs.carried == 0
    assert sent["change"] == sent["fixed"] == [(0.0, 10), (10.0, 10), (20.0, 10)]


# -- the model sees true times ------------------------------------------------------------------------------------
def test_frames_kept_unevenly_keep_their_true_times_in_the_prompt(room):
    """Consecutive samples share a temporal patch (their mean time, as with fixed sampling); a frame kept alone
    gets a patch of its own, labelled with its own PTS."""
    from pipeline.config import DescribeConfig
    from pipeline.describe.qwen3vl import Qwen3VLDescriber, rendered_timestamps
    from pipeline.types import FrameChunk

    empty, visitor = room
    pts = np.array([100.0, 101.0, 117.0, 131.0, 132.0, 133.0])
    frames = np.stack([cv2_resize(f, (224, 126)) for f in (empty, visitor, empty, visitor, empty, visitor)])
    chunk = FrameChunk(ChunkSpan("v", "x.mp4", 100.0, 160.0), frames, pts, frames_decoded=60)
    describer = Qwen3VLDescriber(DescribeConfig(model="tiny-random", max_new_tokens=64, thinking_budget=8))
    describer.load()
    inputs = describer.build_inputs([chunk])
    shown = rendered_timestamps(describer.processor.batch_decode(inputs["input_ids"])[0])
    assert list(shown) == [100.5, 117.0, 131.5, 133.0]
    from pipeline.describe.estimate import PROMPT_TEXT_TOKENS, TOKENS_PER_TIMESTAMP, estimate_frames

    info = probe(media_path(PERSON))  # 768x432: 224x126 at max_side 224, 7 x 4 visual tokens a patch
    tokens_in, _ = estimate_frames(chunk, info, load_config(None, ["decode.max_side=224"]).decode, describer.cfg)
    video_pad = describer.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    visual = int((inputs["input_ids"][0] == video_pad).sum())
    assert inputs["video_grid_thw"][0][0] == 4 and visual == 4 * 7 * 4  # four temporal patches
    assert tokens_in == PROMPT_TEXT_TOKENS + visual + 4 * TOKENS_PER_TIMESTAMP  # ... as the estimate counts them


def test_the_sampler_reads_the_frame_before_a_span_out_of_order(fixed_camera):
    """A span read alone (another worker, a resume) compares with the sample before it, as one read in order
    does: the same frames are kept either way."""
    cfg = load_config(None, CHANGE).decode
    info = probe(fixed_camera)
    spans = plan_spans(info, "v", cfg)
    in_order = ChangeSampler(open_reader(info, cfg), cfg)
    kept = {s.start_s: in_order.read(s).kept for s in spans}
    for span in spans[3:7]:
        alone = ChangeSampler(open_reader(info, cfg), cfg)
        assert alone.read(span).kept == kept[span.start_s], span
    assert kept[10.0] == kept[20.0] == [] and kept[0.0] == [0] and len(kept[40.0]) > 5


def test_fixed_sampling_sends_every_frame(fixed_camera):
    cfg = load_config(None, [*CHANGE, "decode.sampling=fixed"]).decode
    info = probe(fixed_camera)
    sampler = ChangeSampler(open_reader(info, cfg), cfg)
    assert all(len(sampler.read(s).for_model().frames) == 10 for s in plan_spans(info, "v", cfg))
    assert math.isclose(sum(s.duration_s for s in plan_spans(info, "v", cfg)), 120.0)

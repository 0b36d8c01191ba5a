"""The visual embedder plug point with a tiny random SigLIP through transformers' real processor and model code. Its
weights are random: it cannot see, so these tests check the mechanics (shapes, one space for frames and words,
determinism, merging near-identical frames), never what it finds."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.embed.visual import TINY_SIGLIP, FrameSpan, build_tiny_siglip, frame_spans, make_visual_embedder


@pytest.fixture(scope="module")
def tiny():
    embedder = make_visual_embedder(TINY_SIGLIP, device="cpu")
    embedder.load()
    return embedder


def frames_of(name: str, seconds: float):
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, probe
    from pipeline.types import ChunkSpan
    from tests.conftest import media_path

    info = probe(media_path(name))
    return open_reader(info, DecodeConfig(fps=1.0, max_side=448)).read(ChunkSpan("v", info.path, 0.0, seconds))


def test_frames_and_words_land_in_one_space(tiny):
    chunk = frames_of("bikes.mp4", 4.0)
    images = tiny.embed_images(chunk.frames)
    texts = tiny.embed_texts(["a red truck arrives", "a dog"])
    assert images.shape == (len(chunk.frames), tiny.dim) and texts.shape == (2, tiny.dim)
    assert images.dtype == np.float32 and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert np.array_equal(tiny.embed_images(chunk.frames), images)  # the same frames, the same vectors
    assert tiny.embed_images(chunk.frames[:0]).shape == (0, tiny.dim)
    assert build_tiny_siglip() == build_tiny_siglip()  # built once, then loaded from the cache


def test_near_identical_consecutive_frames_merge_into_one_span():
    a, b, c = np.eye(3, dtype=np.float32)
    vectors = np.stack([a, a, (a + 0.01 * b) / np.linalg.norm(a + 0.01 * b), b, b, c])
    spans = frame_spans(vectors, np.arange(6.0), end_s=6.0, min_cosine=0.95)
    assert [(s.start_s, s.end_s, s.frames) for s in spans] == [(0, 3, 3), (3, 5, 2), (5, 6, 1)]
    assert all(isinstance(s, FrameSpan) and np.isclose(np.linalg.norm(s.vector), 1) for s in spans)
    assert len(frame_spans(vectors, np.arange(6.0), end_s=6.0, min_cosine=1.01)) == 6  # never merge
    assert frame_spans(vectors[:0], np.arange(0.0), end_s=6.0) == []


def test_a_fixed_camera_costs_fewer_vectors_than_moving_footage(tiny):
    """Mechanics only: frames of a fixed camera differ in a few pixels, so even random weights map them close."""
    spans = {}
    for name in ("one-by-one-person-detection.mp4", "bikes.mp4"):
        chunk = frames_of(name, 10.0)
        spans[name] = frame_spans(tiny.embed_images(chunk.frames), chunk.pts_s, chunk.span.end_s, 0.95)
        assert sum(s.frames for s in spans[name]) == len(chunk.frames)
        assert spans[name][0].start_s == chunk.pts_s[0] and spans[name][-1].end_s == chunk.span.end_s
    assert len(spans["one-by-one-person-detection.mp4"]) * 2 < len(spans["bikes.mp4"])


def test_the_onnx_text_tower_embeds_words_as_the_model_does(tiny, tmp_path, monkeypatch):
    """A text search of the frame index runs on the exported text tower (no torch): same ids as the processor,
    same vectors as the model."""
    from pipeline.embed.text_tower import OnnxTextTower, ensure_text_tower

    monkeypatch.setenv("VIDSEEK_CACHE", str(tmp_path))
    folder = ensure_text_tower(TINY_SIGLIP)
    assert folder is not None and folder.parent == tmp_path / "onnx"
    tower = OnnxTextTower(folder, TINY_SIGLIP)
    texts = ["a red truck at the gate", "Someone walks a DOG in the park at night, slowly." * 8, "?"]
    assert np.allclose(tower.embed_texts(texts), tiny.embed_texts(texts), atol=1e-4)
    assert ensure_text_tower(TINY_SIGLIP) == folder  # exported once


def test_a_text_search_of_the_frame_index_imports_no_torch_and_prints_nothing(tmp_path, media, embedder):
    """Cold searches of an index with frames took 10 s (torch and transformers imported to embed the words) and
    printed transformers' warnings and a loading bar on stderr."""
    import subprocess
    import sys

    from pipeline.config import load_config
    from pipeline.index import IndexWriter
    from pipeline.job import run_local
    from tests.conftest import REPO

    index = tmp_path / "idx"
    overrides = ["ray.enabled=false", "decode.chunk_s=4", "describe.backend=none", "frames.enabled=true"]
    cfg = load_config("tiny.yaml", [*overrides, f"frames.model={TINY_SIGLIP}", "frames.device=cpu"])
    writer = IndexWriter(index, embedder)  # the real MiniLM: a search process loads the index's own
    run_local(cfg, [media("bikes.mp4")], writer, None)
    writer.close()
    script = (
        "import sys\nfrom pipeline.search import Searcher\n"
        f"hits = Searcher.open({str(index)!r}).search('cyclists on a street', 2)\n"
        "assert hits and all(h.kind == 'frames' for h in hits)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = {**__import__("os").environ, "VIDSEEK_CACHE": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stderr == "", first.stderr  # exported here, quietly
    again = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.strip() == "False False" and again.stderr == "", again

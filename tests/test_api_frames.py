"""The frame index over HTTP: `modality` on /search and image queries on POST /search/image (the tiny random SigLIP:
it cannot see, so what is found is noise; the bounds, errors and shapes are what is checked)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.embed.fake import HashingEmbedder
from pipeline.index import IndexWriter
from pipeline.job import run_local
from tests.test_api import LiveServer

FRAMES = ["ray.enabled=false", "decode.chunk_s=4", "describe.backend=none", "frames.enabled=true"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from pipeline.describe.fake import FrameCountDescriber
    from tests.conftest import media_path
    from workers.api import Service, create_app

    index = tmp_path_factory.mktemp("index")
    cfg = load_config("tiny.yaml", [*FRAMES, "frames.model=tiny-random-siglip", "frames.device=cpu"])
    writer = IndexWriter(index, HashingEmbedder())
    run_local(cfg, [media_path("bikes.mp4")], writer, None)
    run_local(cfg.model_copy(update={"describe": cfg.describe.model_copy(update={"backend": "transformers"})}),
              [media_path("bikes.mp4")], writer, FrameCountDescriber())  # fmt: skip
    writer.close()
    service = Service(index, cfg, [tmp_path_factory.mktemp("media")], None)
    service.embedder = HashingEmbedder()
    with LiveServer(create_app(service)) as url:
        yield url


def png(width: int = 64, height: int = 48) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(out, "PNG")
    return out.getvalue()


def test_search_by_image_and_by_modality(server):
    found = httpx.post(f"{server}/search/image?k=2", content=png(), headers={"content-type": "image/png"}).json()
    assert len(found["results"]) == 2 and all(r["kind"] == "frames" for r in found["results"])
    visual = httpx.get(f"{server}/search", params={"q": "cyclists", "modality": "visual"}).json()["results"]
    text = httpx.get(f"{server}/search", params={"q": "cyclists", "modality": "text"}).json()["results"]
    both = httpx.get(f"{server}/search", params={"q": "cyclists", "k": 20}).json()["results"]
    assert visual and all(r["kind"] == "frames" for r in visual)
    assert text and all(r["kind"] in ("caption", "event") for r in text)
    assert {r["kind"] for r in both} <= {"caption", "event", "frames"} and any(r["kind"] != "frames" for r in both)


def test_image_queries_are_bounded_and_named(server):
    wrong_type = httpx.post(f"{server}/search/image", content=png(), headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    garbage = httpx.post(f"{server}/search/image", content=b"\x89PNG nonsense", headers={"content-type": "image/png"})
    assert garbage.status_code == 422 and "not an image that can be read" in garbage.json()["error"]
    huge = httpx.post(f"{server}/search/image", content=b"0" * (21 * 2**20), headers={"content-type": "image/png"})
    assert huge.status_code == 413
    bomb = png(8000, 6000)  # a small file declaring 48 million pixels
    assert len(bomb) < 2**20
    refused = httpx.post(f"{server}/search/image", content=bomb, headers={"content-type": "image/png"})
    assert refused.status_code == 422 and "pixels" in refused.json()["error"]
    bad_modality = httpx.get(f"{server}/search", params={"q": "x", "modality": "pixels"})
    assert bad_modality.status_code == 422

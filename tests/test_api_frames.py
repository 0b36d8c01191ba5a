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


def test_media_types_are_case_insensitive_and_need_a_subtype(server):
    for content_type in ("IMAGE/PNG", "Image/Png; charset=binary", "image/png"):
        answer = httpx.post(f"{server}/search/image", content=png(), headers={"content-type": content_type})
        assert answer.status_code == 200, (content_type, answer.text)
    for content_type in ("image/", "image", "image/ png", "text/image/png"):
        answer = httpx.post(f"{server}/search/image", content=png(), headers={"content-type": content_type})
        assert answer.status_code == 415, (content_type, answer.text)


def test_pictures_too_small_to_search_by_are_refused(server):
    for width, height in ((64, 1), (64, 3), (2, 64)):
        answer = httpx.post(f"{server}/search/image", content=png(width, height), headers={"content-type": "image/png"})
        assert answer.status_code == 422 and "less than 8 on a side" in answer.json()["error"], answer.text


def test_large_pictures_wait_their_turn_and_the_event_loop_stays_free(server):
    """Ten 39.6-megapixel pictures at once: decoded one at a time (the pixels in flight are bounded), off the
    event loop, so /healthz answers meanwhile (it took 3.6 s when they were decoded on the loop)."""
    import threading
    import time

    picture = png(6000, 6600)
    answers, health_s = [], []

    def post():
        answers.append(
            httpx.post(f"{server}/search/image", content=picture, headers={"content-type": "image/png"}, timeout=300)
        )

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    while any(t.is_alive() for t in threads):
        start = time.perf_counter()
        assert httpx.get(f"{server}/healthz", timeout=60).status_code == 200
        health_s.append(time.perf_counter() - start)
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    assert health_s and max(health_s) < 1.0, health_s


def test_the_pixel_budget_lets_one_large_picture_in_at_a_time():
    import asyncio

    from workers.api_search import PixelBudget

    async def run():
        budget, inside, peak = PixelBudget(100), [0], [0]

        async def query(pixels):
            counted = min(pixels, budget.limit)  # a picture larger than the budget (refused before) waits for all
            async with budget.hold(pixels):
                inside[0] += counted
                peak[0] = max(peak[0], inside[0])
                await asyncio.sleep(0.01)
                inside[0] -= counted

        await asyncio.gather(*(query(p) for p in (80, 80, 30, 20, 500)))
        return peak[0], budget.used

    peak, left = asyncio.run(run())
    assert peak <= 100 and left == 0


def test_the_processor_is_told_the_layout_of_a_thin_picture():
    """A picture 3 pixels high is (3, W, 3): the processor alone would guess it channels-first."""
    from PIL import Image

    from pipeline.embed.visual import TINY_SIGLIP, make_visual_embedder

    visual = make_visual_embedder(TINY_SIGLIP, device="cpu")
    thin = np.random.default_rng(0).integers(0, 255, (3, 40, 3), dtype=np.uint8)
    ours = visual.embed_images(thin[None])[0]
    pixels = visual.processor(images=[Image.fromarray(thin)], return_tensors="pt")["pixel_values"]  # unambiguous
    import torch

    from pipeline.embed.visual import _unit

    with torch.inference_mode():
        truth = _unit(visual.model.get_image_features(pixel_values=pixels))[0]
    assert np.allclose(ours, truth, atol=1e-5)

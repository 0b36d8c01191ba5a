"""The web page in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium): type a
query, click the first result, and the player must be playing from that result's second."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pipeline.index import IndexWriter
from pipeline.types import ChunkDescription, ChunkSpan, Event
from tests.test_api import LiveServer, service_for

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("Chromium is not installed here (apt-get install -y chromium chromium-driver; .ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(DRIVER)))
    yield driver
    driver.quit()


def index_bunny(
    tmp_path, media, embedder, name: str = "bunny", folder: str = "", model: str = "test"
) -> tuple[Path, Path]:
    """An index of Big Buck Bunny's first 30 s (VP8: plays in any Chromium build) as ``folder/name.webm``: three
    captions and one event, described by ``model``. Called again with another name or folder, it adds a video to
    the same index."""
    root = tmp_path / "media"
    (root / folder).mkdir(parents=True, exist_ok=True)
    video = root / folder / f"{name}.webm"
    shutil.copy(media("big_buck_bunny_0_30.webm"), video)
    index = tmp_path / "index"
    writer = IndexWriter(index, embedder)
    video_id = f"{folder}-{name}" if folder else name
    writer.begin_video(video_id, str(video), video.stat().st_size, 30.0, model, {})
    writer.write_batch(
        [
            ChunkDescription(
                ChunkSpan(video_id, str(video), 0, 10), "Title cards over a green landscape.", model=model
            ),
            ChunkDescription(
                ChunkSpan(video_id, str(video), 10, 20),
                "A big rabbit wakes up in his burrow.",
                [Event(12.0, 16.0, "rabbit", "the rabbit stretches")],
                model=model,
            ),
            ChunkDescription(ChunkSpan(video_id, str(video), 20, 30), "Butterflies fly over a meadow.", model=model),
        ]
    )
    writer.finish_video(video_id, "complete", num_chunks=3)
    writer.close()
    return index, root


def test_click_a_result_plays_the_video_from_its_second(tmp_path, media, embedder, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    index, root = index_bunny(tmp_path, media, embedder)
    with LiveServer(service_for(index, root, embedder)) as url:
        browser.get(url + "/")
        box = browser.find_element(By.ID, "q")
        box.send_keys("butterflies in a meadow", Keys.ENTER)
        first = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))[0]
        start_s = float(first.get_attribute("data-start"))
        assert start_s == 20.0
        first.click()
        at = WebDriverWait(browser, 60).until(
            lambda d: d.execute_script(
                "const v = document.getElementById('player');"
                "return v.readyState >= 1 && !v.seeking ? v.currentTime : null;"
            )
        )
        assert abs(at - start_s) <= 1.0, at
        tracks = browser.execute_script("return [...document.getElementById('player').textTracks].map(t => t.mode)")
        assert tracks == ["showing"]
        marks = browser.find_elements(By.CSS_SELECTOR, "#timeline .event")
        assert len(marks) == 1
        shot = tmp_path / "web-result.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000


def test_each_result_says_which_model_wrote_it_and_that_tiny_model_text_is_noise(tmp_path, media, embedder, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    index, root = index_bunny(tmp_path, media, embedder, model="tiny-random")
    index, root = index_bunny(tmp_path, media, embedder, name="real", model="Qwen/Qwen3-VL-8B-Thinking")
    with LiveServer(service_for(index, root, embedder)) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "q").send_keys("butterflies in a meadow", Keys.ENTER)
        cards = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        by_video = {c.get_attribute("data-video"): c for c in cards}
        tiny, real = by_video["bunny"], by_video["real"]
        assert "described by tiny-random" in tiny.text and "its text is noise" in tiny.text, tiny.text
        assert "described by Qwen/Qwen3-VL-8B-Thinking" in real.text and "noise" not in real.text, real.text


def test_ask_shows_an_answer_whose_citation_plays_its_moment(tmp_path, media, embedder, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.test_answers import ScriptedModel

    index, root = index_bunny(tmp_path, media, embedder)
    app = service_for(index, root, embedder)
    app.state.service.text_model = ScriptedModel()  # cites the first moment, and one that was never retrieved
    with LiveServer(app) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "q").send_keys("when do butterflies fly?")
        browser.find_element(By.ID, "ask").click()
        cite = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#answer .cite"))[0]
        assert cite.text == "[bunny.webm 00:00:20-00:00:30]"
        assert "not among the retrieved moments" in browser.find_element(By.ID, "answer").text
        assert browser.find_elements(By.CSS_SELECTOR, "#answer .unverified")
        cite.click()
        at = WebDriverWait(browser, 60).until(
            lambda d: d.execute_script(
                "const v = document.getElementById('player');"
                "return v.readyState >= 1 && !v.seeking ? v.currentTime : null;"
            )
        )
        assert abs(at - 20.0) <= 1.0, at
        browser.find_element(By.ID, "summarize").click()
        WebDriverWait(browser, 30).until(lambda d: "stretches" in d.find_element(By.ID, "answer").text)
        assert "model calls" in browser.find_element(By.ID, "status").text


def test_the_filter_row_narrows_the_search(tmp_path, media, embedder, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    index_bunny(tmp_path, media, embedder, "bunny")
    index_bunny(tmp_path, media, embedder, "copy", "a")
    index, root = index_bunny(tmp_path, media, embedder, "copy", "b")

    def cards(query: str) -> list[str]:
        box = browser.find_element(By.ID, "q")
        box.clear()
        box.send_keys(query, Keys.ENTER)
        WebDriverWait(browser, 30).until(lambda d: "result" in d.find_element(By.ID, "status").text)
        return [c.find_element(By.CLASS_NAME, "meta").text for c in browser.find_elements(By.CSS_SELECTOR, ".card")]

    with LiveServer(service_for(index, root, embedder)) as url:
        browser.get(url + "/")
        parsed = browser.execute_script(
            "return ['95', '1:35', '00:01:35.5', '2026-11-24T23:59:01Z', ''].map(seconds)"
            ".concat([(() => { try { seconds('1:x'); } catch (e) { return e.message; } })()])"
        )
        assert parsed == [95, 95, 95.5, 1795564741, None, '"1:x" is not a time (s or HH:MM:SS)']
        assert {m.split(" · ")[0] for m in cards("a rabbit")} == {"bunny.webm", "copy.webm"}
        choices = [o.text for o in Select(browser.find_element(By.ID, "video")).options]
        assert choices == ["all videos", f"{root}/a/copy.webm", f"{root}/b/copy.webm", "bunny.webm"]  # by path
        Select(browser.find_element(By.ID, "video")).select_by_visible_text(f"{root}/b/copy.webm")
        WebDriverWait(browser, 30).until(  # a changed filter runs the query again, no Enter needed
            lambda d: "bunny.webm" not in d.find_element(By.ID, "results").text
        )
        assert {m.split(" · ")[0] for m in cards("a rabbit")} == {"copy.webm"}
        Select(browser.find_element(By.ID, "kind")).select_by_visible_text("event")
        events = cards("a rabbit")
        assert events[0].startswith("copy.webm · 00:00:12-00:00:16")
        assert all(m.split(" · ")[3] == "event" for m in events)
        Select(browser.find_element(By.ID, "kind")).select_by_visible_text("any")
        browser.find_element(By.ID, "label").send_keys("Rabbit")  # labels match case-insensitively
        labelled = cards("wakes up")
        assert labelled and all(m.split(" · ")[3] == "event" for m in labelled), labelled  # only events carry labels
        browser.find_element(By.ID, "label").clear()
        browser.find_element(By.ID, "after").send_keys("0:00:21")
        found = cards("a rabbit")
        assert found and all(m.split(" · ")[1].split("-")[1] > "00:00:21" for m in found), found  # moments ending after
        browser.find_element(By.ID, "before").send_keys("0:15")  # before its "from": the server says why
        box = browser.find_element(By.ID, "q")
        box.send_keys(Keys.ENTER)
        WebDriverWait(browser, 30).until(lambda d: "later than before" in d.find_element(By.ID, "status").text)


def test_a_file_name_holding_html_is_shown_as_text_and_runs_no_script(tmp_path, media, embedder, browser):
    """A file named like an HTML tag, ingested and found: its name shows as text; no script runs (the page holds
    the API key), and the server's policy would refuse inline script besides."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    name = "<img src=x onerror=alert(1)>"
    index, root = index_bunny(tmp_path, media, embedder, name)
    with LiveServer(service_for(index, root, embedder)) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "q").send_keys("butterflies in a meadow", Keys.ENTER)
        cards = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        time.sleep(1.0)  # time for an injected image's error handler to fire
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - raises when no script called alert()
        assert cards[0].find_element(By.CLASS_NAME, "meta").text.startswith(f"{name}.webm · 00:00:20")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#results img")) == len(cards)  # thumbnails only
        assert browser.execute_script("return document.querySelectorAll('[onerror]').length") == 0
        thumb = cards[0].find_element(By.TAG_NAME, "img").get_attribute("src")
        assert "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E/thumbnail" in thumb  # the id travels escaped


def test_the_page_and_vidseek_agree_on_a_frames_time(tmp_path, embedder, browser):
    """A video that starts 1.08 s after its audio: the frame vidseek reports first is the frame the browser
    presents first, at the same second (vidseek used to say 0.0 for it)."""
    from pipeline.config import DecodeConfig
    from pipeline.decode import open_reader, plan_spans, probe
    from tests.clips import write_late_video

    root = tmp_path / "media"
    root.mkdir()
    video = write_late_video(root / "late.webm")
    info = probe(video)
    cfg = DecodeConfig(fps=2.0)
    (span,) = plan_spans(info, "late", cfg)
    chunk = open_reader(info, cfg).read(span)
    writer = IndexWriter(tmp_path / "index", embedder)
    writer.begin_video("late", str(video), video.stat().st_size, info.duration_s, "test", {})
    writer.write(ChunkDescription(chunk.span, "a grey screen that brightens", model="test"))
    writer.finish_video("late", "complete", num_chunks=1)
    writer.close()
    with LiveServer(service_for(tmp_path / "index", root, embedder)) as url:
        browser.get(url + "/")
        presented = browser.execute_async_script(
            "const done = arguments[arguments.length - 1], v = document.getElementById('player');"
            "v.muted = true; v.src = '/videos/late/stream';"
            "v.requestVideoFrameCallback((now, frame) => { v.pause(); done(frame.mediaTime); });"
            "v.play().catch((e) => done(String(e)));"
        )
    assert presented == pytest.approx(float(chunk.pts_s[0]), abs=1e-3) and presented > 1.0


def test_more_results_pages_on_and_results_group_by_file(tmp_path, media, embedder, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    index_bunny(tmp_path, media, embedder, "bunny")
    index_bunny(tmp_path, media, embedder, "copy", "a")
    index, root = index_bunny(tmp_path, media, embedder, "copy", "b")

    def moments() -> set[tuple[str, str]]:
        cards = browser.find_elements(By.CSS_SELECTOR, ".card")
        spans = [c.find_element(By.CLASS_NAME, "meta").text.split(" · ")[1] for c in cards]
        return {(c.get_attribute("data-video"), span) for c, span in zip(cards, spans, strict=True)}

    def shown(n: int) -> None:
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) == n)

    with LiveServer(service_for(index, root, embedder)) as url:
        browser.get(url + "/")
        browser.execute_script("PAGE = 5")  # pages of 5: the 12 moments of three videos take three pages
        browser.find_element(By.ID, "q").send_keys("a rabbit", Keys.ENTER)
        shown(5)
        more = browser.find_element(By.ID, "more")
        assert more.is_displayed()
        more.click()
        shown(10)
        more.click()
        shown(12)
        WebDriverWait(browser, 30).until(lambda d: not more.is_displayed())  # the last page
        assert len(moments()) == 12  # no moment twice across pages
        browser.find_element(By.ID, "grouped").click()  # a changed filter runs the query again
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "h3.group")) == 3)
        groups = [g.text for g in browser.find_elements(By.CSS_SELECTOR, "h3.group")]
        assert sorted(groups) == ["bunny.webm", "copy.webm", "copy.webm"]
        shown(9)  # each file's best three moments under its name
        assert "3 files, 9 moments" in browser.find_element(By.ID, "status").text


def test_an_uploaded_image_and_more_like_this_find_moments_by_their_frames(tmp_path, media, browser):
    """The frame index from the page: an uploaded image lists moments found by their frames, and a result's
    "more like this" searches by its own frame (the tiny random SigLIP: it cannot see, so which moments come back
    is noise; that the page sends the images and shows the answers is what is checked)."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.config import load_config
    from pipeline.embed.fake import HashingEmbedder
    from pipeline.job import run_local
    from workers.api import Service, create_app

    root = tmp_path / "media"
    root.mkdir()
    video = root / "bunny.webm"
    shutil.copy(media("big_buck_bunny_0_30.webm"), video)
    overrides = ["ray.enabled=false", "decode.chunk_s=10", "describe.backend=none", "frames.enabled=true"]
    cfg = load_config("tiny.yaml", [*overrides, "frames.model=tiny-random-siglip", "frames.device=cpu"])
    writer = IndexWriter(tmp_path / "index", HashingEmbedder())
    run_local(cfg, [str(video)], writer, None)
    writer.close()
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 48), (40, 160, 60)).save(still)
    service = Service(tmp_path / "index", cfg, [root], None)
    service.embedder = HashingEmbedder()

    def status_says(text: str) -> None:
        WebDriverWait(browser, 60).until(lambda d: text in d.find_element(By.ID, "status").text)

    with LiveServer(create_app(service)) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "image").send_keys(str(still))
        status_says("moments that look like still.png")
        cards = browser.find_elements(By.CSS_SELECTOR, ".card")
        assert cards and all(" · frames" in c.find_element(By.CLASS_NAME, "meta").text for c in cards)
        start = float(cards[0].get_attribute("data-start"))
        cards[0].find_element(By.CLASS_NAME, "alike").click()
        status_says(f"moments that look like the frame at {time.strftime('%H:%M:%S', time.gmtime(int(start)))}")
        assert browser.find_elements(By.CSS_SELECTOR, ".card")
        assert browser.execute_script("return document.getElementById('player').currentSrc") == ""  # not played

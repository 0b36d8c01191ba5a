"""`vidseek mcp` as an agent reaches it: the MCP SDK's own client over stdio, a real index, every tool, bad arguments
answered as tool errors (never a traceback), and the tool list's schemas. The tiny random Qwen3-VL answers `ask`
and `summarize`: it cannot describe or answer anything, so those tests check the structure, not the words."""

from __future__ import annotations

import json
import shutil
import sys

import anyio
import pytest

from pipeline.config import IndexConfig
from pipeline.index import IndexWriter
from pipeline.types import ChunkDescription, ChunkSpan, Event
from tests.conftest import REPO

pytest.importorskip("mcp")
pytestmark = pytest.mark.slow

TEXTS = {
    (0.0, 60.0): ("A red truck arrives at the warehouse gate.", [Event(12.0, 20.0, "truck", "a red truck stops")]),
    (60.0, 120.0): ("A woman flips a pancake in a kitchen.", []),
}
TOOLS = {"search", "search_image", "ask", "summarize", "list_videos", "get_video", "ingest"}


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("mcp") / "idx"
    writer = IndexWriter(folder, embedder, index_cfg=IndexConfig(context_neighbours=0))
    writer.begin_video("vid1", "/videos/yard.mp4", 1, 120.0, "test", {})
    for (s, e), (caption, events) in TEXTS.items():
        writer.write(ChunkDescription(ChunkSpan("vid1", "/videos/yard.mp4", s, e), caption, events, model="test"))
    writer.finish_video("vid1", "complete", num_chunks=2)
    writer.close()
    return folder


def session_run(index, media_root, steps):
    """Start `vidseek mcp` over stdio, initialise, and run ``steps(session)`` (an async function)."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    args = ["-m", "workers.cli", "mcp", "--index", str(index), "--media-root", str(media_root),
            "--play-url", "http://127.0.0.1:8000/", "--config", "tiny.yaml",
            "--set", "ray.enabled=false", "--set", "decode.chunk_s=5"]  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(REPO))

    async def main():
        with anyio.fail_after(300):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await steps(session)

    return anyio.run(main)


def payload(result):
    assert not result.is_error, result.content[0].text
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) else content
    return json.loads(result.content[0].text)


def test_tools_search_videos_and_errors(index, tmp_path):
    async def steps(session):
        listed = await session.list_tools()
        found = await session.call_tool("search", {"query": "when does the red truck arrive?", "k": 3})
        one_video = await session.call_tool("search", {"query": "pancake", "video": "yard.mp4", "k": 1})
        videos = await session.call_tool("list_videos", {})
        window = await session.call_tool("get_video", {"video": "vid1", "after_s": 10, "before_s": 30})
        errors = [
            await session.call_tool("search", {"query": "  "}),
            await session.call_tool("search", {"query": "truck", "k": 0}),
            await session.call_tool("search", {"query": "truck", "video": "nope.mp4"}),
            await session.call_tool("search", {"query": "truck", "after_s": 50, "before_s": 10}),
            await session.call_tool("search", {"k": "many"}),
            await session.call_tool("get_video", {"video": "nope.mp4"}),
            await session.call_tool("ingest", {"paths": ["/etc/passwd"]}),
            await session.call_tool("search", {"query": "truck", "modality": "visual"}),
            await session.call_tool("search_image", {"path": "/etc/passwd"}),
            # the API's bounds (pipeline.limits), not looser ones
            await session.call_tool("search", {"query": "x" * 100_000}),
            await session.call_tool("search", {"query": "truck", "after_s": -5}),
            await session.call_tool("search", {"query": "truck", "k": 5, "offset": 999}),
            await session.call_tool("ask", {"question": "why?" * 200}),
            await session.call_tool("get_video", {"video": "vid1", "before_s": float("1e300")}),
        ]
        second = await session.call_tool("search", {"query": "when does the red truck arrive?", "k": 1, "offset": 1})
        return listed, found, one_video, videos, window, errors, second

    listed, found, one_video, videos, window, errors, second = session_run(index, tmp_path, steps)
    assert {t.name for t in listed.tools} == TOOLS
    schema = next(t for t in listed.tools if t.name == "search").input_schema
    assert schema["required"] == ["query"] and {
        "k",
        "offset",
        "video",
        "after_s",
        "before_s",
        "kind",
        "label",
        "modality",
    } <= set(schema["properties"])
    hits = payload(found)
    assert hits[0]["video"] == "/videos/yard.mp4" and hits[0]["video_id"] == "vid1"
    assert hits[0]["start_s"] < 60 and "truck" in hits[0]["text"]
    assert hits[0]["url"].startswith("http://127.0.0.1:8000/videos/vid1/stream#t=")
    local = payload(one_video)
    assert len(local) == 1 and "pancake" in local[0]["text"] and 60 <= local[0]["start_s"] < 120
    listing = payload(videos)
    assert listing["total"] == 1 and listing["videos"][0]["status"] == listing["videos"][0]["state"] == "complete"
    got = payload(window)
    assert got["video"]["path"] == "/videos/yard.mp4" and not got["truncated"]
    assert {s["text"] for s in got["segments"]} == {
        "A red truck arrives at the warehouse gate.",
        "truck: a red truck stops",
    }
    messages = [e.content[0].text for e in errors]
    assert all(e.is_error for e in errors), messages
    assert "the query is empty" in messages[0] and "k must be 1 to 100" in messages[1]
    assert "no indexed video matches 'nope.mp4'" in messages[2] and "after" in messages[3]
    assert "k" in messages[4] and "no indexed video matches 'nope.mp4'" in messages[5]
    assert "outside the media roots" in messages[6]
    assert "has no frame index: ingest with frames.enabled=true first" in messages[7]
    assert "outside the media roots" in messages[8]
    assert "100000 characters, more than 500" in messages[9] and "after must be a time from 0" in messages[10]
    assert "offset + k at most 1000" in messages[11] and "800 characters, more than 500" in messages[12]
    assert "before must be a time from 0" in messages[13]
    assert not any("Traceback" in m for m in messages)
    assert payload(second)[0]["text"] == hits[1]["text"]  # offset pages through the same ranking


def test_ingest_ask_and_summarize(index, tmp_path, media):
    target = tmp_path / "idx"
    shutil.copytree(index, target)
    root = tmp_path / "footage"
    root.mkdir()
    shutil.copy(media("bikes.mp4"), root / "bikes.mp4")

    async def steps(session):
        ingested = await session.call_tool("ingest", {"paths": [str(root)]})
        videos = await session.call_tool("list_videos", {"status": "complete"})
        answer = await session.call_tool("ask", {"question": "when does the red truck arrive?"})
        summary = await session.call_tool("summarize", {"video": "yard.mp4"})
        return ingested, videos, answer, summary

    ingested, videos, answer, summary = session_run(target, root, steps)
    report = payload(ingested)
    assert report["exit_code"] == 0 and [v["status"] for v in report["videos"]] == ["ingested"]
    assert payload(videos)["total"] == 2
    answered = payload(answer)
    assert answered["moments"] and answered["moments"][0]["video_id"] == "vid1"  # retrieval is real; the words not
    summarized = payload(summary)
    assert summarized["start_s"] == 0 and summarized["end_s"] == 120 and isinstance(summarized["summary"], str)


def test_streamable_http_needs_the_key_and_serves_the_tools(index, tmp_path):
    import os
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VIDSEEK_API_KEY": "k3y"}
    server = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "mcp", "--index", str(index), "--media-root", str(tmp_path),
         "--http", "--port", str(port)],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
            except urllib.error.HTTPError as exc:
                refused = exc
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the MCP server did not start"
                time.sleep(0.5)
        assert refused.code == 401 and "X-API-Key" in json.loads(refused.read())["error"]
        with pytest.raises(urllib.error.HTTPError) as in_url:  # a key in the URL is not looked at here
            urllib.request.urlopen(urllib.request.Request(f"{url}?key=k3y", data=b"{}", method="POST"), timeout=5)
        assert in_url.value.code == 401

        async def main():
            async with (
                httpx2.AsyncClient(headers={"X-API-Key": "k3y"}, timeout=60) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await session.call_tool("search", {"query": "a pancake in the kitchen", "k": 1})

        hits = payload(anyio.run(main))
        assert "pancake" in hits[0]["text"] and "url" not in hits[0]  # no --play-url: no playable url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_search_image_finds_moments_by_their_frames(tmp_path, media, embedder):
    """The frame index through MCP (the tiny random SigLIP: it cannot see; the path, bounds and shape are what is
    checked): an image under the media roots finds moments of kind frames."""
    from PIL import Image

    from pipeline.config import load_config
    from pipeline.job import run_local

    overrides = ["ray.enabled=false", "decode.chunk_s=5", "describe.backend=none", "frames.enabled=true"]
    cfg = load_config("tiny.yaml", [*overrides, "frames.model=tiny-random-siglip", "frames.device=cpu"])
    writer = IndexWriter(tmp_path / "idx", embedder)  # the server loads the index's own text model by name
    run_local(cfg, [media("fire2.mp4")], writer, None)
    writer.close()
    root = tmp_path / "pictures"
    root.mkdir()
    Image.new("RGB", (64, 48), (200, 80, 20)).save(root / "flame.png")

    async def steps(session):
        return await session.call_tool("search_image", {"path": str(root / "flame.png"), "k": 2})

    hits = payload(session_run(tmp_path / "idx", root, steps))
    assert len(hits) == 2 and all(h["kind"] == "frames" and h["start_s"] < h["end_s"] for h in hits)

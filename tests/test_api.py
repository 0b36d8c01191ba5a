"""The HTTP API over real HTTP on loopback: search, videos, range requests, thumbnails, captions, auth, path
traversal, bounds, ingest jobs while searching, metrics."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_config
from pipeline.index import IndexWriter
from pipeline.types import ChunkDescription, ChunkSpan, Event


class LiveServer:
    def __init__(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, embedder):
    return make_setup(tmp_path_factory, embedder)


def make_setup(tmp_path_factory, embedder):
    """A media root with two clips and a symlink that leads outside it; an index with one described video and
    a catalog row pointing outside the root."""
    from tests.conftest import media_path

    root = tmp_path_factory.mktemp("media")
    video = root / "bikes.mp4"
    shutil.copy(media_path("bikes.mp4"), video)
    shutil.copy(media_path("chaplin.mp4"), root / "chaplin.mp4")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("top secret")
    os.symlink(outside / "secret.txt", root / "link.mp4")
    index = tmp_path_factory.mktemp("index")
    writer = IndexWriter(index, embedder)
    writer.begin_video("bikes", str(video), video.stat().st_size, 10.0, "test", {"decode": {"chunk_s": 5}})
    writer.write_batch(
        [
            ChunkDescription(
                ChunkSpan("bikes", str(video), 0, 5),
                "Cyclists ride down a street.",
                [Event(1.0, 3.0, "cyclist", "a cyclist passes the camera")],
                model="test",
            ),
            ChunkDescription(ChunkSpan("bikes", str(video), 5, 10), "A red car waits at the crossing.", model="test"),
        ]
    )
    writer.finish_video("bikes", "complete", num_chunks=2)
    writer.begin_video("ghost", str(outside / "secret.txt"), 10, 10.0, "test", {})  # a row pointing outside
    writer.finish_video("ghost", "complete")
    writer.close()
    return index, root, outside


def service_for(index, root, embedder, api_key=None):
    from workers.api import Service, create_app

    cfg = load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=5"])
    service = Service(index, cfg, [root], api_key)
    service.embedder = embedder
    return create_app(service)


def test_search_videos_captions_and_health(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        body = httpx.get(f"{url}/search", params={"q": "a car waiting", "k": 2}).json()
        top = body["results"][0]
        assert (top["video_id"], top["start_s"], top["end_s"]) == ("bikes", 5.0, 10.0)
        video = httpx.get(f"{url}/videos/bikes").json()
        assert [e["label"] for e in video["events"]] == ["cyclist"] and len(video["captions"]) == 2
        assert video["config"] == {"decode": {"chunk_s": 5}}  # the config it was ingested with, as an object
        vtt = httpx.get(f"{url}/videos/bikes/captions.vtt")
        assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT")
        listed = httpx.get(f"{url}/videos").json()["videos"]
        assert "bikes" in {v["video_id"] for v in listed} and not any("config" in v for v in listed)
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "vidseek"
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "vidseek" in page.text
        assert "vidseek_search_seconds" in httpx.get(f"{url}/metrics").text


def test_range_requests_let_a_browser_seek(setup, embedder):
    index, root, _ = setup
    size = (root / "bikes.mp4").stat().st_size
    with LiveServer(service_for(index, root, embedder)) as url:
        part = httpx.get(f"{url}/videos/bikes/stream", headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and len(part.content) == 1000
        assert part.headers["content-range"] == f"bytes 1000-1999/{size}"
        assert part.content == (root / "bikes.mp4").read_bytes()[1000:2000]


def test_thumbnail_is_a_cached_jpeg(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        jpeg = httpx.get(f"{url}/videos/bikes/thumbnail", params={"t": 2.5})
        assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    assert list((index / "thumbnails").glob("bikes-2500.jpg"))


def test_api_key_is_required_when_configured(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder, api_key="s3cret")) as url:
        denied = httpx.get(f"{url}/search", params={"q": "car"})
        assert denied.status_code == 401 and "X-API-Key" in denied.json()["error"]
        assert httpx.get(f"{url}/search", params={"q": "car"}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(f"{url}/search", params={"q": "car"}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert httpx.get(f"{url}/videos/bikes/captions.vtt", params={"key": "s3cret"}).status_code == 200
        assert httpx.get(f"{url}/videos/bikes/captions.vtt", params={"key": "nope"}).status_code == 401
        assert httpx.get(f"{url}/videos/bikes/thumbnail", params={"key": "s3cret", "t": 1}).status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200  # liveness stays open
        # a key in the URL only where the README says (media the browser loads itself): logs keep URLs
        for method, path in (("GET", "/search?q=car"), ("GET", "/videos"), ("GET", "/videos/bikes"),
                             ("POST", "/ask"), ("DELETE", "/jobs/x"), ("GET", "/metrics")):  # fmt: skip
            join = "&" if "?" in path else "?"
            answer = httpx.request(method, f"{url}{path}{join}key=s3cret", json={"question": "a car?"})
            assert answer.status_code == 401, (method, path, answer.text)


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "/etc/passwd",
        "{root}/link.mp4",
        "{root}/../../../etc/passwd",
        "{root}/../outside/secret.txt",
    ],
)
def test_ingest_refuses_paths_outside_the_media_roots(setup, embedder, path):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        response = httpx.post(f"{url}/ingest", json={"paths": [path.format(root=root)]})
    assert response.status_code == 403 and "outside the configured media roots" in response.json()["error"]


def test_streaming_a_file_outside_the_roots_is_refused(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        assert httpx.get(f"{url}/videos/ghost/stream").status_code == 403
        for trick in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....//....//etc/passwd"):
            response = httpx.get(f"{url}/videos/{trick}/stream")
            assert response.status_code == 404 and "root:" not in response.text


def test_bounds_and_json_errors(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        assert httpx.get(f"{url}/search", params={"q": "car", "k": 5000}).status_code == 422
        assert httpx.get(f"{url}/search", params={"q": "x" * 600}).status_code == 422
        assert httpx.get(f"{url}/search", params={"q": "car", "kind": "nonsense"}).status_code == 422
        backwards = httpx.get(f"{url}/search", params={"q": "car", "after": 5, "before": 3})
        assert backwards.status_code == 422 and "later than before" in backwards.json()["error"]
        big = httpx.post(
            f"{url}/ingest", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"}
        )
        assert big.status_code == 413 and "error" in big.json()
        missing = httpx.get(f"{url}/videos/nope")
        assert missing.status_code == 404 and missing.json() == {"error": "no video with id 'nope'"}


def test_a_damaged_index_file_is_named_with_its_remedy(setup, embedder, tmp_path):
    index, root, _ = setup
    damaged = tmp_path / "index"
    shutil.copytree(index, damaged)
    vectors = damaged / "vectors.faiss"
    os.truncate(vectors, vectors.stat().st_size // 2)
    with LiveServer(service_for(damaged, root, embedder)) as url:
        response = httpx.get(f"{url}/search", params={"q": "car"})
    assert response.status_code == 503
    assert response.json()["error"].startswith(f"{vectors} cannot be read, damaged or truncated")
    assert f"vidseek index rebuild --index {damaged}" in response.json()["error"]


@pytest.mark.slow
def test_search_answers_during_an_ingest_and_sees_the_new_video(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        job = httpx.post(f"{url}/ingest", json={"paths": [str(root / "chaplin.mp4")]}).json()
        answered = 0
        deadline = time.time() + 300
        while time.time() < deadline:
            assert httpx.get(f"{url}/search", params={"q": "street"}).status_code == 200
            answered += 1
            state = httpx.get(f"{url}/jobs/{job['job_id']}").json()
            if state["state"] in ("done", "failed"):
                break
        assert state["state"] == "done", state
        assert state["chunks_done"] == state["chunks_total"] == 2 and answered >= 1
        videos = {Path(v["path"]).name for v in httpx.get(f"{url}/videos").json()["videos"]}
        assert "chaplin.mp4" in videos


def test_alerts_list_and_live_feed(setup, embedder):
    from pipeline.alerts import AlertStore

    index, root, _ = setup
    store = AlertStore(index)
    query = store.add_query("a red car waits", threshold=0.5)
    first = store.record(query, "bikes.mp4", 5, 10, "A red car waits at the crossing.", 0.8)
    try:
        with LiveServer(service_for(index, root, embedder)) as url:
            body = httpx.get(f"{url}/alerts").json()
            assert [a["id"] for a in body["alerts"]] == [first.id] and body["alerts"][0]["start_s"] == 5
            assert body["queries"][0]["query"] == "a red car waits" and body["queries"][0]["webhook"] is False
            with httpx.stream("GET", f"{url}/alerts/stream", params={"after_id": first.id}, timeout=30) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                lines = resp.iter_lines()
                assert next(lines) == ": connected"
                second = store.record(query, "bikes.mp4", 60, 65, "Another red car waits.", 0.7)  # raised later
                event = {}
                for line in lines:
                    if line.startswith(("id:", "event:", "data:")):
                        key, value = line.split(":", 1)
                        event[key] = value.strip()
                    if "data" in event:
                        break
            assert event["id"] == str(second.id) and event["event"] == "alert"
            assert '"start_s": 60' in event["data"] and "Another red car" in event["data"]
    finally:
        store.remove_query(query.id)


def test_ask_and_summary_routes(setup, embedder):
    """The tiny model answers (noise); the mechanics: moments retrieved, citations checked, summary levels."""
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder)) as url:
        body = httpx.post(f"{url}/ask", json={"question": "a car waiting"}, timeout=120).json()
        assert body["moments"][0]["label"].startswith("[bikes.mp4 00:00:0") and isinstance(body["answer"], str)
        assert all(c["valid"] == (c["moment"] is not None) for c in body["citations"])
        summary = httpx.get(f"{url}/videos/bikes/summary", timeout=120).json()
        assert summary["levels"] == [2] and summary["model_calls"] == 1 and isinstance(summary["summary"], str)
        assert httpx.post(f"{url}/ask", json={"question": ""}).status_code == 422
        assert httpx.get(f"{url}/videos/nope/summary").status_code == 404
        backwards = [
            httpx.post(f"{url}/ask", json={"question": "a car", "after_s": 9, "before_s": 2}),
            httpx.get(f"{url}/videos/bikes/summary", params={"after_s": 9, "before_s": 2}),
        ]
        assert [r.status_code for r in backwards] == [422, 422]
        assert all("after (00:00:09) is later than before (00:00:02)" in r.json()["error"] for r in backwards)


def raw_request(url: str, head: str, body_chunks=(), timeout: float = 10.0) -> tuple[int, dict, bytes, int]:
    """Send ``head`` (request line and headers) and then as many ``body_chunks`` as the server lets through before
    it answers; returns (status, headers, body, bytes of body sent). A guard that answers before reading a body
    is seen as an answer with little of the body sent."""
    import select
    import socket

    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # little kernel buffering between us and the server
    sock.settimeout(timeout)
    sock.connect((host, int(port)))
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
    sent = 0
    for chunk in body_chunks:
        if select.select([sock], [], [], 0)[0]:  # the server has answered: stop sending
            break
        try:
            sock.sendall(chunk)
        except OSError:
            break
        sent += len(chunk)
    data = b""
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        part = sock.recv(65536)
        if not part:
            break
        data += part
    sock.close()
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body, sent


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_a_chunked_body_is_counted_as_it_streams_and_refused_past_the_limit(setup, embedder):
    index, root, _ = setup
    chunk = b"2000\r\n" + b" " * 0x2000 + b"\r\n"  # 8 KiB chunks of an endless chunked body
    with LiveServer(service_for(index, root, embedder)) as url:
        head = "POST /ingest HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nTransfer-Encoding: chunked\n"
        status, headers, body, sent = raw_request(url, head, [chunk] * 12800)  # 100 MB offered
    assert status == 413 and json.loads(body) == {"error": "request body over 65536 bytes"}
    assert sent < 10 << 20, sent  # answered after about 64 KiB (plus socket buffers), not after reading 100 MB


def test_the_key_is_checked_before_a_body_is_read(setup, embedder):
    index, root, _ = setup
    with LiveServer(service_for(index, root, embedder, api_key="s3cret")) as url:
        head = "POST /ingest HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 200000000\n"
        status, _, body, sent = raw_request(url, head, [b" " * 65536] * 3200)  # 200 MB offered, no key
    assert status == 401 and json.loads(body)["error"] == "missing or wrong X-API-Key header"
    assert sent < 10 << 20, sent  # answered with the headers, not after reading 200 MB


def test_a_folder_cannot_lead_outside_the_media_roots(setup, embedder, tmp_path):
    """The folder is inside the root; a symlink in it leads to a video outside: skipped, with that reason."""
    index, root, outside = setup
    shutil.copy(root / "chaplin.mp4", outside / "private.mp4")
    (root / "sub2").mkdir(exist_ok=True)
    (root / "sub2" / "clip.mp4").unlink(missing_ok=True)
    (root / "sub2" / "clip.mp4").symlink_to(outside / "private.mp4")
    with LiveServer(service_for(index, root, embedder)) as url:
        direct = httpx.post(f"{url}/ingest", json={"paths": [str(outside / "private.mp4")]})
        assert direct.status_code == 403
        job = httpx.post(f"{url}/ingest", json={"paths": [str(root / "sub2")]}).json()
        state = wait_for_job(url, job["job_id"])
        videos = {v["path"] for v in httpx.get(f"{url}/videos").json()["videos"]}
    assert state["state"] == "done", state
    reasons = {Path(r["path"]).name: (r["status"], r["reason"]) for r in state["results"]}
    assert reasons["clip.mp4"] == ("skipped", f"outside the media roots (it leads to {outside / 'private.mp4'})")
    assert not any("private" in v or "sub2" in v for v in videos)


def wait_for_job(url: str, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        state = httpx.get(f"{url}/jobs/{job_id}").json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {state}")


def test_ingest_jobs_queue_up_to_a_bound_on_one_thread(setup, embedder, monkeypatch):
    import workers.api_jobs

    index, root, _ = setup
    release = threading.Event()
    monkeypatch.setattr(workers.api_jobs, "_run_job", lambda service, job, metrics: release.wait(30))
    before = threading.active_count()
    with LiveServer(service_for(index, root, embedder)) as url:
        answers = [httpx.post(f"{url}/ingest", json={"paths": [str(root / "bikes.mp4")]}) for _ in range(50)]
        threads = threading.active_count() - before
        release.set()
    codes = [a.status_code for a in answers]
    accepted = codes.count(202)
    assert workers.api_jobs.MAX_QUEUED_JOBS <= accepted <= workers.api_jobs.MAX_QUEUED_JOBS + 1  # + the one running
    assert codes.count(429) == 50 - accepted and "already waiting" in answers[-1].json()["error"]
    assert threads <= 3, threads  # the server, its loop, one job runner: not one thread per job


def test_thumbnails_are_clamped_and_rounded_into_a_bounded_cache(setup, embedder):
    index, root, _ = setup
    cache = index / "thumbnails"
    shutil.rmtree(cache, ignore_errors=True)
    with LiveServer(service_for(index, root, embedder)) as url:
        for t in range(100, 130):  # all past the 10 s video's end
            assert httpx.get(f"{url}/videos/bikes/thumbnail", params={"t": t}).status_code == 200
        for t in (2.1, 2.2, 2.3, 2.49):
            assert httpx.get(f"{url}/videos/bikes/thumbnail", params={"t": t}).status_code == 200
        for bad in ("nan", "inf", "-1"):
            assert httpx.get(f"{url}/videos/bikes/thumbnail", params={"t": bad}).status_code == 422
    assert sorted(f.name for f in cache.iterdir()) == ["bikes-2000.jpg", "bikes-9500.jpg"]


def test_only_the_bound_host_names_are_served(setup, embedder):
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends Host: evil.example."""
    from workers.api_guard import allowed_hosts_for

    index, root, _ = setup
    app = service_for(index, root, embedder)
    app.state.service.allowed_hosts = None  # set below, as `vidseek serve` does
    for middleware in app.user_middleware:
        if middleware.cls.__name__ == "Guard":
            middleware.kwargs["allowed_hosts"] = allowed_hosts_for("127.0.0.1", ["vidseek.lan"])
    with LiveServer(app) as url:
        port = url.rsplit(":", 1)[1]
        evil = httpx.get(f"{url}/search", params={"q": "car"}, headers={"Host": f"evil.example:{port}"})
        assert (
            evil.status_code == 400
            and "evil.example" in evil.json()["error"]
            and "--allowed-host" in evil.json()["error"]
        )
        for name in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "vidseek.lan", "LOCALHOST."):
            assert httpx.get(f"{url}/healthz", headers={"Host": name}).status_code == 200, name
        # what follows the port is part of the Host: none of these is a name served here
        for name in (f"127.0.0.1:{port}@evil.example", f"127.0.0.1:{port}/x", "user@127.0.0.1", "127.0.0.1:80:81",
                     "[::1]evil", "127.0.0.1 evil.example", "[::1"):  # fmt: skip
            refused = httpx.get(f"{url}/search", params={"q": "car"}, headers={"Host": name})
            assert refused.status_code == 400, (name, refused.text)
    assert allowed_hosts_for("0.0.0.0", []) is None and allowed_hosts_for("10.0.0.5", []) == {"10.0.0.5"}


def test_every_error_is_json_and_every_answer_carries_the_security_headers(setup, embedder):
    index, root, _ = setup
    size = (root / "bikes.mp4").stat().st_size
    with LiveServer(service_for(index, root, embedder)) as url:
        answers = {
            "unknown route": httpx.get(f"{url}/no/such/route"),
            "range past the end": httpx.get(f"{url}/videos/bikes/stream", headers={"Range": f"bytes={size + 10}-"}),
            "malformed range": httpx.get(f"{url}/videos/bikes/stream", headers={"Range": "bytes=abc"}),
            "NUL in the path": httpx.get(f"{url}/videos/a%00b"),
            "NUL in the query": httpx.get(f"{url}/search", params={"q": "car\x00"}),
            "blank query": httpx.get(f"{url}/search", params={"q": "   "}),
            "nan time": httpx.get(f"{url}/search", params={"q": "car", "after": "nan"}),
            "negative time": httpx.get(f"{url}/search", params={"q": "car", "before": "-5"}),
            "blank question": httpx.post(f"{url}/ask", json={"question": " \t"}),
        }
        page = httpx.get(f"{url}/")
    expected = {"unknown route": 404, "range past the end": 416, "malformed range": 400, "NUL in the path": 400}
    for name, answer in answers.items():
        assert answer.status_code == expected.get(name, 400 if "NUL" in name else 422), (name, answer.text)
        assert answer.headers["content-type"] == "application/json", name
        assert isinstance(answer.json()["error"], str) and answer.json()["error"], name
    for answer in (page, answers["unknown route"]):
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline for the policy to allow

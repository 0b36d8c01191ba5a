"""The API over a video's whole life, on real loopback HTTP: paging and grouping searches, paging and filtering the
video list, removing a video, cancelling an ingest job (what it committed stays; the next ingest finishes it)."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest

from tests.test_api import LiveServer, make_setup, service_for


@pytest.fixture
def fresh(tmp_path_factory, embedder):
    """An index of its own: these tests change it."""
    return make_setup(tmp_path_factory, embedder)


def test_search_pages_and_groups_by_video(fresh, embedder):
    index, root, _ = fresh
    with LiveServer(service_for(index, root, embedder)) as url:
        whole = httpx.get(f"{url}/search", params={"q": "a street", "k": 3}).json()["results"]
        first = httpx.get(f"{url}/search", params={"q": "a street", "k": 1}).json()
        second = httpx.get(f"{url}/search", params={"q": "a street", "k": 1, "offset": 1}).json()
        assert first["offset"] == 0 and first["next_offset"] == 1 and second["offset"] == 1
        assert [first["results"][0]["text"], second["results"][0]["text"]] == [h["text"] for h in whole[:2]]
        grouped = httpx.get(f"{url}/search", params={"q": "a street", "group_by": "video"}).json()
        assert "results" not in grouped and [g["video_id"] for g in grouped["groups"]] == ["bikes"]
        moments = grouped["groups"][0]["results"]
        assert 1 <= len(moments) <= 3 and all(m["video_id"] == "bikes" for m in moments)
        assert grouped["next_offset"] is None  # fewer videos than k: the last page
        bad = httpx.get(f"{url}/search", params={"q": "street", "group_by": "file"})
        assert bad.status_code == 422 and "group_by" in bad.json()["error"]


def test_videos_page_and_filter(fresh, embedder):
    index, root, outside = fresh
    with LiveServer(service_for(index, root, embedder)) as url:
        everything = httpx.get(f"{url}/videos").json()
        assert everything["total"] == 2 and everything["next_offset"] is None
        page = httpx.get(f"{url}/videos", params={"limit": 1}).json()
        rest = httpx.get(f"{url}/videos", params={"limit": 1, "offset": page["next_offset"]}).json()
        assert page["next_offset"] == 1 and rest["next_offset"] is None
        assert [v["video_id"] for v in page["videos"] + rest["videos"]] == [v["video_id"] for v in everything["videos"]]
        under_root = httpx.get(f"{url}/videos", params={"path_prefix": str(root)}).json()
        assert [v["video_id"] for v in under_root["videos"]] == ["bikes"] and under_root["total"] == 1
        percent = httpx.get(f"{url}/videos", params={"path_prefix": str(root)[:-1] + "%"}).json()
        assert percent["total"] == 0  # a prefix is a prefix, not a pattern
        assert httpx.get(f"{url}/videos", params={"status": "failed"}).json()["total"] == 0
        assert httpx.get(f"{url}/videos", params={"status": "odd"}).status_code == 422


def test_delete_a_video(fresh, embedder):
    index, root, _ = fresh
    with LiveServer(service_for(index, root, embedder)) as url:
        assert httpx.get(f"{url}/videos/bikes/thumbnail", params={"t": 1}).status_code == 200
        removed = httpx.delete(f"{url}/videos/bikes")
        assert removed.status_code == 200 and removed.json() == {"video_id": "bikes", "segments_removed": 3}
        assert httpx.get(f"{url}/videos/bikes").status_code == 404
        hits = httpx.get(f"{url}/search", params={"q": "a red car waits"}).json()["results"]
        assert all(h["video_id"] != "bikes" for h in hits)
        again = httpx.delete(f"{url}/videos/bikes")
        assert again.status_code == 404 and "bikes" in again.json()["error"]
    assert not list((index / "thumbnails").glob("bikes-*.jpg")) and not (index / "records" / "bikes").exists()


def hold_job(monkeypatch, name: str, before: bool) -> tuple[threading.Event, threading.Event]:
    """Hold the ingest the first time it reaches ``pipeline.job.<name>`` (``before`` the call, or after it) until
    the test releases it: (reached, release)."""
    import pipeline.job

    reached, release = threading.Event(), threading.Event()
    real = getattr(pipeline.job, name)

    def held(*args, **kwargs):
        first = not reached.is_set()
        if first and before:
            reached.set()
            release.wait(60)
        result = real(*args, **kwargs)
        if first and not before:
            reached.set()
            release.wait(60)
        return result

    monkeypatch.setattr(pipeline.job, name, held)
    return reached, release


def test_cancel_an_ingest_job_then_finish_it(fresh, embedder, monkeypatch):
    """Cancelled after its first chunk: what it committed stays, and the next ingest describes only the rest."""
    from pipeline.config import load_config
    from workers.api import Service, create_app

    index, root, _ = fresh
    # hold the job after its first chunk until the test has cancelled it
    first_done, cancel_sent = hold_job(monkeypatch, "commit", before=False)
    service = Service(index, load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=2"]), [root], None)
    service.embedder = embedder
    with LiveServer(create_app(service)) as url:
        job = httpx.post(f"{url}/ingest", json={"paths": [str(root / "chaplin.mp4")]}).json()
        assert first_done.wait(120)
        cancelled = httpx.delete(f"{url}/jobs/{job['job_id']}")
        cancel_sent.set()
        assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True
        state = wait_for_end(url, job["job_id"])
        # it stops after the chunk it was committing when asked
        assert state["state"] == "cancelled" and state["chunks_done"] == 2 < state["chunks_total"], state
        planned = state["chunks_total"]
        ended = httpx.delete(f"{url}/jobs/{job['job_id']}")
        assert ended.status_code == 409 and "already ended (cancelled)" in ended.json()["error"]
        assert httpx.delete(f"{url}/jobs/nope").status_code == 404
        listed = httpx.get(f"{url}/videos", params={"status": "cancelled"}).json()["videos"]
        assert [v["path"] for v in listed] == [str(root / "chaplin.mp4")] and listed[0]["chunks"] == 2
        assert listed[0]["state"] == "cancelled" and f"after 2 of {planned} chunks" in listed[0]["state_note"]
        assert httpx.get(f"{url}/videos", params={"status": "ingesting"}).json()["total"] == 0
        again = httpx.post(f"{url}/ingest", json={"paths": [str(root / "chaplin.mp4")]}).json()
        state = wait_for_end(url, again["job_id"])
        assert state["state"] == "done" and state["results"][0]["status"] == "ingested", state
        assert state["chunks_total"] == planned - 2  # only the chunks the cancelled job had not committed
        assert httpx.delete(f"{url}/videos/bikes").status_code == 200  # the index was handed back


def test_a_job_cancelled_after_its_only_chunk_leaves_the_video_complete(fresh, embedder, monkeypatch):
    """Every chunk was committed when the cancellation came: the video is what it is, complete (it used to be left
    ``ingesting`` for ever)."""
    from pipeline.config import load_config
    from workers.api import Service, create_app

    index, root, _ = fresh
    # the chunk is written; the cancellation comes before it is counted
    committed, cancel_sent = hold_job(monkeypatch, "chunk_done", before=True)
    service = Service(index, load_config("tiny.yaml", ["ray.enabled=false", "decode.chunk_s=600"]), [root], None)
    service.embedder = embedder
    with LiveServer(create_app(service)) as url:
        job = httpx.post(f"{url}/ingest", json={"paths": [str(root / "chaplin.mp4")]}).json()
        assert committed.wait(120)
        httpx.delete(f"{url}/jobs/{job['job_id']}")
        cancel_sent.set()
        assert wait_for_end(url, job["job_id"])["state"] == "cancelled"
        videos = {v["path"]: v for v in httpx.get(f"{url}/videos").json()["videos"]}
        chaplin = videos[str(root / "chaplin.mp4")]
        assert chaplin["status"] == chaplin["state"] == "complete" and chaplin["chunks"] == 1, chaplin
        one = httpx.get(f"{url}/videos/{chaplin['video_id']}").json()
        assert one["state"] == "complete" and one["captions"]


def wait_for_end(url: str, job_id: str) -> dict:
    deadline = time.time() + 300
    while time.time() < deadline:
        state = httpx.get(f"{url}/jobs/{job_id}").json()
        if state["state"] not in ("queued", "running"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end: {state}")


def test_the_schema_documents_the_new_routes(fresh, embedder):
    index, root, _ = fresh
    shutil.rmtree(index / "thumbnails", ignore_errors=True)
    with LiveServer(service_for(index, root, embedder)) as url:
        paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"409", "404"} <= set(paths["/videos/{video_id}"]["delete"]["responses"])
    assert {"409", "404"} <= set(paths["/jobs/{job_id}"]["delete"]["responses"])
    search_params = {p["name"] for p in paths["/search"]["get"]["parameters"]}
    assert {"offset", "group_by"} <= search_params
    assert {"offset", "limit", "status", "path_prefix"} <= {p["name"] for p in paths["/videos"]["get"]["parameters"]}

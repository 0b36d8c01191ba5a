"""Standing queries: matching on commit, cooldown, storage, and webhook delivery to a loopback receiver."""

from __future__ import annotations

import socket
import time

import pytest

from pipeline.alerts import Alerting, AlertStore
from pipeline.index import IndexWriter
from pipeline.types import ChunkDescription, ChunkSpan
from tests.webhook_receiver import WebhookReceiver

QUERY = "a red truck arrives at the gate"
CHUNKS = [  # (start, end, caption): two separate truck moments, one of them spanning two chunks
    (0, 10, "A red truck arrives at the warehouse gate."),
    (10, 20, "The red truck waits at the gate."),
    (20, 30, "A cat sleeps on a sofa."),
    (30, 40, "Children play football in a park."),
    (200, 210, "A red truck arrives at the gate again."),
]


def ingest(index, embedder, chunks, alerting_kwargs=None, video="cam1.mp4"):
    writer = IndexWriter(index, embedder)
    alerting = Alerting(writer, **(alerting_kwargs or {}))
    writer.begin_video(video, video, 1, 300.0, "test", {})
    for start, end, caption in chunks:  # one commit per chunk, as live ingest does
        writer.write(ChunkDescription(ChunkSpan(video, video, start, end), caption, [], model="test"))
    writer.close()
    alerting.close()
    return alerting


def wait_for(predicate, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_one_alert_per_matching_moment_with_cooldown(tmp_path, embedder):
    receiver = WebhookReceiver()
    store = AlertStore(tmp_path)
    store.add_query(QUERY, threshold=0.6, webhook=receiver.url, cooldown_s=30)
    store.add_query("an aircraft takes off from a runway", threshold=0.6)  # matches nothing here
    alerting = ingest(tmp_path, embedder, CHUNKS)
    assert [(a.start_s, a.end_s) for a in alerting.raised] == [(0, 10), (200, 210)]  # 10-20: inside the cooldown
    assert wait_for(lambda: len(receiver.received) == 2)
    first = receiver.received[0]
    assert first["query"] == QUERY and first["video"] == "cam1.mp4" and first["start_s"] == 0 and first["end_s"] == 10
    assert first["text"] == CHUNKS[0][2] and 0.6 <= first["score"] <= 1.0
    stored = AlertStore(tmp_path).alerts()
    assert [a.id for a in stored] == [a.id for a in alerting.raised] and all(a.delivered for a in stored)
    receiver.close()


def test_failing_webhook_is_retried(tmp_path, embedder):
    receiver = WebhookReceiver(fail_first=2)
    AlertStore(tmp_path).add_query(QUERY, threshold=0.6, webhook=receiver.url)
    ingest(tmp_path, embedder, CHUNKS[:1], {"backoff_s": 0.05})
    assert wait_for(lambda: len(receiver.received) == 1)
    (alert,) = AlertStore(tmp_path).alerts()
    assert alert.delivered and alert.attempts == 3
    receiver.close()


def test_a_failing_endpoint_delays_no_other_alert(tmp_path, embedder):
    """Deliveries run side by side and each retries on its own: the alert for a working endpoint arrives while
    the other one's endpoint keeps failing (it used to wait out every retry of the alert before it)."""
    failing, working = WebhookReceiver(fail_first=10**6), WebhookReceiver()
    store = AlertStore(tmp_path)
    store.add_query(QUERY, threshold=0.6, webhook=failing.url)  # matched first, so queued first
    store.add_query("a red truck at the gate", threshold=0.6, webhook=working.url)
    writer = IndexWriter(tmp_path, embedder)
    alerting = Alerting(writer, backoff_s=5.0)
    writer.begin_video("cam1.mp4", "cam1.mp4", 1, 300.0, "test", {})
    started = time.monotonic()
    writer.write(ChunkDescription(ChunkSpan("cam1.mp4", "cam1.mp4", 0, 10), CHUNKS[0][2], [], model="test"))
    assert len(alerting.raised) == 2
    assert wait_for(lambda: len(working.received) == 1, timeout_s=4.0), "the working endpoint waited"
    assert time.monotonic() - started < 4.0 and failing.requests >= 1
    writer.close()
    alerting.close(timeout_s=0.5)  # the failing one stays pending for the next run
    assert [a.delivered for a in AlertStore(tmp_path).alerts()] == [False, True]
    failing.close()
    working.close()


def test_undelivered_alert_survives_and_is_sent_by_the_next_run(tmp_path, embedder):
    with socket.socket() as sock:  # a port with nothing listening: every POST fails
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    AlertStore(tmp_path).add_query(QUERY, threshold=0.6, webhook=f"http://127.0.0.1:{port}/hook")
    alerting = ingest(tmp_path, embedder, CHUNKS[:1], {"backoff_s": 0.01})
    alerting.sender.close()
    (alert,) = AlertStore(tmp_path).alerts()
    assert not alert.delivered and alert.attempts >= 1 and alert.last_error

    receiver = WebhookReceiver()
    store = AlertStore(tmp_path)
    store._run("UPDATE alerts SET webhook=?", (receiver.url,))  # the receiver came back on another port
    ingest(tmp_path, embedder, [(400, 410, "A cat sleeps on a sofa.")], video="cam2.mp4")  # next run: resume()
    assert wait_for(lambda: len(receiver.received) == 1)
    assert receiver.received[0]["id"] == alert.id and AlertStore(tmp_path).alerts()[0].delivered
    receiver.close()


def test_queries_can_be_listed_and_removed(tmp_path):
    store = AlertStore(tmp_path)
    q = store.add_query("a person climbs the fence", threshold=0.5, cooldown_s=120)
    assert [x.query for x in store.queries()] == ["a person climbs the fence"] and q.cooldown_s == 120
    assert store.remove_query(q.id) and not store.remove_query(q.id) and store.queries() == []
    with pytest.raises(ValueError):
        store.add_query("  ", threshold=0.5)

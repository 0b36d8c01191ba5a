"""Ingest metrics through Ray's metrics API: each node's metrics agent exports them for Prometheus
(``ray start --metrics-export-port``). Footage seconds is a counter: ``rate()`` of it is footage seconds per
second."""

from __future__ import annotations

MODEL_LATENCY_BUCKETS_S = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600]


class JobMetrics:
    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge, Histogram

        self.chunks = Counter("vidseek_chunks", "chunks settled, by outcome", tag_keys=("outcome",))
        self.footage = Counter("vidseek_footage_seconds", "footage seconds indexed")
        self.queue = Gauge("vidseek_queue_depth", "chunks waiting, by stage", tag_keys=("stage",))
        self.model_latency = Histogram(
            "vidseek_model_latency_seconds", "one describe call, submit to result", boundaries=MODEL_LATENCY_BUCKETS_S
        )

    def settled(self, ok: bool, footage_s: float = 0.0) -> None:
        self.chunks.inc(1, tags={"outcome": "done" if ok else "failed"})
        if ok:
            self.footage.inc(footage_s)

    def depth(self, to_decode: int, to_describe: int) -> None:
        self.queue.set(to_decode, tags={"stage": "decode"})
        self.queue.set(to_describe, tags={"stage": "describe"})

    def model_call(self, seconds: float) -> None:
        self.model_latency.observe(seconds)

"""Match newly committed chunks against the standing queries: one alert per chunk and query at most (its
best-scoring caption or event), and none within a query's cooldown of an earlier alert on the same video."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from pipeline.alerts.store import Alert, AlertStore
from pipeline.embed.base import Embedder
from pipeline.types import SegmentRecord

log = logging.getLogger(__name__)


class AlertMatcher:
    """An ``IndexWriter`` listener. Queries are re-read on every commit so that one added while a watch runs
    takes effect at the next chunk; their vectors are cached."""

    def __init__(self, store: AlertStore, embedder: Embedder, on_alert: Callable[[Alert], None] | None = None):
        self.store, self.embedder, self.on_alert = store, embedder, on_alert
        self._vectors: dict[int, np.ndarray] = {}

    def _vector(self, query_id: int, text: str) -> np.ndarray:
        if query_id not in self._vectors:
            self._vectors[query_id] = self.embedder.embed([text])[0]
        return self._vectors[query_id]

    def __call__(self, rows: list[SegmentRecord]) -> list[Alert]:
        """``rows``: segments as the writer stored them, each with its ``vector``."""
        queries = self.store.queries()
        rows = [r for r in rows if not r.carried_from]  # still footage repeating a description: nothing new
        if not queries or not rows:
            return []
        vectors = np.asarray([r.vector for r in rows], dtype=np.float32)
        by_chunk: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            by_chunk.setdefault(row.chunk_id, []).append(i)
        raised = []
        for query in queries:
            scores = vectors @ self._vector(query.id, query.query)
            for members in by_chunk.values():
                best = max(members, key=lambda i: scores[i])
                if scores[best] < query.threshold:
                    continue
                row = rows[best]
                video, start_s, end_s = row.video_path, row.start_s, row.end_s
                if self.store.alert_near(query.id, video, start_s, end_s, query.cooldown_s):
                    continue
                alert = self.store.record(query, video, start_s, end_s, row.text, float(scores[best]))
                raised.append(alert)
                if self.on_alert:
                    self.on_alert(alert)
        return raised

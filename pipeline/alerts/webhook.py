"""Deliver alerts to their webhooks: a POST of the alert as JSON, retried with exponential backoff in a
background thread. The alert is stored before any attempt, so one that still fails stays pending and is sent
again by the next run that starts a sender (``resume()``)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

from pipeline.alerts.store import Alert, AlertStore

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(self, store: AlertStore, max_attempts: int = 5, backoff_s: float = 1.0, timeout_s: float = 10.0):
        self.store, self.max_attempts, self.backoff_s, self.timeout_s = store, max_attempts, backoff_s, timeout_s
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="vidseek-webhooks", daemon=True)
        self._thread.start()

    def resume(self) -> int:
        """Queue the alerts earlier runs could not deliver; returns how many."""
        pending = self.store.undelivered()
        for alert in pending:
            self._queue.put(alert)
        return len(pending)

    def submit(self, alert: Alert) -> None:
        if alert.webhook:
            self._queue.put(alert)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued (bounded by ``timeout_s``); what is left stays pending in the store."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while (alert := self._queue.get()) is not None:
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json()).encode()
        for attempt in range(self.max_attempts):
            try:
                request = urllib.request.Request(
                    alert.webhook, data=body, method="POST", headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                self.store.mark_attempt(alert.id)
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
                self.store.mark_attempt(alert.id, error)
                log.warning("webhook for alert %d failed (attempt %d): %s", alert.id, attempt + 1, error)
                time.sleep(self.backoff_s * 2**attempt)
        log.error("alert %d not delivered after %d attempts; it stays pending", alert.id, self.max_attempts)

"""Deliver alerts to their webhooks: a POST of the alert as JSON. Deliveries run concurrently on a bounded pool
(``MAX_CONCURRENT``), and each alert is retried on its own with exponential backoff, so one failing or slow
endpoint delays no other alert. The alert is stored before any attempt, so one that still fails stays pending
and is sent again by the next run that starts a sender (``resume()``)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pipeline.alerts.store import Alert, AlertStore

log = logging.getLogger(__name__)
MAX_CONCURRENT = 8  # deliveries in flight at once (each a thread waiting on its endpoint)


class WebhookSender:
    def __init__(self, store: AlertStore, max_attempts: int = 5, backoff_s: float = 1.0, timeout_s: float = 10.0):
        self.store, self.max_attempts, self.backoff_s, self.timeout_s = store, max_attempts, backoff_s, timeout_s
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="vidseek-webhook")
        self._outstanding = 0  # alerts submitted and not yet delivered or given up (waiting retries included)
        self._idle = threading.Condition()
        self._closing = False
        self._timers: set[threading.Timer] = set()

    def resume(self) -> int:
        """Queue the alerts earlier runs could not deliver; returns how many."""
        pending = self.store.undelivered()
        for alert in pending:
            self.submit(alert)
        return len(pending)

    def submit(self, alert: Alert) -> None:
        if not alert.webhook:
            return
        with self._idle:
            self._outstanding += 1
        self._pool.submit(self._attempt, alert, 0)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish what is in flight, retries included, for up to ``timeout_s``; what is left stays pending in
        the store (the next run's ``resume()`` sends it)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            self._idle.wait_for(lambda: self._outstanding == 0, max(0.0, deadline - time.monotonic()))
            self._closing = True
            for timer in self._timers:
                timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _attempt(self, alert: Alert, attempt: int) -> None:
        try:
            request = urllib.request.Request(
                alert.webhook,
                data=json.dumps(alert.to_json()).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            self.store.mark_attempt(alert.id, error)
            log.warning("webhook for alert %d failed (attempt %d): %s", alert.id, attempt + 1, error)
            if attempt + 1 < self.max_attempts:
                self._retry_later(alert, attempt + 1)
                return
            log.error("alert %d not delivered after %d attempts; it stays pending", alert.id, self.max_attempts)
        else:
            self.store.mark_attempt(alert.id)
        self._settled()

    def _retry_later(self, alert: Alert, attempt: int) -> None:
        """The next attempt after its backoff, on a timer: no pool thread waits meanwhile."""
        with self._idle:
            if self._closing:
                self._outstanding -= 1
                self._idle.notify_all()
                return
            timer = threading.Timer(self.backoff_s * 2 ** (attempt - 1), self._resubmit, (alert, attempt))
            timer.daemon = True
            self._timers.add(timer)
        timer.start()

    def _resubmit(self, alert: Alert, attempt: int) -> None:
        with self._idle:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
            if self._closing:
                self._outstanding -= 1
                self._idle.notify_all()
                return
        self._pool.submit(self._attempt, alert, attempt)

    def _settled(self) -> None:
        with self._idle:
            self._outstanding -= 1
            self._idle.notify_all()

"""Standing queries wired to an index writer: the matcher listens to its commits, the webhook sender delivers."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.alerts.match import AlertMatcher
from pipeline.alerts.store import Alert, AlertStore
from pipeline.alerts.webhook import WebhookSender


class Alerting:
    def __init__(self, writer, on_alert: Callable[[Alert], None] | None = None, backoff_s: float = 1.0) -> None:
        self.store = AlertStore(writer.dir)
        self.sender = WebhookSender(self.store, backoff_s=backoff_s)
        self.sender.resume()  # alerts an earlier run could not deliver
        self.raised: list[Alert] = []

        def raised(alert: Alert) -> None:
            self.raised.append(alert)
            self.sender.submit(alert)
            if on_alert:
                on_alert(alert)

        writer.listeners.append(AlertMatcher(self.store, writer.embedder, raised))

    def close(self, timeout_s: float = 30.0) -> None:
        self.sender.close(timeout_s)
        self.store.close()

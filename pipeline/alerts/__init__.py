"""Standing queries: every newly committed chunk is matched against them; a match becomes a stored alert,
printed, served by the API and POSTed to a webhook.

AlertStore(index_dir)             standing queries and alerts (alerts.sqlite, next to the catalog)
AlertMatcher(store, embedder)     IndexWriter listener: committed rows -> alerts (threshold, cooldown)
WebhookSender(store)              background POSTs with retries; undelivered alerts survive restarts
Alerting(writer, on_alert)        the two wired to a writer (ingest, watch)
"""

from pipeline.alerts.match import AlertMatcher
from pipeline.alerts.service import Alerting
from pipeline.alerts.store import Alert, AlertStore, StandingQuery
from pipeline.alerts.webhook import WebhookSender

__all__ = ["Alert", "AlertMatcher", "Alerting", "AlertStore", "StandingQuery", "WebhookSender"]

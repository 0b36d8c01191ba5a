"""Standing queries and the alerts they raised, in their own SQLite file so that `vidseek alert add` works while
an ingest or a watch holds the index writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.index.layout import IndexLayout

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL, threshold REAL NOT NULL, webhook TEXT DEFAULT '',
    cooldown_s REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, query_id INTEGER NOT NULL, query TEXT NOT NULL, video TEXT NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL, text TEXT NOT NULL, score REAL NOT NULL, created REAL NOT NULL,
    webhook TEXT DEFAULT '', delivered INTEGER DEFAULT 0, attempts INTEGER DEFAULT 0, last_error TEXT DEFAULT '');
CREATE INDEX IF NOT EXISTS alerts_query_video ON alerts(query_id, video, start_s);
"""


@dataclass(frozen=True)
class StandingQuery:
    id: int
    query: str
    threshold: float
    webhook: str
    cooldown_s: float
    created: float


@dataclass(frozen=True)
class Alert:
    id: int
    query_id: int
    query: str
    video: str
    start_s: float
    end_s: float
    text: str
    score: float
    created: float
    webhook: str = ""
    delivered: bool = False
    attempts: int = 0
    last_error: str = ""

    def to_json(self) -> dict:
        """What the API and the webhook send (delivery bookkeeping left out)."""
        data = asdict(self)
        for key in ("webhook", "delivered", "attempts", "last_error"):
            data.pop(key)
        return data


class AlertStore:
    def __init__(self, index_dir: str | Path) -> None:
        self.path = IndexLayout(index_dir).alerts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # one connection shared by the matcher and the webhook thread

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock, self._db:
            return self._db.execute(sql, args)

    # -- standing queries -----------------------------------------------------------------------------------
    def add_query(self, query: str, threshold: float, webhook: str = "", cooldown_s: float = 60.0) -> StandingQuery:
        if not query.strip():
            raise ValueError("a standing query needs some words")
        cur = self._run(
            "INSERT INTO queries (query, threshold, webhook, cooldown_s, created) VALUES (?, ?, ?, ?, ?)",
            (query.strip(), threshold, webhook or "", cooldown_s, time.time()),
        )
        return self.query(cur.lastrowid)

    def query(self, query_id: int) -> StandingQuery | None:
        row = self._run("SELECT * FROM queries WHERE id=?", (query_id,)).fetchone()
        return StandingQuery(**dict(row)) if row else None

    def queries(self) -> list[StandingQuery]:
        return [StandingQuery(**dict(r)) for r in self._run("SELECT * FROM queries ORDER BY id").fetchall()]

    def remove_query(self, query_id: int) -> bool:
        return self._run("DELETE FROM queries WHERE id=?", (query_id,)).rowcount > 0

    # -- alerts ---------------------------------------------------------------------------------------------
    def alert_near(self, query_id: int, video: str, start_s: float, end_s: float, cooldown_s: float) -> bool:
        """Whether this query already alerted on this video within ``cooldown_s`` of [start_s, end_s)."""
        row = self._run(
            "SELECT 1 FROM alerts WHERE query_id=? AND video=? AND start_s < ? AND end_s > ? LIMIT 1",
            (query_id, video, end_s + cooldown_s, start_s - cooldown_s),
        ).fetchone()
        return row is not None

    def record(self, query: StandingQuery, video: str, start_s: float, end_s: float, text: str, score: float) -> Alert:
        cur = self._run(
            "INSERT INTO alerts (query_id, query, video, start_s, end_s, text, score, created, webhook) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (query.id, query.query, video, start_s, end_s, text, score, time.time(), query.webhook),
        )
        return self.alert(cur.lastrowid)

    def alert(self, alert_id: int) -> Alert:
        row = self._run("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return Alert(**{**dict(row), "delivered": bool(row["delivered"])})

    def alerts(self, after_id: int = 0, limit: int = 100) -> list[Alert]:
        """Alerts newer than ``after_id``, oldest first (the API's live feed polls with the last id it sent)."""
        rows = self._run("SELECT * FROM alerts WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [Alert(**{**dict(r), "delivered": bool(r["delivered"])}) for r in rows]

    def undelivered(self) -> list[Alert]:
        rows = self._run("SELECT id FROM alerts WHERE webhook != '' AND delivered = 0 ORDER BY id").fetchall()
        return [self.alert(r["id"]) for r in rows]

    def mark_attempt(self, alert_id: int, error: str = "") -> None:
        self._run(
            "UPDATE alerts SET attempts = attempts + 1, delivered = ?, last_error = ? WHERE id=?",
            (0 if error else 1, error[:500], alert_id),
        )

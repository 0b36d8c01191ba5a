"""SQLite catalog: what each FAISS id means (video, span, kind, text), and the state of each video.

Video status: ``ingesting`` (started, may be partial; ``num_chunks`` is then the planned total), ``complete`` (every
chunk indexed: later runs skip it), ``failed`` (reason recorded; what was decoded is still indexed, and the next run
retries the chunks that are missing; a file whose chunks are all indexed but that decoded only partly stays
failed), ``cancelled`` (a run stopped between chunks: what it committed stays, the next run does the rest); live
sources are ``live`` while watched and ``stopped`` after, with their uncaptured stretches in ``gaps``. What a
person is shown (``VideoListing.state``) also says what the status cannot: an ``ingesting`` video no writer is
at (a killed run), a video searchable by its frames only.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import MISSING, Field, fields
from pathlib import Path

import numpy as np

from pipeline.index.damage import IndexDamaged
from pipeline.index.layout import IndexLayout
from pipeline.types import (
    CaptionSource,
    ChunkCosts,
    FrameSpanRecord,
    Gap,
    IndexedSegment,
    Segment,
    SegmentRecord,
    VideoListing,
    VideoRecord,
    segment_id_for,
)

# A chunk's audit trail, on its caption's row (SegmentRecord): sums per video are what `vidseek status` reports
AUDIT_COLUMNS = {
    "carried_from": "TEXT DEFAULT ''",
    "frames_decoded": "INTEGER DEFAULT 0",
    "frames_sent": "INTEGER DEFAULT 0",
    "input_tokens": "INTEGER DEFAULT 0",
    "output_tokens": "INTEGER DEFAULT 0",
}
SEGMENT_COLUMNS = [f.name for f in fields(Segment)] + ["model", *AUDIT_COLUMNS]  # as the records hold them
_INDEXED = ", ".join(f.name for f in fields(IndexedSegment))  # what a read of segments returns, in field order
_FRAME_FIELDS = [f for f in fields(FrameSpanRecord) if f.name != "vector"]  # the vector is in FAISS and the records
_FRAME_COLUMNS = ", ".join(f.name for f in _FRAME_FIELDS)
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT", "SegmentKind": "TEXT", "VideoStatus": "TEXT"}


def _column(f: Field, key: str) -> str:
    """A column for a dataclass field: the key, required (no default) NOT NULL, optional (``X | None``) nullable,
    a default kept as the column's."""
    sql_type = _SQL_TYPES[f.type.removesuffix(" | None")]
    if f.name == key:
        return f"{f.name} {sql_type} PRIMARY KEY"
    if f.default is MISSING:
        return f"{f.name} {sql_type} NOT NULL"
    if f.default is None:
        return f"{f.name} {sql_type}"
    return f"{f.name} {sql_type} DEFAULT {f.default!r}"


def _segments_table() -> str:
    """``CREATE TABLE`` for the segments: ``Segment``'s fields, the describing model, and what the catalog derives
    (hubness, whether the context vector is current)."""
    columns = [_column(f, "segment_id") for f in fields(Segment)]
    columns += ["model TEXT DEFAULT ''", "hubness REAL", "context_ok INTEGER DEFAULT 0"]
    columns += [f"{name} {kind}" for name, kind in AUDIT_COLUMNS.items()]
    return "CREATE TABLE IF NOT EXISTS {name} (" + ", ".join(columns) + ");"


_SEGMENTS_TABLE = _segments_table()
_SEGMENTS_INDEX = (
    "CREATE INDEX IF NOT EXISTS segments_video ON segments(video_id, start_s);"
    "CREATE INDEX IF NOT EXISTS segments_carried ON segments(carried_from) WHERE carried_from != ''"
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS videos ({", ".join(_column(f, "video_id") for f in fields(VideoRecord))});
{_SEGMENTS_TABLE.format(name="segments")}
CREATE TABLE IF NOT EXISTS file_ids (
    path TEXT PRIMARY KEY, size_bytes INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, video_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS transcribed (video_id TEXT, chunk_id TEXT PRIMARY KEY, note TEXT);
CREATE TABLE IF NOT EXISTS gaps ({", ".join(_column(f, "") for f in fields(Gap))});
CREATE TABLE IF NOT EXISTS frame_spans ({", ".join(_column(f, "frame_id") for f in _FRAME_FIELDS)});
CREATE INDEX IF NOT EXISTS frame_spans_video ON frame_spans(video_id, start_s);
"""
_VIA_FILE_IDS = "SELECT v.* FROM file_ids f JOIN videos v USING (video_id) WHERE {where} ORDER BY v.updated DESC"


_LISTING = (  # a video with how many chunks are described and framed, and how many events it has
    "SELECT v.*, (SELECT COUNT(DISTINCT chunk_id) FROM segments s WHERE s.video_id=v.video_id) AS chunks, "
    "(SELECT COUNT(*) FROM segments s WHERE s.video_id=v.video_id AND kind='event') AS events, "
    "(SELECT COUNT(DISTINCT chunk_id) FROM frame_spans f WHERE f.video_id=v.video_id) AS framed, "
    "(SELECT COUNT(*) FROM transcribed t WHERE t.video_id=v.video_id) AS transcribed, "
    "(SELECT note FROM transcribed t WHERE t.video_id=v.video_id AND note != '' LIMIT 1) AS audio_note "
    "FROM videos v"
)


def _where(*conditions: tuple[str, object]) -> tuple[str, list]:
    """`` WHERE ...`` joining the clauses whose value is given (not None), and their values."""
    given = [(clause, value) for clause, value in conditions if value is not None]
    return (" WHERE " + " AND ".join(c for c, _ in given) if given else ""), [v for _, v in given]


class NoSuchVideo(ValueError):
    """No indexed video matches the id, path or file name asked for."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no indexed video matches {key!r}; see `vidseek status`")


class Catalog:
    def __init__(self, index_dir: Path) -> None:
        self.path = IndexLayout(index_dir).catalog
        self.db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if isinstance(exc, sqlite3.OperationalError):  # locked, out of disk space: not damage
                raise
            raise IndexDamaged(self.path, str(exc)) from None

    def _open(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(segments)")}
        if "hubness" not in columns:  # indexes made before hubness existed
            with self.db:
                self.db.execute("ALTER TABLE segments ADD COLUMN hubness REAL")
        if "context_ok" not in columns:  # ... and before context vectors (0: to compute)
            with self.db:
                self.db.execute("ALTER TABLE segments ADD COLUMN context_ok INTEGER DEFAULT 0")
        if missing := [name for name in AUDIT_COLUMNS if name not in columns]:  # ... and before the audit trail
            with self.db:  # (zeros until `vidseek index rebuild` reads them from the records)
                for name in missing:
                    self.db.execute(f"ALTER TABLE segments ADD COLUMN {name} {AUDIT_COLUMNS[name]}")
        self.db.executescript(_SEGMENTS_INDEX)

    def close(self) -> None:
        self.db.close()

    # -- file ids (content hash cache, keyed by path + size + mtime) ----------------------------------------
    def cached_video_id(self, path: str, size: int, mtime_ns: int) -> str | None:
        row = self.db.execute(
            "SELECT video_id FROM file_ids WHERE path=? AND size_bytes=? AND mtime_ns=?", (path, size, mtime_ns)
        ).fetchone()
        return row["video_id"] if row else None

    def remember_video_id(self, path: str, size: int, mtime_ns: int, video_id: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO file_ids VALUES (?,?,?,?)", (path, size, mtime_ns, video_id))

    # -- videos ---------------------------------------------------------------------------------------------
    def set_video(self, video_id: str, **fields) -> None:
        fields["updated"] = time.time()
        with self.db:
            if self.video(video_id) is None:
                fields.setdefault("status", "ingesting")
                cols = ["video_id", *fields]
                self.db.execute(
                    f"INSERT INTO videos ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                    [video_id, *fields.values()],
                )
            else:
                sets = ",".join(f"{k}=?" for k in fields)
                self.db.execute(f"UPDATE videos SET {sets} WHERE video_id=?", [*fields.values(), video_id])

    def video(self, video_id: str) -> VideoRecord | None:
        row = self.db.execute("SELECT * FROM videos WHERE video_id=?", (video_id,)).fetchone()
        return VideoRecord.from_mapping(row) if row else None

    def find_video(self, key: str) -> VideoRecord | None:
        """A video by id, by path as ingested (relative to the current folder or absolute), or by file name; a
        path holding the same content as an indexed video (a copy ingested in the same run) leads to it too."""
        paths = (key, os.path.abspath(key))
        by_name = "%/" + re.sub(r"([\\%_])", r"\\\1", Path(key).name)  # LIKE, with its wildcards taken literally
        for query, args in (
            ("SELECT * FROM videos WHERE video_id=? OR path IN (?, ?) ORDER BY updated DESC", (key, *paths)),
            (_VIA_FILE_IDS.format(where="f.path IN (?, ?)"), paths),
            ("SELECT * FROM videos WHERE path LIKE ? ESCAPE '\\' ORDER BY updated DESC", (by_name,)),
            (_VIA_FILE_IDS.format(where="f.path LIKE ? ESCAPE '\\'"), (by_name,)),
        ):
            row = self.db.execute(query, args).fetchone()
            if row is not None:
                return VideoRecord.from_mapping(row)
        return None

    def require_video(self, key: str) -> VideoRecord:
        """``find_video``, raising NoSuchVideo when nothing matches."""
        row = self.find_video(key)
        if row is None:
            raise NoSuchVideo(key)
        return row

    def videos(
        self, status: str | None = None, path_prefix: str | None = None, offset: int = 0, limit: int = -1
    ) -> list[VideoListing]:
        """Videos by path, with their chunk and event counts; ``limit`` of them from ``offset`` (-1: all)."""
        where, args = self._video_filter(status, path_prefix)
        rows = self.db.execute(
            f"{_LISTING} {where} ORDER BY path, video_id LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        return [VideoListing.from_mapping(r) for r in rows]

    def listing(self, video_id: str) -> VideoListing | None:
        row = self.db.execute(f"{_LISTING} WHERE v.video_id = ?", (video_id,)).fetchone()
        return VideoListing.from_mapping(row) if row else None

    def count_videos(self, status: str | None = None, path_prefix: str | None = None) -> int:
        where, args = self._video_filter(status, path_prefix)
        return self.db.execute(f"SELECT COUNT(*) FROM videos v {where}", args).fetchone()[0]

    @staticmethod
    def _video_filter(status: str | None, path_prefix: str | None) -> tuple[str, tuple]:
        clauses, args = [], []
        if status is not None:
            clauses.append("v.status = ?")
            args.append(status)
        if path_prefix:  # exactly, case and all (LIKE would ignore case and read % and _ as wildcards)
            clauses.append("substr(v.path, 1, ?) = ?")
            args += [len(path_prefix), path_prefix]
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)

    def video_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT video_id FROM videos")}

    def video_ids_at(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT video_id FROM videos WHERE path=?", (path,))]

    def uses_model(self, model: str) -> bool:
        return self.db.execute("SELECT 1 FROM videos WHERE model=? LIMIT 1", (model,)).fetchone() is not None

    def remove_video(self, video_id: str) -> list[int]:
        ids = [r[0] for r in self.db.execute("SELECT segment_id FROM segments WHERE video_id=?", (video_id,))]
        with self.db:
            self.db.execute("DELETE FROM segments WHERE video_id=?", (video_id,))
            self.db.execute("DELETE FROM transcribed WHERE video_id=?", (video_id,))
            self.db.execute("DELETE FROM videos WHERE video_id=?", (video_id,))
            self.db.execute("DELETE FROM file_ids WHERE video_id=?", (video_id,))
        return ids

    # -- speech (pipeline.speech): which chunks were transcribed, and why some audio gave nothing ---------------
    def mark_transcribed(self, rows: Iterable[tuple[str, str, str]], replace_all: bool = False) -> None:
        """(video_id, chunk_id, note) per transcribed chunk; ``replace_all``: these and no others (a rebuild), in
        one transaction."""
        with self.db:
            if replace_all:
                self.db.execute("DELETE FROM transcribed")
            self.db.executemany("INSERT OR REPLACE INTO transcribed VALUES (?,?,?)", list(rows))

    def transcribed_chunks(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT chunk_id FROM transcribed")}

    def transcribed_videos(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT video_id FROM transcribed")}

    # -- the frame index (pipeline.index.frames) -------------------------------------------------------------
    def upsert_frame_spans(self, rows: Iterable[FrameSpanRecord]) -> None:
        names = [f.name for f in _FRAME_FIELDS]
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO frame_spans ({_FRAME_COLUMNS}) VALUES ({','.join('?' * len(names))})",
                [[getattr(r, n) for n in names] for r in rows],
            )

    def frame_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT frame_id FROM frame_spans")}

    def frame_spans(self, ids: Iterable[int]) -> dict[int, FrameSpanRecord]:
        """The spans of these ids (without their vectors)."""
        ids, out = [int(i) for i in ids], {}
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[start : start + 900]
            q = f"SELECT {_FRAME_COLUMNS} FROM frame_spans WHERE frame_id IN ({','.join('?' * len(part))})"
            out.update({r[0]: FrameSpanRecord(*r) for r in self.db.execute(q, part)})
        return out

    def select_frame_ids(self, video_id: str | None, after_s: float | None, before_s: float | None) -> list[int]:
        """Frame span ids of the video (or all), overlapping [after_s, before_s] where given."""
        where, args = _where(("video_id = ?", video_id), ("end_s > ?", after_s), ("start_s < ?", before_s))
        return [r[0] for r in self.db.execute("SELECT frame_id FROM frame_spans" + where, args)]

    def remove_frame_spans(self, video_id: str) -> list[int]:
        ids = [r[0] for r in self.db.execute("SELECT frame_id FROM frame_spans WHERE video_id=?", (video_id,))]
        with self.db:
            self.db.execute("DELETE FROM frame_spans WHERE video_id=?", (video_id,))
        return ids

    def count_frame_spans(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM frame_spans").fetchone()[0]

    def frame_id_range(self) -> tuple[int | None, int | None]:
        low = self.db.execute("SELECT MIN(frame_id) FROM frame_spans").fetchone()[0]
        return low, self.db.execute("SELECT MAX(frame_id) FROM frame_spans").fetchone()[0]

    def framed_chunks(self) -> dict[str, int]:
        """Video id -> how many of its chunks the frame index holds."""
        q = "SELECT video_id, COUNT(DISTINCT chunk_id) FROM frame_spans GROUP BY video_id"
        return dict(self.db.execute(q).fetchall())

    # -- segments -------------------------------------------------------------------------------------------
    def upsert_segments(self, rows: Iterable[SegmentRecord | IndexedSegment], table: str = "segments") -> None:
        values = [[getattr(r, c) for c in SEGMENT_COLUMNS] for r in rows]
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO {table} ({','.join(SEGMENT_COLUMNS)}) "
                f"VALUES ({','.join('?' * len(SEGMENT_COLUMNS))})",
                values,
            )

    # -- rebuild: a new segments table is filled beside the old one, then swapped in by one transaction ----------
    NEW_SEGMENTS = "segments_new"

    def start_new_segments(self) -> None:
        with self.db:
            self.db.execute(f"DROP TABLE IF EXISTS {self.NEW_SEGMENTS}")  # left by a rebuild that was cut short
            self.db.execute(_SEGMENTS_TABLE.format(name=self.NEW_SEGMENTS))

    def swap_in_new_segments(self) -> None:
        with self.db:
            self.db.execute("DROP TABLE segments")
            self.db.execute(f"ALTER TABLE {self.NEW_SEGMENTS} RENAME TO segments")
            for statement in _SEGMENTS_INDEX.split(";"):
                self.db.execute(statement)

    def segments(self, ids: Iterable[int]) -> dict[int, IndexedSegment]:
        ids = [int(i) for i in ids]
        out: dict[int, IndexedSegment] = {}
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[start : start + 900]
            q = f"SELECT {_INDEXED} FROM segments WHERE segment_id IN ({','.join('?' * len(part))})"
            out.update({r["segment_id"]: IndexedSegment(*r) for r in self.db.execute(q, part)})
        return out

    def segment_ids(self, video_id: str | None = None) -> set[int]:
        q, args = (
            ("SELECT segment_id FROM segments WHERE video_id=?", (video_id,))
            if video_id
            else ("SELECT segment_id FROM segments", ())
        )
        return {r[0] for r in self.db.execute(q, args)}

    def select_ids(
        self,
        video_id: str | None = None,
        after_s: float | None = None,
        before_s: float | None = None,
        kind: str | None = None,
        label: str | None = None,
    ) -> list[int]:
        """Segment ids passing the filters; a time filter keeps segments overlapping [after_s, before_s]."""
        where, args = _where(
            ("video_id = ?", video_id),
            ("end_s > ?", after_s),
            ("start_s < ?", before_s),
            ("kind = ?", kind),
            ("label = ? COLLATE NOCASE", label),
        )
        return [r[0] for r in self.db.execute("SELECT segment_id FROM segments" + where, args)]

    def caption_source(self, chunk_id: str) -> CaptionSource | None:
        """What an indexed chunk passes on to still footage after it (pipeline.carry): its caption, or the one it
        carries; None when the chunk has no caption indexed."""
        q = "SELECT text, model, carried_from FROM segments WHERE segment_id=?"
        row = self.db.execute(q, (segment_id_for(chunk_id, "caption", 0),)).fetchone()
        return CaptionSource(row["carried_from"] or chunk_id, row["text"], row["model"]) if row else None

    def carried_span(self, video_id: str, chunk_id: str) -> tuple[float, float] | None:
        """The span a described chunk's caption holds over: its own and the still footage carrying it; None when
        nothing carries it."""
        q = (
            "SELECT MIN(start_s), MAX(end_s) FROM segments WHERE carried_from=? AND video_id=? "
            "UNION ALL SELECT start_s, end_s FROM segments WHERE segment_id=?"
        )
        rows = self.db.execute(q, (chunk_id, video_id, segment_id_for(chunk_id, "caption", 0))).fetchall()
        if rows[0][0] is None:
            return None
        return min(r[0] for r in rows if r[0] is not None), max(r[1] for r in rows if r[1] is not None)

    def has_carried(self) -> bool:
        """Whether any caption was carried over still footage (else a search has no stretch to look up)."""
        return self.db.execute("SELECT 1 FROM segments WHERE carried_from != '' LIMIT 1").fetchone() is not None

    def costs(self) -> dict[str, ChunkCosts]:
        """Video id -> what describing it took: frames decoded and sent, model calls, carried chunks, tokens."""
        q = (
            "SELECT video_id, SUM(frames_decoded), SUM(frames_sent), SUM(carried_from = ''), SUM(carried_from != ''), "
            "SUM(input_tokens), SUM(output_tokens) FROM segments WHERE kind='caption' GROUP BY video_id"
        )
        return {r[0]: ChunkCosts(*r[1:]) for r in self.db.execute(q)}

    def durations(self, video_ids) -> dict[str, float]:
        ids = list(set(video_ids))
        q = f"SELECT video_id, duration_s FROM videos WHERE video_id IN ({','.join('?' * len(ids))})"
        return {r[0]: r[1] for r in self.db.execute(q, ids)} if ids else {}

    def segment_id_range(self) -> tuple[int | None, int | None]:
        """The smallest and largest segment id (the rowid: two index lookups at any size; asked together, SQLite
        scans the table: 94 ms at 1M segments)."""
        low = self.db.execute("SELECT MIN(segment_id) FROM segments").fetchone()[0]
        return low, self.db.execute("SELECT MAX(segment_id) FROM segments").fetchone()[0]

    def count_segments(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]

    # -- hubness (pipeline.index.hubness) ----------------------------------------------------------------------
    def hubness_missing(self, all_segments: bool = False) -> list[int]:
        q = "SELECT segment_id FROM segments" + ("" if all_segments else " WHERE hubness IS NULL")
        return [r[0] for r in self.db.execute(q)]

    def set_hubness(self, ids: list[int], values: list[float | None]) -> None:
        with self.db:
            self.db.executemany("UPDATE segments SET hubness=? WHERE segment_id=?", zip(values, ids, strict=True))

    # -- context vectors (pipeline.index.context) ----------------------------------------------------------------
    def mark_context_stale(self, rows: list[Segment]) -> None:
        """New ``rows`` change the context of the segments of their video near them (pipeline.index.context):
        those as far again from them as the rows themselves reach, and at least a minute."""
        spans: dict[str, tuple[float, float]] = {}
        for r in rows:
            s, e = spans.get(r.video_id, (r.start_s, r.end_s))
            spans[r.video_id] = (min(s, r.start_s), max(e, r.end_s))
        pads = {v: max(e - s, 60.0) for v, (s, e) in spans.items()}
        with self.db:
            self.db.executemany(
                "UPDATE segments SET context_ok=0 WHERE video_id=? AND start_s<? AND end_s>?",
                [(v, e + pads[v], s - pads[v]) for v, (s, e) in spans.items()],
            )

    def context_stale(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT segment_id FROM segments WHERE NOT context_ok")]

    def context_done(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT segment_id FROM segments WHERE context_ok")}

    def set_context_ok(self, ids: list[int], ok: bool = True) -> None:
        with self.db:
            self.db.executemany("UPDATE segments SET context_ok=? WHERE segment_id=?", [(int(ok), i) for i in ids])

    def timeline(self, video_id: str) -> list[dict]:
        """The video's captions and events in time order (start_s, end_s, kind, label, text): its subtitles."""
        q = "SELECT start_s, end_s, kind, label, text FROM segments WHERE video_id=? ORDER BY start_s, kind, end_s"
        return [dict(r) for r in self.db.execute(q, (video_id,))]

    def captions_between(
        self, video_id: str, after_s: float | None, before_s: float | None, kinds: tuple[str, ...] = ("caption",)
    ) -> list[IndexedSegment]:
        """The video's chunk captions (or segments of ``kinds``) overlapping (after_s, before_s) (either open), in
        time order."""
        q = (
            f"SELECT {_INDEXED} FROM segments WHERE video_id=? AND kind IN ({','.join('?' * len(kinds))}) "
            "AND end_s > ? AND start_s < ? ORDER BY start_s"
        )
        low, high = after_s if after_s is not None else -1.0, before_s if before_s is not None else float("inf")
        return [IndexedSegment(*r) for r in self.db.execute(q, (video_id, *kinds, low, high))]

    def segments_between(self, video_id: str, start_s: float, end_s: float) -> list[IndexedSegment]:
        """The video's segments overlapping [start_s, end_s], in time order."""
        q = f"SELECT {_INDEXED} FROM segments WHERE video_id=? AND start_s<? AND end_s>? ORDER BY start_s"
        return [IndexedSegment(*r) for r in self.db.execute(q, (video_id, end_s, start_s))]

    def sample_segments(self, n: int, min_per_video: int, max_per_video: int, seed: int = 0) -> list[IndexedSegment]:
        """Up to ``n`` segments drawn at random (reproducibly) from videos holding ``min_per_video`` to
        ``max_per_video`` of them."""
        rows = self.db.execute(
            "SELECT segment_id FROM segments WHERE video_id IN (SELECT video_id FROM segments GROUP BY video_id "
            "HAVING COUNT(*) BETWEEN ? AND ?) ORDER BY segment_id",
            (min_per_video, max_per_video),
        ).fetchall()
        ids = [r[0] for r in rows]
        picked = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False) if ids else []
        return list(self.segments(ids[int(i)] for i in sorted(picked)).values())

    def video_of_segments(self, ids: set[int] | None = None) -> dict[int, str]:
        """Segment id -> video id, for ``ids`` or for every segment."""
        if ids is None:
            return {r[0]: r[1] for r in self.db.execute("SELECT segment_id, video_id FROM segments")}
        ids_list, out = list(ids), {}
        for start in range(0, len(ids_list), 900):  # SQLite's bound-parameter limit
            part = ids_list[start : start + 900]
            q = f"SELECT segment_id, video_id FROM segments WHERE segment_id IN ({','.join('?' * len(part))})"
            out.update({r[0]: r[1] for r in self.db.execute(q, part)})
        return out

    # -- gaps: stretches of a live source that were not captured ---------------------------------------------
    def add_gap(self, video_id: str, start_s: float, end_s: float, reason: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO gaps VALUES (?,?,?,?)", (video_id, start_s, end_s, reason))

    def gaps(self, video_id: str) -> list[Gap]:
        rows = self.db.execute("SELECT * FROM gaps WHERE video_id=? ORDER BY start_s", (video_id,))
        return [Gap(*r) for r in rows]

    # -- meta -----------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    # -- whether a vector file was ever saved: one never written is not one lost (pipeline.index.health) --------
    def written(self, file_name: str) -> bool | None:
        """True once the writer saved the file, False for a file of this index not saved yet, None where the
        index predates this record."""
        value = self.get_meta(f"written:{file_name}")
        return None if value is None else value == "yes"

    def expect_written(self, file_name: str) -> None:
        """A new vector file of this index: not written until ``mark_written``."""
        if self.get_meta(f"written:{file_name}") is None:
            self.set_meta(f"written:{file_name}", "no")

    def mark_written(self, file_name: str) -> None:
        if self.get_meta(f"written:{file_name}") != "yes":
            self.set_meta(f"written:{file_name}", "yes")

"""The single writer: each described chunk goes to Parquet first, then the SQLite catalog, then FAISS.

Parquet is the durable record; the catalog and the vectors are derived from it. ``reconcile()`` runs at open
and repairs whatever a crash (even ``kill -9``) left between those three steps, so a re-run never loses or
duplicates a chunk. FAISS is saved (atomically) every ``SAVE_EVERY_S`` seconds and when a video finishes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.config import IndexConfig
from pipeline.embed.base import Embedder
from pipeline.index.catalog import Catalog
from pipeline.index.context import ContextVectors, update_context
from pipeline.index.damage import IndexDamaged, set_aside
from pipeline.index.frames import FrameIndex, check_frame_model, open_frame_index, rebuild_frames
from pipeline.index.hubness import update_hubness
from pipeline.index.layout import IndexLayout
from pipeline.index.lock import IndexLock
from pipeline.index.prior import update_prior_weight
from pipeline.index.records import RecordStore, Unreadable, vectors_of
from pipeline.index.settings import index_settings, rebuilt_settings, record_settings
from pipeline.index.vectors import VectorIndex
from pipeline.types import (
    LIVE_ID_PREFIX,
    TRANSCRIBED,
    ChunkDescription,
    FrameSpanRecord,
    SegmentRecord,
    segment_id_for,
    segments_from,
)

log = logging.getLogger(__name__)
SAVE_EVERY_S = 30.0  # between FAISS saves while chunks land (and at the end of each video)


class IndexWriter:
    def __init__(
        self,
        index_dir: str | Path,
        embedder: Embedder,
        index_cfg: IndexConfig | None = None,  # a new index's settings; an existing one keeps those it recorded
        lock_wait_s: float = 0.0,
        lock: IndexLock | None = None,
    ) -> None:
        self.dir = Path(index_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if lock is None:  # else the caller already holds it
            lock = IndexLock(self.dir)
            lock.acquire(lock_wait_s)  # raises IndexBusy while another process writes this index
        self.lock = lock
        self.embedder = embedder
        self._last_save = time.monotonic()
        self.listeners: list[Callable[[list[SegmentRecord]], object]] = []  # each batch's rows, once committed
        self.catalog = None
        try:
            self._open(index_cfg)
        except BaseException:  # a damaged file: the lease goes back, so the process can go on (the API server)
            if self.catalog is not None:
                self.catalog.close()
            lock.release()
            raise

    def _open(self, index_cfg: IndexConfig | None) -> None:
        self.records = RecordStore(self.dir)
        self.speech = RecordStore(self.dir, IndexLayout(self.dir).speech_records)
        self.catalog = Catalog(self.dir)
        self._check_embedder()
        self.settings = index_settings(self.dir, self.catalog, index_cfg)  # refuses a conflicting configuration
        record_settings(self.catalog, self.settings)
        self.vectors = VectorIndex(self.dir, self.embedder.dim, self.settings)
        if self.vectors.path.exists():
            self.catalog.mark_written(self.vectors.path.name)
        elif not self.catalog.count_segments():  # a new index: until its first save, its file is not yet written
            self.catalog.expect_written(self.vectors.path.name)
        self.context_neighbours = self.settings.context_neighbours
        self.context = _open_context(self.dir, self.embedder.dim, self.settings)
        self.frames = open_frame_index(self.dir, self.catalog, self.settings)  # else opened by its first write
        self.reconcile()

    def _check_embedder(self) -> None:
        known = self.catalog.get_meta("embedder")
        if known is None:
            self.catalog.set_meta("embedder", self.embedder.name)
            self.catalog.set_meta("dim", str(self.embedder.dim))
        elif known != self.embedder.name:
            raise ValueError(
                f"{self.dir} was built with embedder {known!r}, not {self.embedder.name!r}; "
                "use the same embed.model or run `vidseek index rebuild`"
            )

    # -- crash repair ---------------------------------------------------------------------------------------
    def reconcile(self) -> int:
        """Bring catalog and vectors in line with the Parquet records; returns how many segments were repaired.
        Runs on every open, so it compares ids only and reads whole records (vectors) just where one is missing."""
        repaired = 0
        catalog_ids = self.catalog.segment_ids()
        stores = (self.records, self.speech)
        recorded = {(s, v): s.segment_ids(v) for s in stores for v in s.video_ids()}
        for (store, video_id), ids in recorded.items():
            if missing := ids - catalog_ids:
                self.catalog.upsert_segments([r for r in store.rows(video_id) if r.segment_id in missing])
                catalog_ids |= missing
                repaired += len(missing)
        transcribed = self.catalog.transcribed_chunks()
        for video_id in self.speech.video_ids():
            self.catalog.mark_transcribed(m for m in self.speech.markers(video_id) if m[1] not in transcribed)
        restore_missing_videos(
            self.catalog, self.records, [v for s, v in recorded if s is self.records], self.embedder.name
        )
        faiss_ids = set(self.vectors.ids().tolist())
        stale = faiss_ids - catalog_ids
        if stale:
            self.vectors.remove(stale)
        if self.context is not None:  # vectors of removed segments; segments marked done whose vector is lost
            context_ids = set(self.context.ids().tolist())
            if context_ids - catalog_ids:
                self.context.remove(context_ids - catalog_ids)
                self.context.save()
            self.catalog.set_context_ok(list(self.catalog.context_done() - context_ids), ok=False)
        absent = catalog_ids - faiss_ids
        if absent:
            for (store, video_id), ids in recorded.items():
                if ids & absent:
                    rows = [r for r in store.rows(video_id) if r.segment_id in absent]
                    self.vectors.upsert(np.array([r.segment_id for r in rows]), vectors_of(rows))
            repaired += len(absent)
        if stale or absent:
            self.vectors.save()
            log.info("reconciled %s: %d segments restored, %d stale vectors dropped", self.dir, len(absent), len(stale))
        if self.frames is not None:
            repaired += self.frames.reconcile()
        return repaired

    # -- writing --------------------------------------------------------------------------------------------
    def begin_video(
        self, video_id: str, path: str, size_bytes: int, duration_s: float, model: str, config: dict, num_chunks=0
    ) -> None:
        """The video as ``ingesting``; ``num_chunks``: how many chunks it is planned in (until it finishes)."""
        self.catalog.set_video(
            video_id,
            path=path,
            size_bytes=size_bytes,
            duration_s=duration_s,
            status="ingesting",
            reason="",
            num_chunks=num_chunks,
            model=model,
            embedder=self.embedder.name,
            config=json.dumps(config),
        )
        self.records.write_video(self.catalog.video(video_id))

    def done_chunk_ids(self, video_id: str) -> set[str]:
        """The video's described chunks (captions and events in the records)."""
        return self.records.chunk_ids(video_id)

    def transcribed_chunk_ids(self, video_id: str) -> set[str]:
        """The video's chunks whose audio was transcribed (speech found or not)."""
        return self.speech.chunk_ids(video_id)

    def write_speech(self, span, transcript) -> list[SegmentRecord]:
        """Index one chunk's transcript (pipeline.speech): its utterances as ``speech`` segments (text, seconds,
        language as the label), and a marker that the chunk was transcribed, with why nothing was said where
        that is not silence. Durable like captions: the record first, then catalog and vectors."""
        rows = speech_rows(span, transcript, self.embedder)
        self.speech.write_chunk(span.video_id, span.chunk_id, rows)
        said = [r for r in rows if r.kind == "speech"]
        self.catalog.upsert_segments(said)
        self.catalog.mark_transcribed([(span.video_id, span.chunk_id, transcript.note)])
        if said:
            if self.context is not None:
                self.catalog.mark_context_stale(said)
            self.vectors.upsert(np.array([r.segment_id for r in said]), vectors_of(said))
        if time.monotonic() - self._last_save > SAVE_EVERY_S:
            self.save()
        for listener in self.listeners:
            if said:
                listener(said)
        return said

    def framed_chunk_ids(self, video_id: str) -> set[str]:
        return self.frames.done_chunk_ids(video_id) if self.frames is not None else set()

    def write_frames(self, rows: list[FrameSpanRecord], embedder_name: str) -> None:
        """Index one chunk's frame spans (pipeline.index.frames.frame_records): searchable by what it looks like
        from the next save, whether or not it is described yet."""
        if not rows:
            return
        if self.frames is None:
            self.frames = FrameIndex(self.dir, self.catalog, embedder_name, len(rows[0].vector), self.settings)
        check_frame_model(self.dir, self.frames.name, embedder_name)
        self.frames.write(rows)
        if time.monotonic() - self._last_save > SAVE_EVERY_S:
            self.save()

    def write(self, description: ChunkDescription, decoder: str = "") -> list[SegmentRecord]:
        """Index one chunk's caption and events; returns the rows written (segments with their vectors)."""
        return self.write_batch([description], decoder)

    def write_batch(self, descriptions: list[ChunkDescription], decoder: str = "") -> list[SegmentRecord]:
        """Index several chunks with one embedding call and one Parquet file per video, then tell the listeners
        (standing queries)."""
        rows, vectors = record_rows(descriptions, self.embedder, decoder)
        by_video: dict[str, list[SegmentRecord]] = {}
        for row in rows:
            by_video.setdefault(row.video_id, []).append(row)
        for video_id, video_rows in by_video.items():
            self.records.write_chunk(video_id, video_rows[0].chunk_id, video_rows)
        self.catalog.upsert_segments(rows)
        if self.context is not None:
            self.catalog.mark_context_stale(rows)
        self.vectors.upsert(np.array([r.segment_id for r in rows]), vectors)
        if time.monotonic() - self._last_save > SAVE_EVERY_S:
            self.save()
        for listener in self.listeners:
            listener(rows)
        return rows

    def finish_video(
        self, video_id: str, status: str, reason: str = "", num_chunks: int = 0, save: bool = True
    ) -> None:
        """Compact the video's records and mark it; ``save=False`` leaves the FAISS save to the caller (bulk
        loads), which is safe: a crash before the save is repaired from the records on the next open."""
        self.records.compact(video_id)
        self.speech.compact(video_id)
        if self.frames is not None:
            self.frames.records.compact(video_id)
        if save:
            self.save()
        self.catalog.set_video(video_id, status=status, reason=reason, num_chunks=num_chunks)
        self.records.write_video(self.catalog.video(video_id))

    def remove_earlier_versions(self, video_id: str, path: str) -> int:
        """Remove the other videos recorded at ``path``: the file there has changed (it finished copying, or was
        replaced), so their times no longer match it. Returns how many segments went."""
        return sum(self.remove_video(old) for old in self.catalog.video_ids_at(path) if old != video_id)

    def remove_video(self, video_id: str) -> int:
        if self.frames is not None:
            self.frames.remove_video(video_id)
        ids = self.catalog.remove_video(video_id)
        self.vectors.remove(ids)
        if self.context is not None:
            self.context.remove(ids)
        self.save()
        self.records.remove_video(video_id)
        self.speech.remove_video(video_id)
        return len(ids)

    def save(self, contexts: bool = True, full_hubness: bool = False) -> None:
        """``full_hubness`` recomputes every segment's hubness (and the prior's weight) against the index as it is
        now: the values then do not depend on when earlier saves happened (every 30 s and after each video)."""
        update_hubness(self.catalog, self.vectors, full_hubness)  # before the vectors: readers reload on those
        update_prior_weight(self.catalog, self.vectors, force=full_hubness)
        self.vectors.save()  # new chunks are searchable from here
        self.catalog.mark_written(self.vectors.path.name)
        if self.frames is not None:
            self.frames.save()
        self._last_save = time.monotonic()
        if contexts:
            self.save_contexts()

    def save_contexts(self) -> None:
        """Recompute the contexts that new chunks changed and save them; until then a reader ranks a segment
        without a context by its own similarity."""
        if self.context is not None:
            save_context(self.catalog, self.context, self.embedder, self.context_neighbours)

    def close(self, full_hubness: bool = False) -> None:
        try:
            self.save(full_hubness=full_hubness)
        finally:  # a failed save (a full disk) still hands the lease back
            self.catalog.close()
            self.lock.release()


def record_rows(
    descriptions: list[ChunkDescription], embedder: Embedder, decoder: str = ""
) -> tuple[list[SegmentRecord], np.ndarray]:
    """The segments of described chunks as record rows, each with its vector, and the vectors."""
    segments = [(d, s) for d in descriptions for s in segments_from(d)]
    vectors = embedder.embed([s.text for _, s in segments])
    rows = [
        SegmentRecord(
            **s.__dict__,
            chunk_start_s=d.span.start_s,
            chunk_end_s=d.span.end_s,
            model=d.model,
            input_tokens=d.input_tokens,
            output_tokens=d.output_tokens,
            problem=d.problem,
            reasoning=d.reasoning,
            decoder=decoder,
            **(_audit(d) if s.kind == "caption" else {}),
            vector=v.tolist(),
        )
        for (d, s), v in zip(segments, vectors, strict=True)
    ]
    return rows, vectors


def speech_rows(span, transcript, embedder: Embedder) -> list[SegmentRecord]:
    """A transcript as record rows: each utterance a ``speech`` segment with its vector, then the chunk's marker
    (kind ``TRANSCRIBED``: never indexed; its text says why nothing was said where that is not silence)."""
    said = transcript.utterances
    vectors = embedder.embed([u.text for u in said]) if said else []
    base = {"chunk_id": span.chunk_id, "video_id": span.video_id, "video_path": span.video_path}
    chunk = {"chunk_start_s": span.start_s, "chunk_end_s": span.end_s, "model": transcript.model}
    rows = [
        SegmentRecord(
            segment_id=segment_id_for(span.chunk_id, "speech", i), **base, start_s=u.start_s, end_s=u.end_s,
            kind="speech", text=u.text, label=u.language, **chunk, vector=v.tolist(),
        )
        for i, (u, v) in enumerate(zip(said, vectors, strict=True))
    ]  # fmt: skip
    marker = SegmentRecord(
        segment_id=segment_id_for(span.chunk_id, TRANSCRIBED, 0), **base, start_s=span.start_s, end_s=span.end_s,
        kind=TRANSCRIBED, text=transcript.note, **chunk, vector=[],
    )  # fmt: skip
    return [*rows, marker]


def _audit(description: ChunkDescription) -> dict:
    """The chunk's audit trail, kept on its caption's row."""
    d = description
    return {"frame_pts": list(d.frame_pts), "frames_decoded": d.frames_decoded, "carried_from": d.carried_from}


def _open_context(index_dir: Path, dim: int, cfg: IndexConfig) -> ContextVectors | None:
    """The context vectors, or None when ``index.context_neighbours`` is 0 (then a file left from before is
    dropped: its vectors would go stale unseen)."""
    if cfg.context_neighbours > 0:
        return ContextVectors(index_dir, dim, cfg)
    IndexLayout(index_dir).context.unlink(missing_ok=True)
    return None


def save_context(catalog: Catalog, context: ContextVectors, embedder: Embedder, neighbours: int) -> None:
    """Recompute stale contexts and save them (and any removals); marked done only once the file holds them."""
    done = update_context(catalog, context, embedder, neighbours)
    context.save()
    catalog.set_context_ok(done)


@dataclass
class Rebuilt:
    segments: int
    videos_restored: int = 0  # catalog rows recreated from the records (the catalog was lost or set aside)
    damaged_catalog: Path | None = None  # where an unreadable catalog was moved
    set_aside: list[tuple[Unreadable, Path]] = field(default_factory=list)  # unreadable records, and where they went
    videos_failed: dict[str, str] = field(default_factory=dict)  # path -> why: records unreadable or missing
    frame_spans: int = 0  # the frame index's spans, restored from its records


def rebuild_index(
    index_dir: str | Path, embedder: Embedder, index_cfg: IndexConfig | None = None, wait_s: float = 0.0
) -> Rebuilt:
    """Recreate catalog segments and FAISS from the Parquet records (re-embedding if the embedder changed).

    Everything new is built beside the old (a second segments table, FAISS files under another name) and swapped
    in only once complete, so a rebuild that fails leaves the index as it was. An unreadable catalog is set
    aside; an unreadable record is moved to ``DIR/damaged/`` and its video marked failed, so the next ingest
    describes what it held again; a finished video whose records lack chunks is marked failed the same way."""
    index_dir = Path(index_dir)
    lock = IndexLock(index_dir)
    lock.acquire(wait_s)
    try:
        return _rebuild(index_dir, embedder, index_cfg or IndexConfig())  # values it sets replace recorded ones
    finally:
        lock.release()


def _rebuild(index_dir: Path, embedder: Embedder, index_cfg: IndexConfig) -> Rebuilt:
    damaged, files = None, IndexLayout(index_dir)
    try:
        catalog = Catalog(index_dir)
    except IndexDamaged:
        damaged = set_aside(files.catalog)
        catalog = Catalog(index_dir)
    same_embedder = catalog.get_meta("embedder") in (None, embedder.name)
    index_cfg = rebuilt_settings(catalog, index_dir, index_cfg)
    new_file = files.rebuilding(files.vectors)
    new_file.unlink(missing_ok=True)  # left by a rebuild that was cut short
    vectors = VectorIndex(index_dir, embedder.dim, index_cfg, path=new_file)
    records = RecordStore(index_dir)
    unreadable: dict[str, list[Unreadable]] = {}
    catalog.start_new_segments()
    total = 0
    video_ids = records.video_ids()
    for video_id in video_ids:
        bad: list[Unreadable] = []
        rows = records.rows(video_id, bad)
        records.video_row(video_id, bad)
        if bad:
            unreadable[video_id] = bad
        if rows:
            vecs = vectors_of(rows) if same_embedder else embedder.embed([r.text for r in rows])
            catalog.upsert_segments(rows, table=Catalog.NEW_SEGMENTS)
            vectors.upsert(np.array([r.segment_id for r in rows]), vecs)
            total += len(rows)
    total += _rebuild_speech(index_dir, catalog, vectors, embedder, same_embedder)
    vectors.save()
    # swap: the catalog's segments in one transaction, then the vectors by rename (a crash in between is what
    # the writer's reconcile repairs on the next open)
    catalog.swap_in_new_segments()
    catalog.set_meta("embedder", embedder.name)
    catalog.set_meta("dim", str(embedder.dim))
    record_settings(catalog, index_cfg)
    os.replace(new_file, files.vectors)
    catalog.mark_written(files.vectors.name)
    vectors.path = files.vectors
    moved = [(u, records.set_aside(u.path)) for bad in unreadable.values() for u in bad]
    restored = restore_missing_videos(catalog, records, video_ids, embedder.name)
    failed = mark_incomplete_videos(catalog, records, moved)
    update_hubness(catalog, vectors)
    update_prior_weight(catalog, vectors, force=True)
    _rebuild_context(index_dir, catalog, embedder, index_cfg)
    frames = rebuild_frames(index_dir, catalog, index_cfg)
    catalog.close()
    return Rebuilt(total, restored, damaged, moved, failed, frames)


def _rebuild_speech(index_dir: Path, catalog: Catalog, vectors: VectorIndex, embedder, same_embedder: bool) -> int:
    """The speech segments and transcribed chunks from their records (an unreadable one is left out: its chunks
    count as not transcribed, so the next ingest transcribes them again)."""
    speech = RecordStore(index_dir, IndexLayout(index_dir).speech_records)
    total, markers = 0, []
    for video_id in speech.video_ids():
        rows = speech.rows(video_id, unreadable=[])
        markers += speech.markers(video_id)
        if rows:
            vecs = vectors_of(rows) if same_embedder else embedder.embed([r.text for r in rows])
            catalog.upsert_segments(rows, table=Catalog.NEW_SEGMENTS)
            vectors.upsert(np.array([r.segment_id for r in rows]), vecs)
            total += len(rows)
    catalog.mark_transcribed(markers, replace_all=True)
    return total


def _rebuild_context(index_dir: Path, catalog: Catalog, embedder: Embedder, index_cfg: IndexConfig) -> None:
    """Context vectors for every segment, written beside the old file and renamed over it."""
    files = IndexLayout(index_dir)
    if index_cfg.context_neighbours <= 0:
        files.context.unlink(missing_ok=True)
        return
    new_file = files.rebuilding(files.context)
    new_file.unlink(missing_ok=True)
    context = ContextVectors(index_dir, embedder.dim, index_cfg, path=new_file)
    done = update_context(catalog, context, embedder, index_cfg.context_neighbours)
    context.save()
    os.replace(new_file, files.context)
    catalog.set_context_ok(done)


def mark_incomplete_videos(catalog: Catalog, records: RecordStore, moved: list[tuple[Unreadable, Path]]) -> dict:
    """Mark failed every video whose records were unreadable, and every finished, described file whose records
    hold fewer chunks than it had: the next ingest then describes the missing chunks again (a frames-only video
    has no caption records to count). Returns path -> reason."""
    where = {}
    for bad, target in moved:
        video_id = bad.path.name.split(".")[0] if bad.path.parent == records.root else bad.path.parent.name
        where.setdefault(video_id, []).append(f"{bad.path.name} unreadable ({bad.reason}), moved to {target}")
    failed = {}
    for video in catalog.videos():
        have = len(records.chunk_ids(video.video_id))
        short = video.status == "complete" and bool(video.model) and have < (video.num_chunks or 0)
        if video.video_id not in where and not short:
            continue
        held = f"records hold {have} of {video.num_chunks or have} chunks"
        reason = "; ".join([*where.get(video.video_id, []), held]) + ": ingest the file again to describe the rest"
        catalog.set_video(video.video_id, status="failed", reason=reason, num_chunks=have)
        records.write_video(catalog.video(video.video_id))
        failed[video.path] = reason
    return failed


def restore_missing_videos(catalog: Catalog, records: RecordStore, recorded: Iterable[str], embedder: str) -> int:
    """Catalog rows for the videos the records have and the catalog lacks (a lost catalog; a machine lost mid-run
    after pushing only its records); returns how many were restored."""
    missing = set(recorded) - catalog.video_ids()
    return sum(restore_video_row(catalog, records, video_id, embedder) for video_id in sorted(missing))


def restore_video_row(catalog: Catalog, records: RecordStore, video_id: str, embedder: str) -> bool:
    """A video's catalog row: the one the writer kept beside the records where there is one, else one made from
    the records, which do not say whether every chunk was indexed: such a file is marked ``ingesting``, and the
    next ingest of it describes only the chunks the records lack, then completes it. A run that was cut short
    (``ingesting``, ``live``) gets its chunk count from the records."""
    live = video_id.startswith(LIVE_ID_PREFIX)
    kept = records.video_row(video_id)
    if kept is not None:
        if kept.status in ("ingesting", "live"):
            cut_short = {"status": "stopped" if live else "ingesting", "num_chunks": len(records.chunk_ids(video_id))}
            kept = replace(kept, **cut_short)
        fields = {k: v for k, v in asdict(kept).items() if k not in ("video_id", "updated")}
        catalog.set_video(video_id, **(fields | {"embedder": embedder}))
        return True
    rows = records.rows(video_id)
    if not rows:
        return False
    catalog.set_video(
        video_id,
        path=rows[0].video_path,
        duration_s=max(r.chunk_end_s for r in rows) if not live else None,
        status="stopped" if live else "ingesting",
        reason="restored from the records by `vidseek index rebuild`",
        num_chunks=len({r.chunk_id for r in rows}),
        model=rows[0].model,
        embedder=embedder,
    )
    return True

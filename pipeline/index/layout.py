"""Every name inside an index folder, in one place. The classes that read and write these files take the folder
and ask this layout where their file is, so a name is changed (or a file added) here and nowhere else.

    DIR/catalog.sqlite      what each vector means, and each video's state        (pipeline.index.catalog)
    DIR/vectors.faiss       one vector per caption and event                       (pipeline.index.vectors)
    DIR/context.faiss       the same segments with their neighbours' text          (pipeline.index.context)
    DIR/records/            the durable Parquet records the rest is rebuilt from   (pipeline.index.records)
    DIR/frames.faiss        the frame index: one vector per span of alike frames   (pipeline.index.frames)
    DIR/frames/             its Parquet records, one file per chunk                (pipeline.index.frames)
    DIR/speech/             speech segments' Parquet records, as records/ holds     (pipeline.speech; vectors in
                            captions', and a marker per transcribed chunk           vectors.faiss with the rest)
    DIR/damaged/            unreadable files, set aside by a rebuild               (pipeline.index.damage)
    DIR/writer.lock         the single writer's lease                              (pipeline.index.lock)
    DIR/alerts.sqlite       standing queries and their alerts                      (pipeline.alerts.store)
    DIR/runs/               one summary per ingest run                             (pipeline.job)
    DIR/thumbnails/         the service's thumbnail cache                          (workers.api_videos)
    DIR/.rebuild-*          new FAISS files a rebuild writes before renaming them over the old ones
    DIR/.mirror.json, LEASE.json   a remote index's mirror manifest and its writer lease (pipeline.index.remote)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REBUILD_PREFIX = ".rebuild-"
LEASE = "LEASE.json"  # in the store, beside the index's files
MIRROR_MANIFEST = ".mirror.json"  # in the local mirror: what it last agreed with the store


class NotAnIndex(FileNotFoundError):
    def __init__(self, folder: Path, why: str = "") -> None:
        why = f": {why}" if why else f" (no {IndexLayout(folder).catalog.name}); run `vidseek ingest` first"
        super().__init__(f"{folder} is not a vidseek index{why}")


@dataclass(frozen=True)
class IndexLayout:
    dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "dir", Path(self.dir))  # a str is taken too

    @property
    def catalog(self) -> Path:
        return self.dir / "catalog.sqlite"

    @property
    def vectors(self) -> Path:
        return self.dir / "vectors.faiss"

    @property
    def context(self) -> Path:
        return self.dir / "context.faiss"

    @property
    def records(self) -> Path:
        return self.dir / "records"

    @property
    def frame_vectors(self) -> Path:
        return self.dir / "frames.faiss"

    @property
    def frame_records(self) -> Path:
        return self.dir / "frames"

    @property
    def speech_records(self) -> Path:
        return self.dir / "speech"

    @property
    def damaged(self) -> Path:
        return self.dir / "damaged"

    @property
    def lock(self) -> Path:
        return self.dir / "writer.lock"

    @property
    def alerts(self) -> Path:
        return self.dir / "alerts.sqlite"

    @property
    def runs(self) -> Path:
        return self.dir / "runs"

    @property
    def thumbnails(self) -> Path:
        return self.dir / "thumbnails"

    @staticmethod
    def rebuilding(path: Path) -> Path:
        """Where a rebuild writes the new ``path`` before renaming it over the old one."""
        return path.with_name(REBUILD_PREFIX + path.name)

    def local_only(self) -> set[str]:
        """Names a remote index never copies to its store: the local lock and the mirror's own bookkeeping."""
        return {LEASE, MIRROR_MANIFEST, self.lock.name}

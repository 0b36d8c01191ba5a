"""An index's own settings: recorded in its catalog when it is created, used by every later command.

Without this, each command opened an index with whatever configuration it was given: `vidseek remove` (which takes
none) created context vectors on an index built without them, and a searcher scanned 64 IVF lists whatever
``index.nprobe`` the index was built with. Now the first writer records the ``index`` section (the embedder and
its dimension are recorded beside it), readers and writers use what is recorded, and a configuration that sets a
recorded value to something else is refused with the remedy: keep it, or rebuild with the new one.

Indexes made before settings were recorded get them inferred once: context vectors only if the file exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import IndexConfig
from pipeline.index.catalog import Catalog
from pipeline.index.layout import IndexLayout

META_KEY = "index_settings"


class SettingsConflict(ValueError):
    """A configuration sets one of an existing index's recorded settings to another value."""


def recorded_settings(catalog: Catalog) -> IndexConfig | None:
    text = catalog.get_meta(META_KEY)
    return IndexConfig.model_validate(json.loads(text)) if text else None


def index_settings(index_dir: Path, catalog: Catalog, given: IndexConfig | None = None) -> IndexConfig:
    """The settings to open ``index_dir`` with: those it recorded, or for an index that recorded none, ``given``
    (an older index keeps the context vectors it has or lacks). Raises SettingsConflict where ``given`` sets a
    recorded value to another one; values ``given`` only takes by default are not a conflict."""
    recorded = recorded_settings(catalog)
    if recorded is None:
        recorded = (given or IndexConfig()).model_copy()
        if catalog.count_segments() and not IndexLayout(index_dir).context.exists():
            recorded.context_neighbours = 0
        return recorded
    if given is not None:
        check_conflicts(index_dir, recorded, given)
    return recorded


def check_conflicts(index_dir: Path, recorded: IndexConfig, given: IndexConfig) -> None:
    differ = [
        (name, getattr(recorded, name), getattr(given, name))
        for name in sorted(given.model_fields_set)
        if getattr(given, name) != getattr(recorded, name)
    ]
    if differ:
        name, was, now = differ[0]
        raise SettingsConflict(
            f"{index_dir} was built with index.{name}={was}, the configuration gives {now}: an index keeps the "
            f"settings it was built with. Leave index.{name} out, or run `vidseek index rebuild --set "
            f"index.{name}={now}` to rebuild it with the new value"
        )


def record_settings(catalog: Catalog, settings: IndexConfig) -> None:
    catalog.set_meta(META_KEY, settings.model_dump_json())


def rebuilt_settings(catalog: Catalog, index_dir: Path, given: IndexConfig) -> IndexConfig:
    """A rebuild's settings: the recorded ones, with any value ``given`` sets explicitly replacing them."""
    recorded = index_settings(index_dir, catalog)
    return recorded.model_copy(update={name: getattr(given, name) for name in given.model_fields_set})

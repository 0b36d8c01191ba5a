"""Shared fixtures: the real clips in ../shared/media (skipped with a reason when absent) and test doubles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# The suite draws the same examples every run (a CI failure reproduces); `HYPOTHESIS_PROFILE=explore` draws new
# ones each run, to look for more.
settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

REPO = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("VIDSEEK_MEDIA", REPO.parent / "shared" / "media"))


def media_path(name: str) -> str:
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"real test media not available: {path} (the shared/media folder is absent)")
    return str(path)


@pytest.fixture
def media():
    return media_path


@pytest.fixture(scope="session")
def embedder():
    from pipeline.config import EmbedConfig
    from pipeline.embed import make_embedder

    return make_embedder(EmbedConfig())


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A monkeypatch that hypothesis tests may use (function-scoped fixtures are reset only once per test)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch

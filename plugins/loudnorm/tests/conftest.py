"""Fixtures of the hushcut-loudnorm tests: shared media and the installed plugins loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from hushcut.pipeline.api import default_plugin_manager
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV

#: The repository's shared test media, laid beside the clone (see shared/media/README.md).
MEDIA_DIR = Path(__file__).resolve().parents[4] / "shared" / "media"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        pytest.fail(f"test media not found at {MEDIA_DIR} (shared/ must sit beside the clone)")
    return MEDIA_DIR


@pytest.fixture(autouse=True)
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the installed plugins (this one among them) afresh for every test."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    default_plugin_manager.cache_clear()

"""Fixtures of the hushcut-speedup tests: the tone clip and the installed plugins loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from speedup_media import PATTERN, write_clip

from hushcut.pipeline.api import default_plugin_manager
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV


@pytest.fixture(scope="session")
def tone_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("speedup") / "tone-talk.mp4", PATTERN)


@pytest.fixture(autouse=True)
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the installed plugins (this one among them) afresh for every test."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    default_plugin_manager.cache_clear()

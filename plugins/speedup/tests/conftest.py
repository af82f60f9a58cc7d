"""Fixtures of the hushcut-speedup tests: the tone clip; only this plugin installed
beside the built-in steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from speedup_media import PATTERN, write_clip

from hushcut.pipeline.plugins import HushcutPluginManager
from hushcut.pipeline.testing import PluginManagers

pytest_plugins = ["hushcut.pipeline.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def tone_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("speedup") / "tone-talk.mp4", PATTERN)


@pytest.fixture(autouse=True)
def only_this_plugin(hushcut_plugins: PluginManagers) -> HushcutPluginManager:
    """The built-in steps and this plugin (from its entry point), whatever else is
    installed: the default for `plan`, `cut` and the `hushcut` command in every test."""
    return hushcut_plugins.use("speedup")

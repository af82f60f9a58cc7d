"""Fixtures of the hushcut-loudnorm tests: the kit's sample media; only this plugin
installed beside the built-in steps."""

from __future__ import annotations

import pytest

from hushcut.pipeline.plugins import HushcutPluginManager
from hushcut.pipeline.testing import PluginManagers

pytest_plugins = ["hushcut.pipeline.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def only_this_plugin(hushcut_plugins: PluginManagers) -> HushcutPluginManager:
    """The built-in steps and this plugin (from its entry point), whatever else is
    installed: the default for `cut` and the `hushcut` command in every test."""
    return hushcut_plugins.use("loudnorm")

"""Fixtures of the hushcut-vad tests: the kit's talk, with a drum loop under it; only
this plugin installed beside the built-in steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from vad_media import with_drum_bed

from hushcut.pipeline.plugins import HushcutPluginManager
from hushcut.pipeline.testing import PluginManagers

pytest_plugins = ["hushcut.pipeline.testing.pytest_plugin"]

#: Level of the music bed under the speech (dBFS RMS), as the issue asks.
BED_DBFS = -30.0


@pytest.fixture(scope="session")
def talk_over_drums(sample_talk: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The talk's audio (60 s, ground truth beside the talk) with a drum loop at -30 dBFS."""
    folder = tmp_path_factory.mktemp("vad")
    return with_drum_bed(sample_talk, folder / "talk-drums.wav", BED_DBFS)


@pytest.fixture(autouse=True)
def only_this_plugin(hushcut_plugins: PluginManagers) -> HushcutPluginManager:
    """The built-in steps and this plugin (from its entry point), whatever else is
    installed: the default for `detect`, `cut` and the `hushcut` command in every test."""
    return hushcut_plugins.use("vad")

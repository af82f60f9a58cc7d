"""Fixtures of the hushcut-otio tests: small clips at PAL and NTSC rates and audio only,
and plugin managers with this plugin."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import hushcut_otio.plugin
import pytest
from otio_media import write_clip

from hushcut.pipeline import HushcutPluginManager, get_plugin_manager
from hushcut.pipeline.api import default_plugin_manager
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV

#: name -> (frame rate or None for audio only, audio channels)
CLIPS = {
    "pal-stereo": (Fraction(25), 2),
    "ntsc-mono": (Fraction(30000, 1001), 1),
    "audio-only": (None, 2),
}


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("otio clips")  # a space: URLs must encode it
    return {
        name: write_clip(folder / f"{name}.{'mp4' if fps else 'm4a'}", fps=fps, channels=channels)
        for name, (fps, channels) in CLIPS.items()
    }


@pytest.fixture
def pm() -> HushcutPluginManager:
    """The built-in steps plus this plugin only, whatever else is installed."""
    manager = get_plugin_manager(autoload=False)
    manager.register(hushcut_otio.plugin, name="otio")
    return manager


@pytest.fixture(autouse=True)
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the installed plugins (this one among them) afresh for every test."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    default_plugin_manager.cache_clear()

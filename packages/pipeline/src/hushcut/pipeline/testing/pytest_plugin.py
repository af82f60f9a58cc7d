"""pytest fixtures of the test kit. Enable them in your top-level ``conftest.py``::

    pytest_plugins = ["hushcut.pipeline.testing.pytest_plugin"]

- ``sample_media``: sample files by name or spec, generated once and cached
  (``sample_media("mono.mp3")``, ``sample_media("talk", noise_dbfs=-42)``).
- ``sample_talk``: the default talk (60 s, 640x360 H.264 + AAC, truth beside it).
- ``hushcut_plugins``: plugin managers holding the built-in steps and exactly the plugins
  a test names; ``hushcut_plugins.use(...)`` also makes one the default for the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hushcut.pipeline.testing import PluginManagers, SampleMedia, cache_dir


@pytest.fixture(scope="session")
def sample_media_cache() -> Path:
    """The cache folder of generated media (``$HUSHCUT_TEST_MEDIA_CACHE`` moves it)."""
    return cache_dir()


@pytest.fixture(scope="session")
def sample_media(sample_media_cache: Path) -> SampleMedia:
    return SampleMedia(sample_media_cache)


@pytest.fixture(scope="session")
def sample_talk(sample_media: SampleMedia) -> Path:
    return sample_media("talk")


@pytest.fixture
def hushcut_plugins() -> Iterator[PluginManagers]:
    managers = PluginManagers()
    yield managers
    managers.close()

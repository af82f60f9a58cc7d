"""Fixtures of the hushcut-vad tests: talk1 with a drum loop under it, plugins loaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from vad_media import with_drum_bed

from hushcut.pipeline.api import default_plugin_manager
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV

REPO = Path(__file__).resolve().parents[3]
#: The repository's shared test media, laid beside the clone (see shared/media/README.md).
MEDIA_DIR = REPO.parent / "shared" / "media"
#: Level of the music bed under the speech (dBFS RMS), as the issue asks.
BED_DBFS = -30.0

# The detector is scored with the pipeline tests' scoring (tests/pipeline/scoring.py) so
# that every detector in the repository is measured the same way.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        pytest.fail(f"test media not found at {MEDIA_DIR} (shared/ must sit beside the clone)")
    return MEDIA_DIR


@pytest.fixture(scope="session")
def talk_over_drums(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """talk1's audio (60 s, ground truth in talk1.json) with a drum loop at -30 dBFS."""
    folder = tmp_path_factory.mktemp("vad")
    return with_drum_bed(media_dir / "talk1.mp4", folder / "talk1-drums.wav", BED_DBFS)


@pytest.fixture(autouse=True)
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the installed plugins (this one among them) afresh for every test."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    default_plugin_manager.cache_clear()

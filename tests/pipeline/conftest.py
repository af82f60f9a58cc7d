"""Fixtures of the pipeline tests: media with ground truth, broken files, plugin managers."""

from __future__ import annotations

import random
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from hushcut.pipeline.api import default_plugin_manager
from hushcut.pipeline.plugins import DISABLE_AUTOLOAD_ENV, get_plugin_manager
from hushcut.pipeline.testing import SampleMedia
from tests.pipeline.media import remux_without_audio

#: The noisy talk of the detection acceptance test: the issue's -42 dBFS noise floor (a
#: fixed -35 dB threshold finds nothing there). Audio only: detection needs no picture.
NOISY_TALK = {"noise_dbfs": -42.0, "duration": 40.0, "seed": 1, "container": "m4a", "video": None}


@pytest.fixture(scope="session")
def talk(sample_talk: Path) -> Path:
    """The kit's default talk: 60 s, 640x360 H.264 (8.3 s GOPs) + AAC, truth beside it."""
    return sample_talk


@pytest.fixture(scope="session")
def noisy_talk(sample_media: SampleMedia) -> Path:
    """A 40 s talk over a -42 dBFS noise floor (truth beside it)."""
    return sample_media("talk", **NOISY_TALK)


@pytest.fixture(scope="session")
def broken_media(talk: Path, tmp_path_factory) -> dict[str, Path]:
    """Inputs a user will upload by mistake, each with the failure it must produce."""
    folder = tmp_path_factory.mktemp("broken")
    text = folder / "notes.mp4"
    text.write_text("These are my meeting notes, not a video.\n")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "talk-truncated.mp4"
    with talk.open("rb") as src:
        truncated.write_bytes(src.read(talk.stat().st_size // 3))
    no_audio = remux_without_audio(talk, folder / "silent-film.mp4")
    damaged = folder / "talk-damaged.mp4"
    # Damage as dense as 200 and 20,000 spots were in a 23.6 MB talk: a few packets, or
    # the whole file.
    size = talk.stat().st_size
    damaged.write_bytes(scribble(talk.read_bytes(), spots=max(5, size // 118_000), seed=1))
    wrecked = folder / "talk-wrecked.mp4"
    wrecked.write_bytes(scribble(talk.read_bytes(), spots=size // 1_180, seed=2))
    return {
        "text": text,
        "empty": empty,
        "truncated": truncated,
        "no_audio": no_audio,
        "damaged": damaged,
        "wrecked": wrecked,
    }


def scribble(data: bytes, *, spots: int, seed: int) -> bytes:
    """``data`` with ``spots`` runs of 50 random bytes written over it, past the header."""
    rng = random.Random(seed)
    damaged = bytearray(data)
    for _ in range(spots):
        at = rng.randrange(min(200_000, len(damaged) // 10), len(damaged) - 100)
        damaged[at : at + 50] = rng.randbytes(50)
    return bytes(damaged)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A plugin manager with only the built-in steps (installed plugins not loaded)."""
    return get_plugin_manager(autoload=False)


@pytest.fixture(autouse=True)
def no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pipeline tests see only the built-in steps, whatever plugins the workspace holds
    (each plugin distribution tests itself); tests that install one say so."""
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    default_plugin_manager.cache_clear()
    yield
    default_plugin_manager.cache_clear()


@pytest.fixture
def fresh_default_manager() -> Iterator[None]:
    """Forget the cached process-wide plugin manager before and after the test."""
    default_plugin_manager.cache_clear()
    yield
    default_plugin_manager.cache_clear()


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default_manager: None
) -> Iterator[Callable[..., Path]]:
    """Install a throwaway distribution with ``hushcut.pipeline`` entry points.

    Call it with the distribution name, module sources ``{module: code}``, entry points
    ``{name: "module:attr"}`` and optionally their group; it is visible to
    importlib.metadata and to imports.
    """
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(
        name: str,
        modules: dict[str, str],
        entry_points: dict[str, str],
        group: str = "hushcut.pipeline",
    ) -> Path:
        for module, code in modules.items():
            (tmp_path / f"{module}.py").write_text(code)
        info = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")
        return tmp_path

    yield install
    for module in [m for m in sys.modules if m.startswith("hushcut_test_plugin")]:
        del sys.modules[module]


@pytest.fixture
def workdir(tmp_path: Path, talk: Path) -> Path:
    """A scratch directory holding a copy of the talk, as talk.mp4 (nothing writes into
    the media cache)."""
    shutil.copy(talk, tmp_path / "talk.mp4")
    return tmp_path

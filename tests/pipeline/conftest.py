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
from tests.pipeline.media import MissingToolError, make_talk, remux_without_audio

#: Parameters of the noisy talk the detection acceptance test generates: the issue's
#: -42 dBFS noise floor (a fixed -35 dB threshold finds nothing there).
NOISY_TALK = {"noise_dbfs": -42.0, "duration": 40.0, "seed": 1}


@pytest.fixture(scope="session")
def talk1(media_dir: Path) -> Path:
    return media_dir / "talk1.mp4"


@pytest.fixture(scope="session")
def generated_media_cache(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """Where generated clips are kept between runs (pytest's cache dir when available)."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("hushcut-generated-media"))
    return tmp_path_factory.mktemp("generated-media")


@pytest.fixture(scope="session")
def noisy_talk(media_dir: Path, generated_media_cache: Path) -> Path:
    """A short talk with a -42 dBFS noise floor, made with make_talk.py (truth beside it)."""
    try:
        return make_talk(media_dir, generated_media_cache, **NOISY_TALK)
    except MissingToolError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def broken_media(talk1: Path, tmp_path_factory) -> dict[str, Path]:
    """Inputs a user will upload by mistake, each with the failure it must produce."""
    folder = tmp_path_factory.mktemp("broken")
    text = folder / "notes.mp4"
    text.write_text("These are my meeting notes, not a video.\n")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "talk1-truncated.mp4"
    with talk1.open("rb") as src:
        truncated.write_bytes(src.read(talk1.stat().st_size // 3))
    no_audio = remux_without_audio(talk1, folder / "silent-film.mp4")
    damaged = folder / "talk1-damaged.mp4"
    damaged.write_bytes(scribble(talk1.read_bytes(), spots=200, seed=1))
    wrecked = folder / "talk1-wrecked.mp4"
    wrecked.write_bytes(scribble(talk1.read_bytes(), spots=20_000, seed=2))
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
        at = rng.randrange(200_000, len(damaged) - 100)
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
def workdir(tmp_path: Path, talk1: Path) -> Path:
    """A scratch directory holding a copy of talk1 (nothing writes beside shared media)."""
    shutil.copy(talk1, tmp_path / "talk1.mp4")
    return tmp_path

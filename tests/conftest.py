"""Shared test fixtures: the backend under test and the servers it needs.

``HUSHCUT_TEST_BACKEND`` picks the backend (nox sets it): ``embedded`` (SQLite,
in-process queue and events, local disk) or ``services`` (PostgreSQL, Redis and an
S3 endpoint, each a throwaway server started here on a free loopback port).
Tests marked ``services`` run only on the services backend, those marked ``embedded``
only on the embedded one.

Media come from the pipeline's test kit (``hushcut.pipeline.testing``): generated on
first use with their ground truth, cached in ``~/.cache/hushcut/test-media`` (or
``$HUSHCUT_TEST_MEDIA_CACHE``). The few real recordings that cannot be synthesized are
checked in under tests/media/. The folder ``../shared/media`` (or
``$HUSHCUT_SHARED_MEDIA``) is an optional extra: tests marked ``shared_media`` use it and
are skipped when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import MotoServer, PostgresServer, RedisServer, ServerError

pytest_plugins = ["pytester", "hushcut.pipeline.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
#: Real recordings checked into the repository (see tests/media/README.md).
CHECKED_IN_MEDIA = ROOT / "tests" / "media"
#: Optional extra media: never needed by the default run.
SHARED_MEDIA = Path(os.environ.get("HUSHCUT_SHARED_MEDIA") or ROOT.parent / "shared" / "media")


def current_backend() -> str:
    backend = os.environ.get("HUSHCUT_TEST_BACKEND", "embedded")
    if backend not in {"embedded", "services"}:
        raise pytest.UsageError(f"HUSHCUT_TEST_BACKEND must be embedded or services: {backend}")
    return backend


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_media: uses the optional ../shared/media folder; skipped when it is absent",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_media") is not None and not SHARED_MEDIA.is_dir():
        pytest.skip(
            f"optional shared media not found at {SHARED_MEDIA} "
            "(an extra: set HUSHCUT_SHARED_MEDIA to use it)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test marked for the other backend is deselected, not skipped: it is not a test of
    # this backend at all (e.g. local-storage URLs do not exist when storage is S3).
    other = "embedded" if current_backend() == "services" else "services"
    selected = [item for item in items if item.get_closest_marker(other) is None]
    deselected = [item for item in items if item.get_closest_marker(other) is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session")
def backend() -> str:
    return current_backend()


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The optional ../shared/media folder (use with ``@pytest.mark.shared_media``)."""
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"optional shared media not found at {SHARED_MEDIA}")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def real_speech() -> Path:
    """A real spoken commentary (MP3, 6.7 s): what no generator imitates exactly."""
    return CHECKED_IN_MEDIA / "new-commentary.mp3"


@dataclass
class Services:
    postgres: PostgresServer
    redis: RedisServer
    s3: MotoServer


@pytest.fixture(scope="session")
def services(backend: str) -> Iterator[Services]:
    """PostgreSQL, Redis and moto, started once per test session (services backend only)."""
    if backend != "services":
        pytest.fail("this test needs the services backend; mark it with @pytest.mark.services")
    started: list[PostgresServer | RedisServer | MotoServer] = []
    try:
        pg = PostgresServer().start()
        started.append(pg)
        redis = RedisServer().start()
        started.append(redis)
        s3 = MotoServer().start()
        started.append(s3)
    except ServerError as exc:
        for server in started:
            server.stop()
        pytest.exit(str(exc), returncode=3)
    yield Services(postgres=pg, redis=redis, s3=s3)
    for server in reversed(started):
        server.stop()

"""Shared test fixtures: the backend under test and the servers it needs.

``HUSHCUT_TEST_BACKEND`` picks the backend (nox sets it): ``embedded`` (SQLite,
in-process queue and events, local disk) or ``services`` (PostgreSQL, Redis and an
S3 endpoint, each a throwaway server started here on a free loopback port).
Tests marked ``services`` run only on the services backend, those marked ``embedded``
only on the embedded one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import MotoServer, PostgresServer, RedisServer, ServerError

ROOT = Path(__file__).resolve().parent.parent
MEDIA_DIR = ROOT.parent / "shared" / "media"


def current_backend() -> str:
    backend = os.environ.get("HUSHCUT_TEST_BACKEND", "embedded")
    if backend not in {"embedded", "services"}:
        raise pytest.UsageError(f"HUSHCUT_TEST_BACKEND must be embedded or services: {backend}")
    return backend


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
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        pytest.fail(f"test media not found at {MEDIA_DIR} (shared/ must sit beside the clone)")
    return MEDIA_DIR


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

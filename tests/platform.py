"""The one home of platform test fixtures and helpers (core, api, worker tests).

Fixtures: ``settings`` (a fresh, migrated platform per test on the backend under test)
and ``runtime`` (a started Runtime on whatever ``settings`` a test directory provides;
the API tests override ``settings`` with their session server's). Use from a conftest:
``from tests.platform import runtime, settings``. Helpers: ``new_member``, ``balance``,
``balance_and_ledger``, ``wait_until``, ``stored_keys``, ``put_object``,
``settings_env``.

Embedded: a copy of a SQLite file migrated once per session, local storage in tmp_path.
Services: ``CREATE DATABASE ... TEMPLATE`` of a PostgreSQL database migrated once per
session, the session's Redis, and a fresh moto bucket per test.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hushcut.core.db import upgrade_database
from hushcut.core.runtime import Runtime
from hushcut.core.services.auth import Actor
from hushcut.core.settings import Settings
from tests.conftest import Services

T = TypeVar("T")
TEST_SECRET = "test-session-secret-0123456789abcdef"
TEMPLATE_DATABASE = "hushcut_template"

_lock = threading.Lock()
_sqlite_template: Path | None = None
_pg_templates: set[int] = set()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _sqlite_template_file() -> Path:
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            directory = Path(tempfile.mkdtemp(prefix="hushcut-sqlite-template-"))
            atexit.register(shutil.rmtree, directory, True)
            run_sync(upgrade_database(Settings(data_dir=directory)))
            _sqlite_template = directory / "hushcut.db"
        return _sqlite_template


async def _execute_admin(services: Services, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(services.postgres.url(driver="postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(services: Services, *, migrated: bool = True) -> str:
    """A new PostgreSQL database (migrated to head unless ``migrated`` is False); its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    if not migrated:
        run_sync(_execute_admin(services, f'CREATE DATABASE "{name}"'))
        return services.postgres.url(name)
    with _lock:
        if services.postgres.port not in _pg_templates:
            run_sync(_execute_admin(services, f'CREATE DATABASE "{TEMPLATE_DATABASE}"'))
            template_url = services.postgres.url(TEMPLATE_DATABASE)
            run_sync(upgrade_database(Settings(database_url=template_url)))
            _pg_templates.add(services.postgres.port)
        # FILE_COPY copies the small template's files directly: about twice as fast as
        # PostgreSQL 15's default WAL_LOG strategy and it writes no WAL.
        run_sync(
            _execute_admin(
                services,
                f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}" STRATEGY FILE_COPY',
            )
        )
    return services.postgres.url(name)


def drop_database(services: Services, url: str) -> None:
    """Drop a database made by :func:`create_database` (closing its connections)."""
    name = url.rsplit("/", 1)[-1]
    run_sync(_execute_admin(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_s3_clients: dict[str, Any] = {}


def create_bucket(services: Services) -> str:
    """A new, empty bucket on the session's S3 endpoint; its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:16]}"
    with _lock:
        client = _s3_clients.get(services.s3.url)
        if client is None:
            client = _s3_clients[services.s3.url] = boto3.client(
                "s3",
                endpoint_url=services.s3.url,
                region_name=services.s3.region,
                aws_access_key_id=services.s3.access_key,
                aws_secret_access_key=services.s3.secret_key,
            )
        client.create_bucket(Bucket=name)
    return name


def make_settings(
    tmp_path: Path, backend: str, services: Services | None = None, **overrides: Any
) -> Settings:
    """Settings for one test: a fresh migrated database plus the backend's services.

    ``overrides`` are Settings fields (e.g. ``starter_credits=0``).
    """
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {"data_dir": data_dir, "session_secret": TEST_SECRET}
    if backend == "services":
        if services is None:
            raise ValueError("the services backend needs the `services` fixture")
        values.update(
            database_url=create_database(services),
            redis_url=services.redis.url,
            s3_bucket=create_bucket(services),
            s3_endpoint_url=services.s3.url,
            s3_region=services.s3.region,
            s3_access_key_id=services.s3.access_key,
            s3_secret_access_key=services.s3.secret_key,
        )
    else:
        shutil.copyfile(_sqlite_template_file(), data_dir / "hushcut.db")
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings of a fresh, migrated platform on the backend under test.

    The test's PostgreSQL database is dropped afterwards (each copy of the template is
    several megabytes; hundreds of them slow the server down).
    """
    services = request.getfixturevalue("services") if backend == "services" else None
    made = make_settings(tmp_path, backend, services)
    yield made
    if services is not None and made.database_url:
        drop_database(services, made.database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A started Runtime on ``settings``, closed after the test."""
    started = await Runtime.start(settings, upgrade=False)
    try:
        yield started
    finally:
        await started.close()


async def new_member(
    runtime: Runtime, email: str | None = None, *, credits: int | None = None
) -> tuple[Actor, str]:
    """A new user owning a new workspace with ``credits`` (default: starter credits).

    Returns the user's browser-session Actor and the workspace id.
    """
    from hushcut.core.services import credits as credit_service
    from hushcut.core.services import workspaces

    address = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime.session() as session:
        user = await workspaces.get_or_create_user(session, address, "Test User")
        actor = Actor(user.id)
        workspace = await workspaces.create_workspace(
            session, actor, "Test workspace", starter_credits=runtime.settings.starter_credits
        )
        if credits is not None:
            await credit_service.set_credits(session, workspace.id, credits)
    return actor, workspace.id


async def balance(runtime: Runtime, workspace_id: str) -> int:
    """The workspace's credit balance."""
    from hushcut.core.services import credits as credit_service

    async with runtime.session() as session:
        return await credit_service.get_balance(session, workspace_id)


async def balance_and_ledger(runtime: Runtime, workspace_id: str) -> tuple[int, int]:
    """The workspace's balance and the sum of its ledger (they must always be equal)."""
    from hushcut.core.services import credits as credit_service

    async with runtime.session() as session:
        return (
            await credit_service.get_balance(session, workspace_id),
            await credit_service.ledger_sum(session, workspace_id),
        )


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 30.0,
    message: str = "condition",
    interval: float = 0.05,
) -> None:
    """Poll ``condition`` (sync or async) until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached after {timeout}s")
        await asyncio.sleep(interval)


async def stored_keys(runtime: Runtime, prefix: str = "") -> list[str]:
    """Everything storage holds under ``prefix``, read from the S3 endpoint or the disk
    directly (not through the Storage class under test): objects, and also unfinished
    multipart uploads ("<key> [upload]") and local files still being written."""
    storage: Any = runtime.storage
    if hasattr(storage, "client"):

        def listing() -> list[str]:
            objects = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=prefix)
            uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=prefix)
            return sorted(
                [item["Key"] for item in objects.get("Contents", [])]
                + [f"{item['Key']} [upload]" for item in uploads.get("Uploads", [])]
            )

        return await asyncio.to_thread(listing)
    root = storage.root / "objects"
    keys = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    for record in (storage.root / "uploads").glob("*/upload.json"):
        keys.append(f"{json.loads(record.read_text())['key']} [upload]")
    return sorted(key for key in keys if key.startswith(prefix))


async def put_object(runtime: Runtime, key: str, size: int = 1000) -> None:
    """Store ``size`` bytes under ``key`` (as a client's upload or a worker's output)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "object"
        path.write_bytes(b"\0" * size)
        await runtime.storage.upload_file(path, key, "video/mp4")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that make a server process read ``settings``."""
    env: dict[str, str] = {}
    for name, variable in Settings.environment_variables().items():
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(value)
        if isinstance(value, dict):
            value = json.dumps(
                {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in value.items()}
            )
        env[str(variable)] = str(value).lower() if isinstance(value, bool) else str(value)
    return env

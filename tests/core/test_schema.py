"""The migrations are the schema: `alembic upgrade head` yields exactly the models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from hushcut.core.db import (
    SchemaOutdated,
    create_engine,
    current_revision,
    known_revisions,
    run_alembic,
    upgrade_database,
)
from hushcut.core.models import Base, User
from hushcut.core.runtime import Runtime
from hushcut.core.settings import Settings
from tests.platform import create_database, drop_database

HEAD = "0002"


@pytest.fixture
def empty_settings(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings for an empty database (no tables at all)."""
    if backend != "services":
        yield Settings(data_dir=tmp_path)
        return
    services = request.getfixturevalue("services")
    url = create_database(services, migrated=False)
    yield Settings(data_dir=tmp_path, database_url=url)
    drop_database(services, url)


async def schema_differences(settings: Settings) -> list[Any]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:

            def compare(sync_connection: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_connection, opts={"compare_type": True, "compare_server_default": True}
                )
                return list(compare_metadata(context, Base.metadata))

            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def table_names(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_head_creates_exactly_the_models(empty_settings: Settings) -> None:
    assert await current_revision(empty_settings) is None
    await upgrade_database(empty_settings)
    assert await current_revision(empty_settings) == HEAD
    assert await schema_differences(empty_settings) == []
    assert await table_names(empty_settings) == set(Base.metadata.tables) | {"alembic_version"}
    # Upgrading again is a no-op.
    await upgrade_database(empty_settings)
    assert await schema_differences(empty_settings) == []


async def test_downgrade_then_upgrade(empty_settings: Settings) -> None:
    from alembic import command

    await upgrade_database(empty_settings)
    await run_alembic(empty_settings, command.downgrade, "base")
    assert await table_names(empty_settings) == {"alembic_version"}
    await upgrade_database(empty_settings)
    assert await schema_differences(empty_settings) == []


def test_migrations_ship_inside_the_package() -> None:
    import hushcut.core.db as db

    assert db.MIGRATIONS_DIR.is_relative_to(Path(db.__file__).parent)
    assert (db.MIGRATIONS_DIR / "env.py").exists()
    assert list((db.MIGRATIONS_DIR / "versions").glob("0001_*.py"))


async def test_datetimes_round_trip_as_aware_utc(runtime: Runtime) -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=paris)
    async with runtime.session() as session:
        session.add(User(id="u-1", email="t@example.com", name="", created_at=moment))
        await session.commit()
    async with runtime.session() as session:
        loaded = await session.scalar(select(User.created_at).where(User.id == "u-1"))
        later = await session.scalar(
            select(User.id).where(User.created_at > moment - timedelta(microseconds=1))
        )
    assert loaded == moment
    assert loaded is not None
    assert loaded.tzinfo is not None
    assert loaded.utcoffset() == timedelta(0)
    assert loaded == datetime(2024, 3, 1, 11, 30, 15, 123456, tzinfo=UTC)
    assert later == "u-1"


async def test_naive_datetimes_are_refused(runtime: Runtime) -> None:
    from sqlalchemy.exc import StatementError

    async with runtime.session() as session:
        session.add(User(email="n@example.com", name="", created_at=datetime(2024, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_runtime_refuses_an_outdated_schema(empty_settings: Settings) -> None:
    with pytest.raises(SchemaOutdated, match=rf"empty but this code needs {HEAD}: run `hushcut db"):
        await Runtime.start(empty_settings, upgrade=False)
    started = await Runtime.start(empty_settings, upgrade=True)
    await started.close()
    again = await Runtime.start(empty_settings, upgrade=False)
    await again.close()
    assert known_revisions() == {"0001": 0, "0002": 1}

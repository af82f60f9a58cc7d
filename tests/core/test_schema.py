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
    assert await current_revision(empty_settings) == head()
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
    with pytest.raises(
        SchemaOutdated, match=rf"empty but this code needs {head()}: run `hushcut db"
    ):
        await Runtime.start(empty_settings, upgrade=False)
    started = await Runtime.start(empty_settings, upgrade=True)
    await started.close()
    again = await Runtime.start(empty_settings, upgrade=False)
    await again.close()
    assert sorted(known_revisions().values()) == list(range(len(known_revisions())))
    assert known_revisions()["0001"] == 0


def head() -> str:
    revisions = known_revisions()
    return max(revisions, key=revisions.__getitem__)


async def test_unfinished_jobs_get_their_requirements_when_upgrading(
    empty_settings: Settings,
) -> None:
    """0002 records what jobs queued before it need, so they still reach a capable worker."""
    from sqlalchemy import text

    await upgrade_database(empty_settings, "0001")
    engine = create_engine(empty_settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO workspaces (id, name, credits, priority, created_at) "
                    "VALUES ('w', 'W', 1, 0, CURRENT_TIMESTAMP)"
                )
            )
            for job_id, status in [("queued", "QUEUED"), ("done", "COMPLETED")]:
                await connection.execute(
                    text(
                        "INSERT INTO video_jobs (id, workspace_id, status, progress, options, "
                        "filename, content_type, size_bytes, input_key, attempts, charges, "
                        "created_at, updated_at) VALUES (:id, 'w', :status, 0, :options, "
                        "'a.mp4', 'video/mp4', 1, 'k', 0, 1, CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {
                        "id": job_id,
                        "status": status,
                        "options": '{"detector": "vad", "plugins": {"speedup": {}}}',
                    },
                )
        await upgrade_database(empty_settings)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT job_id, capability FROM job_requirements ORDER BY capability")
            )
            assert rows.all() == [("queued", "detector:vad"), ("queued", "plugin:speedup")]
    finally:
        await engine.dispose()


async def test_ledger_rows_get_balances_and_links_when_upgrading(
    empty_settings: Settings,
) -> None:
    """0004 gives existing ledger rows the balance after each movement and what it was for."""
    from sqlalchemy import text

    await upgrade_database(empty_settings, "0003")
    engine = create_engine(empty_settings)
    job = "0f0e0d0c-0b0a-4909-8807-060504030201"
    rows = [
        ("l1", 5, "starter", "w", "2024-01-01 10:00:00"),
        ("l2", -1, "job_charge", f"{job}:1", "2024-01-01 11:00:00"),
        ("l3", 1, "job_refund", f"{job}:1", "2024-01-01 12:00:00"),
        ("l4", 10, "payment", "pi_1", "2024-01-02 09:00:00"),
        ("l5", -1, "job_charge", "gone-job:1", "2024-01-03 09:00:00"),
    ]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO workspaces (id, name, credits, priority, created_at) "
                    "VALUES ('w', 'W', 14, 0, CURRENT_TIMESTAMP)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO video_jobs (id, workspace_id, status, progress, options, "
                    "filename, content_type, size_bytes, input_key, attempts, charges, "
                    "created_at, updated_at) VALUES (:id, 'w', 'FAILED', 0, '{}', "
                    "'a.mp4', 'video/mp4', 1, 'k', 0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": job},
            )
            await connection.execute(
                text(
                    "INSERT INTO payments (id, workspace_id, provider, provider_payment_id, "
                    "credits, amount, currency, created_at) VALUES ('p1', 'w', 'stripe', "
                    "'pi_1', 10, 900, 'eur', CURRENT_TIMESTAMP)"
                )
            )
            for entry_id, delta, reason, reference, when in rows:
                await connection.execute(
                    text(
                        "INSERT INTO credit_ledger (id, workspace_id, delta, reason, "
                        "reference, created_at) VALUES (:id, 'w', :delta, :reason, "
                        ":reference, :when)"
                    ),
                    {
                        "id": entry_id,
                        "delta": delta,
                        "reason": reason,
                        "reference": reference,
                        "when": datetime.fromisoformat(when).replace(tzinfo=UTC),
                    },
                )
        await upgrade_database(empty_settings)
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT id, balance_after, job_id, payment_id FROM credit_ledger ORDER BY id")
            )
            assert found.all() == [
                ("l1", 5, None, None),
                ("l2", 4, job, None),
                ("l3", 5, job, None),
                ("l4", 15, None, "p1"),
                ("l5", 14, None, None),
            ]
    finally:
        await engine.dispose()
    assert await schema_differences(empty_settings) == []

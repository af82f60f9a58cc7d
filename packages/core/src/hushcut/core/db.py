"""Database engines, sessions, transactions and schema upgrades for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.ext.asyncio import (
    create_async_engine as _create_async_engine,
)

from hushcut.core.datadir import DATABASE_FILE, create_private_file, prepare_data_dir
from hushcut.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "hushcut_sqlite_immediate"
_WRITING = "hushcut_writing"


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """An async engine for the configured database (SQLite file or PostgreSQL/asyncpg)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        if settings.database_url is None:
            create_private_file(prepare_data_dir(settings.data_dir) / DATABASE_FILE)
        engine = _create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # A read service returns its connection when it ends, so a request checks one out
    # per service call; requests that find the pool empty queue for one, and the queue
    # is not fair (a waiter that loses a race goes to the back), which shows as a long
    # latency tail under load. Size the pool for the requests a process serves at once.
    kwargs.setdefault("pool_size", settings.database_pool_size)
    kwargs.setdefault("max_overflow", settings.database_max_overflow)
    return _create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is switched off so that we can issue
        # BEGIN IMMEDIATE ourselves (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Write transactions (see `transaction`) take the write lock up front: a
        # deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another writer committed in between, whereas IMMEDIATE
        # waits its turn, which gives SQLite the serialised behaviour PostgreSQL's row
        # locks give the services. Plain reads stay deferred so they never block writers.
        if connection.get_execution_options().get(_IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (services commit themselves)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A write transaction: commit what the block did, or roll all of it back on error.

    Whatever transaction the session already had open (reads since the last commit) is
    committed first, so the block runs in a transaction of its own; on SQLite that one
    holds the write lock from its first statement. On failure the session's objects are
    detached before the rollback, so objects the caller holds keep their last values
    readable instead of being expired (and unloadable once the session is closed).
    """
    if session.info.get(_WRITING):
        raise RuntimeError("transaction() blocks do not nest: one service call, one transaction")
    if session.in_transaction():
        await session.commit()
    if dialect_name(session) == "sqlite":
        await session.connection(execution_options={_IMMEDIATE: True})
    session.info[_WRITING] = True
    try:
        yield session
        await session.commit()
    except BaseException:
        session.expunge_all()
        await session.rollback()
        raise
    finally:
        session.info.pop(_WRITING, None)


def in_write_transaction(session: AsyncSession) -> bool:
    """Whether ``session`` is inside a `transaction` block."""
    return bool(session.info.get(_WRITING))


async def end_read(session: AsyncSession) -> None:
    """End the transaction a read opened, unless it is part of a `transaction` block.

    Read services call this last. The next read then sees what was committed since
    (SQLite keeps one snapshot for a whole transaction, so a long-lived session would
    otherwise keep seeing old data), and no connection idles in a transaction.
    """
    if not session.info.get(_WRITING) and session.in_transaction():
        await session.commit()


def alembic_config(settings: Settings) -> Config:
    """Alembic configuration pointing at the migrations shipped inside this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["settings"] = settings
    return config


async def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (``alembic upgrade head``)."""
    await run_alembic(settings, command.upgrade, revision)


async def run_alembic(settings: Settings, alembic_command: Any, *args: Any, **kwargs: Any) -> None:
    """Run an ``alembic.command`` function on the configured database, in one transaction."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:

            def run(sync_connection: Connection) -> None:
                config = alembic_config(settings)
                config.attributes["connection"] = sync_connection
                alembic_command(config, *args, **kwargs)

            await connection.run_sync(run)
    finally:
        await engine.dispose()


class SchemaOutdated(RuntimeError):
    """The database schema is older than the code: run `hushcut db upgrade`."""


@functools.cache
def known_revisions() -> dict[str, int]:
    """Every revision this code ships, mapped to its position (0 is the first)."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    walk = list(ScriptDirectory.from_config(config).walk_revisions())
    return {script.revision: len(walk) - 1 - n for n, script in enumerate(walk)}


async def check_schema(settings: Settings) -> None:
    """Raise SchemaOutdated when the database lags behind the code's migrations.

    A database ahead of the code (a newer release migrated it while this one still
    runs) is accepted, as migrations are written to be backward compatible.
    """
    revisions = known_revisions()
    head = max(revisions, key=revisions.__getitem__)
    current = await current_revision(settings)
    if current == head or (current is not None and current not in revisions):
        return
    where = f"at revision {current}" if current else "empty"
    raise SchemaOutdated(
        f"the database schema is {where} but this code needs {head}: run `hushcut db upgrade` first"
    )


async def current_revision(settings: Settings) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def insert_once(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT a row unless it would break a unique constraint; True if it was inserted.

    ``INSERT ... ON CONFLICT DO NOTHING`` on both databases, so a duplicate (a second
    ledger movement, webhook event or outbox email with the same key) neither raises
    nor aborts the surrounding transaction on PostgreSQL.
    """
    table = model.__table__
    insert = postgresql_insert if dialect_name(session) == "postgresql" else sqlite_insert
    # Column defaults (ids, timestamps) are filled in by SQLAlchemy Core as usual.
    statement = insert(table).values(values).on_conflict_do_nothing().returning(table.c.id)
    result = await session.execute(statement)
    return result.first() is not None


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name

"""Alembic environment: runs migrations on the connection hushcut.core.db hands over."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from hushcut.core.models import Base, UTCDateTime

# Arbitrary constant: serialises concurrent `hushcut db upgrade` runs on PostgreSQL.
PG_MIGRATION_LOCK = 7_261_849_301


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations spell out plain SQLAlchemy types so they never import the models.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_standalone() -> None:
    """For the `alembic` command line (writing new revisions): settings from the env."""
    from hushcut.core.db import create_engine
    from hushcut.core.settings import load_settings

    settings = context.config.attributes.get("settings") or load_settings()

    async def main() -> None:
        engine = create_engine(settings)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(run_on)
        finally:
            await engine.dispose()

    asyncio.run(main())


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    run_standalone()

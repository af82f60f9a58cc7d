"""The platform's shared resources, built once per process by the API and the worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hushcut.core.datadir import prepare_data_dir
from hushcut.core.db import check_schema, create_engine, create_sessionmaker, upgrade_database
from hushcut.core.email import EmailSender, create_email_sender
from hushcut.core.events import JobEventBus, create_event_bus
from hushcut.core.settings import Settings
from hushcut.core.storage import Storage, create_storage

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Settings, database, storage, email sender and job event bus of one process."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    email: EmailSender
    events: JobEventBus

    @classmethod
    async def start(cls, settings: Settings, *, upgrade: bool | None = None) -> Runtime:
        """Connect everything the settings name.

        ``upgrade`` runs the migrations first; by default only for the embedded SQLite
        database (production runs ``hushcut db upgrade`` as a release step). Without it
        a database older than the code raises SchemaOutdated, a clear message instead
        of failing queries later.
        """
        prepare_data_dir(settings.data_dir)
        if upgrade if upgrade is not None else settings.is_sqlite:
            await upgrade_database(settings)
        else:
            await check_schema(settings)
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            storage=create_storage(settings),
            email=create_email_sender(settings, sessionmaker),
            events=create_event_bus(settings.redis_url),
        )
        log.info(
            "runtime started: database=%s storage=%s email=%s events=%s",
            engine.dialect.name,
            type(runtime.storage).__name__,
            type(runtime.email).__name__,
            type(runtime.events).__name__,
        )
        return runtime

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A database session, closed (and any open transaction rolled back) on exit."""
        async with self.sessionmaker() as session:
            yield session

    async def close(self) -> None:
        """Release connections; safe to call more than once."""
        for close in (self.events.close, self.email.close, self.storage.close):
            try:
                await close()
            except Exception:
                log.exception("error while closing %s", close)
        await self.engine.dispose()

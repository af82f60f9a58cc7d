"""Live jobUpdates subscriptions of this process, checked against the database.

A subscription authenticates once, when its socket opens, and then follows events on
the bus. Two things can happen that no event says: the caller loses access (a token
revoked, a session signed out or expired, a user deleted or removed from the job's
workspace), or an event is lost (published while Redis was away). So every
``CHECK_INTERVAL_S`` one pass reads, for all live subscriptions of the process at once,
whose credentials and memberships still hold and each job's status: a subscription
whose caller lost access is ended (within the interval plus one query), and one whose
job changed status unseen is told to read the job again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hushcut.core.errors import NotFound, ServiceError, Unauthenticated
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.services.auth import Actor, memberships_held
from hushcut.core.services.sessions import live_credentials

logger = logging.getLogger("hushcut.api.live")

#: Seconds between two checks of every live subscription (access is lost within this).
CHECK_INTERVAL_S = 2.0
CREDENTIALS_ENDED = "your credentials were revoked or your session ended: sign in again"
ACCESS_LOST = "job not found"

T = TypeVar("T")


class Reload:
    """Marker from :meth:`LiveJob.follow`: the job may have changed unseen; read it."""


RELOAD = Reload()


@dataclass(eq=False)
class LiveJob:
    """One subscription to a job, as the checks see it."""

    actor: Actor
    job_id: str
    workspace_id: str
    #: The last status the subscriber was given.
    status: JobStatus
    ended: ServiceError | None = None
    stale: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def end(self, reason: ServiceError) -> None:
        self.ended = reason
        self._wake.set()

    def reload(self) -> None:
        self.stale = True
        self._wake.set()

    async def follow(self, events: AsyncIterator[T]) -> AsyncGenerator[T | Reload, None]:
        """``events`` as they come, with :data:`RELOAD` when the checks saw the job
        change unseen; raises the reason when the caller lost access."""
        upcoming: asyncio.Future[T] | None = None
        try:
            while True:
                if self.ended is not None:
                    raise self.ended
                if self.stale:
                    self.stale = False
                    yield RELOAD
                    continue
                if upcoming is None:
                    upcoming = asyncio.ensure_future(anext(events))
                woken = asyncio.ensure_future(self._wake.wait())
                waiting: set[asyncio.Future[Any]] = {upcoming, woken}
                try:
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
                self._wake.clear()
                if upcoming.done():
                    arrived, upcoming = upcoming, None
                    yield arrived.result()
        finally:
            if upcoming is not None:
                # Wait for the cancelled read to finish: the events iterator is closed
                # next, which it must not be while a read of it is still running.
                upcoming.cancel()
                await asyncio.wait({upcoming})
                if not upcoming.cancelled():
                    upcoming.exception()


class LiveSubscriptions:
    """Every live jobUpdates subscription of this process, checked every interval."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self._live: set[LiveJob] = set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._live)

    @contextlib.contextmanager
    def watch(self, actor: Actor, job: VideoJob) -> Iterator[LiveJob]:
        """Check ``actor``'s access to ``job`` (as last given to them) until exit."""
        live = LiveJob(actor, job.id, job.workspace_id, job.status)
        self._live.add(live)
        try:
            yield live
        finally:
            self._live.discard(live)

    async def check_once(self) -> None:
        """One pass over every live subscription (three queries at most)."""
        live = list(self._live)
        if not live:
            return
        async with self.sessionmaker() as session:
            holding = await live_credentials(session, {entry.actor for entry in live})
            members = await memberships_held(
                session,
                {
                    (entry.actor.user_id, entry.workspace_id)
                    for entry in live
                    if entry.actor in holding
                },
            )
            rows = await session.execute(
                select(VideoJob.id, VideoJob.status).where(
                    VideoJob.id.in_({entry.job_id for entry in live})
                )
            )
            statuses = {job_id: status for job_id, status in rows}
            await session.rollback()
        for entry in live:
            if entry.actor not in holding:
                entry.end(Unauthenticated(CREDENTIALS_ENDED))
            elif (
                not entry.actor.can_reach(entry.workspace_id)
                or (entry.actor.user_id, entry.workspace_id) not in members
                or entry.job_id not in statuses
            ):
                entry.end(NotFound(ACCESS_LOST))
            elif statuses[entry.job_id] != entry.status:
                entry.reload()

    async def run(self) -> None:
        """Check every interval until cancelled; a failed check (database away) ends
        nobody's subscription and is tried again next time."""
        failing = False
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check_once()
            except Exception as exc:
                if not failing:
                    logger.warning("could not check live subscriptions: %s", exc)
                failing = True
            else:
                failing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="live-subscriptions")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

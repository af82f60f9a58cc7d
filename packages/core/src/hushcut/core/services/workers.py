"""Workers in the database: what each running worker offers, kept alive by a heartbeat.

A worker registers its :class:`~hushcut.core.capabilities.WorkerOffer` when it starts and
renews its row (a lease, like a job's) while it runs; a row whose ``expires_at`` passed
belongs to a worker that stopped or died. Rows are kept for a while after that, so the
API can still check options against the last known offers while no worker is up (jobs
then wait QUEUED for one), and pruned after ``RETENTION``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hushcut.core.capabilities import WorkerOffer, required_capabilities
from hushcut.core.db import end_read, transaction
from hushcut.core.errors import BadUserInput
from hushcut.core.models import WorkerRecord, utcnow

#: How long the row of a worker that is gone is kept (its offer still validates options
#: while no worker is up).
RETENTION = timedelta(days=7)


async def register_worker(
    session: AsyncSession, worker_id: str, offer: WorkerOffer, lease_s: float
) -> None:
    """Record (or renew) the worker and its offer, alive for ``lease_s`` seconds."""
    now = utcnow()
    values: dict[str, Any] = {
        "offer": offer.model_dump(mode="json"),
        "offer_digest": offer.digest(),
        "heartbeat_at": now,
        "expires_at": now + timedelta(seconds=lease_s),
    }
    async with transaction(session):
        updated = await session.execute(
            update(WorkerRecord).where(WorkerRecord.id == worker_id).values(**values)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            session.add(WorkerRecord(id=worker_id, started_at=now, **values))
        await session.execute(
            delete(WorkerRecord).where(WorkerRecord.heartbeat_at < now - RETENTION)
        )


async def renew_worker(session: AsyncSession, worker_id: str, lease_s: float) -> bool:
    """Extend the worker's lease; False if its row is gone (register it again)."""
    now = utcnow()
    async with transaction(session):
        updated = await session.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(heartbeat_at=now, expires_at=now + timedelta(seconds=lease_s))
        )
        return bool(updated.rowcount)  # type: ignore[attr-defined]


async def retire_worker(session: AsyncSession, worker_id: str) -> None:
    """The worker stopped: its offer no longer counts as running (the row is kept)."""
    async with transaction(session):
        await session.execute(
            update(WorkerRecord).where(WorkerRecord.id == worker_id).values(expires_at=utcnow())
        )


async def running_workers(session: AsyncSession, now: datetime | None = None) -> list[WorkerRecord]:
    """Workers whose lease is alive, oldest first."""
    rows = await session.scalars(
        select(WorkerRecord)
        .where(WorkerRecord.expires_at > (now or utcnow()))
        .order_by(WorkerRecord.started_at, WorkerRecord.id)
    )
    found = list(rows.all())
    await end_read(session)
    return found


class OfferedOptions:
    """:class:`~hushcut.core.ports.OptionsValidator` against what workers offer.

    Options are accepted when one worker offer both meets the capabilities they need
    (:func:`~hushcut.core.capabilities.required_capabilities`) and accepts them (its
    options schema). The offers are those of the running workers; while none runs,
    those of the workers last seen, so jobs wait for a worker instead of failing; with
    no worker ever seen, options are accepted as they are and the worker that takes
    the job checks them (a bad one fails the job, refunded).
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._offers: dict[str, WorkerOffer] = {}

    async def validate(self, options: Mapping[str, Any]) -> None:
        offers = await self.current_offers()
        if not offers:
            return
        required = required_capabilities(options)
        capable = [offer for offer in offers if required <= offer.capabilities]
        if not capable:
            raise BadUserInput(missing_message(required, offers))
        errors = [offer.options_error(options) for offer in capable]
        if all(error is not None for error in errors):
            raise BadUserInput(str(errors[0]))

    async def current_offers(self) -> list[WorkerOffer]:
        """The distinct offers of running workers, else of those last seen (maybe none)."""
        now = utcnow()
        async with self.sessionmaker() as session:
            digests = await _digests(session, WorkerRecord.expires_at > now)
            if not digests:
                digests = await _digests(session, WorkerRecord.expires_at <= now)
            missing = [digest for digest in digests if digest not in self._offers]
            if missing:
                rows = await session.execute(
                    select(WorkerRecord.offer_digest, WorkerRecord.offer).where(
                        WorkerRecord.offer_digest.in_(missing)
                    )
                )
                for digest, offer in rows.all():
                    self._offers[digest] = WorkerOffer.model_validate(offer)
            await end_read(session)
        return [self._offers[digest] for digest in digests if digest in self._offers]


async def _digests(session: AsyncSession, condition: Any) -> list[str]:
    rows = await session.scalars(
        select(WorkerRecord.offer_digest)
        .where(condition)
        .distinct()
        .order_by(WorkerRecord.offer_digest)
    )
    return list(rows.all())


def missing_message(required: Collection[str], offers: Collection[WorkerOffer]) -> str:
    """Why no worker can run a job needing ``required``, for the person who asked."""
    offered = frozenset().union(*(offer.capabilities for offer in offers))
    for need in sorted(set(required) - offered):
        kind, _, name = need.partition(":")
        for offer in offers:
            if name in offer.unavailable:
                return f"plugin {name!r} is unavailable on every worker: {offer.unavailable[name]}"
        known = ", ".join(sorted(c.partition(":")[2] for c in offered if c.startswith(f"{kind}:")))
        if kind == "plugin":
            return (
                f"unknown plugin {name!r} in options: no worker has it (plugins: {known or 'none'})"
            )
        return f"unknown {kind} {name!r}: no worker offers it ({kind}s: {known or 'none'})"
    together = ", ".join(sorted(required))
    return f"no single worker offers all of {together}; choose fewer plugins"

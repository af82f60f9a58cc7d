"""The seams between the platform's parts: small typed interfaces that core defines and
the API, the worker and ``hushcut up`` implement or use, so none imports another.

See docs/architecture.md for who implements each one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hushcut.core.capabilities import WorkerOffer
    from hushcut.core.runtime import Runtime


class JobDispatcher(Protocol):
    """Tells workers that a job was queued (a hint; the database stays the truth).

    Implementations: :class:`hushcut.core.queue.RedisDispatcher` (production),
    the in-process worker of ``hushcut up`` (:mod:`hushcut.platform`), and
    :class:`hushcut.core.queue.NoDispatcher` when neither is there (workers'
    reconcilers find queued jobs within seconds).
    """

    async def startup(self) -> None: ...

    async def enqueue(self, job_id: str) -> bool:
        """Send the hint; False if it could not be sent (never raises for an outage)."""
        ...

    async def shutdown(self) -> None: ...


class OptionsValidator(Protocol):
    """Checks a job's options before the job is created (no work, no charge yet).

    Implementation: :class:`hushcut.core.services.workers.OfferedOptions`, against what
    the running workers offer.
    """

    async def validate(self, options: Mapping[str, Any]) -> None:
        """Raise :class:`~hushcut.core.errors.BadUserInput` naming what is wrong."""
        ...

    async def current_offers(self) -> list[WorkerOffer]:
        """What the workers offer (those running, else those last seen; maybe none):
        what a client's options form can list."""
        ...


#: Starts the dispatcher an API uses on its started runtime and stops it on exit. The
#: default sends on Redis (or nowhere); ``hushcut up`` starts its in-process worker here.
DispatcherScope = Callable[["Runtime"], AbstractAsyncContextManager[JobDispatcher]]

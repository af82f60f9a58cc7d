"""The API's side of the worker: send "process this job" hints to whichever broker is set up."""

from __future__ import annotations

from typing import Any

from taskiq import AsyncBroker

from hushcut.core.settings import Settings
from hushcut.worker.broker import make_broker
from hushcut.worker.tasks import send_hint


class JobQueue:
    """Enqueues jobs for the workers.

    Built from :class:`~hushcut.core.settings.Settings` or anything with a ``settings``
    attribute (the core ``Runtime``). ``enqueue`` never fails because of the queue: the
    job is already QUEUED in the database, and if the hint cannot be sent (Redis down)
    the workers' reconciler finds the job within a few seconds anyway.
    """

    def __init__(self, source: Settings | Any) -> None:
        self.settings: Settings = source if isinstance(source, Settings) else source.settings
        self._broker: AsyncBroker | None = None

    @property
    def broker(self) -> AsyncBroker:
        if self._broker is None:
            raise RuntimeError("JobQueue.startup() was not awaited")
        return self._broker

    async def startup(self) -> None:
        if self._broker is None:
            broker = make_broker(self.settings)
            await broker.startup()
            self._broker = broker

    async def enqueue(self, job_id: str) -> bool:
        """Ask a worker to process ``job_id``; False if the hint could not be sent."""
        return await send_hint(self.broker, job_id)

    async def shutdown(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()

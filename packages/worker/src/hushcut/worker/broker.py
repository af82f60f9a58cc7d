"""The worker's taskiq broker: the Redis stream in production, its own in-process queue else.

The Redis broker is core's (:mod:`hushcut.core.queue`), shared with the API that sends
on it. Without Redis a worker has a private asyncio queue that only its own process
feeds: ``hushcut up`` hands the API's hints to it (the worker is the API's
dispatcher there), and the reconciler fills it with jobs nobody holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from taskiq import AsyncBroker
from taskiq.message import BrokerMessage

from hushcut.core.queue import DEFAULT_REDELIVERY_S, make_redis_broker
from hushcut.core.settings import Settings

logger = logging.getLogger(__name__)

#: Hints waiting in a worker's in-process queue before new ones are dropped.
LOCAL_QUEUE_MAXSIZE = 10_000


class LocalBroker(AsyncBroker):
    """In-process broker: an asyncio queue that this process's worker reads."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=LOCAL_QUEUE_MAXSIZE)

    async def kick(self, message: BrokerMessage) -> None:
        try:
            self._queue.put_nowait(message.message)
        except asyncio.QueueFull:
            # Harmless: the job is QUEUED in the database and the reconciler finds it.
            logger.warning("in-process job queue full; dropping hint %s", message.task_id)

    async def listen(self) -> AsyncGenerator[bytes, None]:
        while True:
            yield await self._queue.get()


def make_broker(settings: Settings, *, redelivery_s: float = DEFAULT_REDELIVERY_S) -> AsyncBroker:
    """The broker the settings call for: Redis streams if ``REDIS_URL`` is set, else local."""
    if settings.redis_url:
        return make_redis_broker(settings.redis_url, redelivery_s=redelivery_s)
    return LocalBroker()

"""The one taskiq broker of Hushcut: Redis streams in production, an in-process queue embedded.

Messages on this broker are hints ("job X may be ready"), never the truth: the database
decides who runs a job (see :mod:`hushcut.worker.processor`). So the broker only has to
deliver promptly; a lost, duplicated or late message costs at most one cheap claim
attempt, and the reconciler in every worker re-sends hints for jobs nobody holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from hushcut.core.settings import Settings

logger = logging.getLogger(__name__)

#: Redis stream that carries job hints, and the consumer group every worker joins.
STREAM_NAME = "hushcut:jobs"
CONSUMER_GROUP = "hushcut-workers"
#: Messages kept in the stream; older ones are trimmed (they are hints, the DB has the rest).
STREAM_MAXLEN = 10_000
#: Default time after which Redis hands an unacknowledged message to another worker.
DEFAULT_REDELIVERY_S = 600.0
#: Hints waiting in one process's in-process queue before new ones are dropped.
LOCAL_QUEUE_MAXSIZE = 10_000

#: Errors that mean "Redis is not reachable right now", as opposed to a refused command.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


class HushcutRedisBroker(RedisStreamBroker):
    """``RedisStreamBroker`` that rides out Redis restarts and never hoards messages.

    * Reads one message at a time (``xread_count=1``), so a busy worker leaves the rest
      of the stream to idle ones.
    * The consumer group starts at the beginning of the stream (``consumer_id="0"``), so
      hints sent before any worker existed — or right after Redis came back empty — are
      delivered instead of skipped.
    * A connection error or a vanished consumer group (Redis restarted without data) is
      retried with backoff instead of ending the listener; acknowledgements are best
      effort, since an unacknowledged hint is only redelivered to a claim that fails.
    """

    def __init__(self, url: str, *, redelivery_s: float = DEFAULT_REDELIVERY_S) -> None:
        super().__init__(
            url,
            queue_name=STREAM_NAME,
            consumer_group_name=CONSUMER_GROUP,
            consumer_id="0",
            xread_block=1000,
            xread_count=1,
            maxlen=STREAM_MAXLEN,
            idle_timeout=max(1, int(redelivery_s * 1000)),
            unacknowledged_batch_size=10,
            # A worker killed while holding the autoclaim lock must not block the others.
            unacknowledged_lock_timeout=5,
            socket_connect_timeout=5,
            socket_timeout=10,
            health_check_interval=15,
            # A pooled connection is dead after Redis restarts: reconnect and resend
            # instead of failing the first command.
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )

    async def startup(self) -> None:
        # Creating the group may fail while Redis is down; listen() creates it later.
        try:
            await super().startup()
        except REDIS_DOWN_ERRORS as exc:
            logger.warning("Redis unavailable at startup (%s); will retry", exc)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        backoff = 0.2
        while True:
            try:
                async with contextlib.aclosing(super().listen()) as messages:
                    async for message in messages:
                        backoff = 0.2
                        yield message
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                logger.warning("Redis consumer group missing (Redis restarted?); recreating")
                await self._recreate_group(backoff)
            except REDIS_DOWN_ERRORS as exc:
                logger.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _recreate_group(self, backoff: float) -> None:
        try:
            await self._declare_consumer_group()
        except REDIS_DOWN_ERRORS:
            await asyncio.sleep(backoff)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        ack = super()._ack_generator(id, queue_name)

        async def _best_effort_ack() -> None:
            try:
                await ack()
            except RedisError as exc:
                logger.debug("could not acknowledge hint %s: %s", id, exc)

        return _best_effort_ack

    async def stream_length(self) -> int:
        """Messages currently in the stream (for benchmarks and operators)."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            return int(await redis.xlen(self.queue_name))


# One in-process channel per event loop and database: the API and the worker of
# `hushcut up` build their brokers separately but must meet on the same queue.
_LOCAL_CHANNELS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Queue[bytes]]
] = weakref.WeakKeyDictionary()


def _local_channel(key: str) -> asyncio.Queue[bytes]:
    channels = _LOCAL_CHANNELS.setdefault(asyncio.get_running_loop(), {})
    if key not in channels:
        channels[key] = asyncio.Queue(maxsize=LOCAL_QUEUE_MAXSIZE)
    return channels[key]


class LocalBroker(AsyncBroker):
    """In-process broker for embedded mode: an asyncio queue shared within one process.

    Every broker built for the same database in the same event loop shares the queue,
    so the API's :class:`~hushcut.worker.queue.JobQueue` and the worker of ``hushcut up``
    talk to each other. A worker in another process on the same SQLite file receives no
    hints and finds its jobs through the reconciler instead.
    """

    def __init__(self, channel_key: str) -> None:
        super().__init__()
        self.channel_key = channel_key

    async def kick(self, message: BrokerMessage) -> None:
        try:
            _local_channel(self.channel_key).put_nowait(message.message)
        except asyncio.QueueFull:
            # Harmless: the job is QUEUED in the database and the reconciler finds it.
            logger.warning("in-process job queue full; dropping hint %s", message.task_id)

    async def listen(self) -> AsyncGenerator[bytes, None]:
        channel = _local_channel(self.channel_key)
        while True:
            yield await channel.get()


def make_broker(settings: Settings, *, redelivery_s: float = DEFAULT_REDELIVERY_S) -> AsyncBroker:
    """The broker the settings call for: Redis streams if ``REDIS_URL`` is set, else local.

    ``redelivery_s`` is how long Redis waits before handing an unacknowledged message to
    another worker; jobs may run longer than that (their lease, not the message, decides
    who runs them).
    """
    if settings.redis_url:
        return HushcutRedisBroker(settings.redis_url, redelivery_s=redelivery_s)
    return LocalBroker(settings.resolved_database_url)

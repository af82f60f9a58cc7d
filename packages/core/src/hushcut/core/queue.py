"""The job queue on Redis: the one taskiq broker that the API sends hints on and workers read.

Messages on this broker are hints ("job X may be ready"), never the truth: the database
decides who runs a job (see :mod:`hushcut.core.services.jobs`). So the broker only has to
deliver promptly; a lost, duplicated or late message costs at most one cheap claim
attempt, and the reconciler in every worker re-sends hints for jobs nobody holds.

It lives in core because both sides need it and the API must not install the worker
(which brings the media pipeline); receiving (the task, the receiver) is the worker's.
Without Redis there is no shared queue: ``hushcut up`` hands hints to its in-process
worker directly, and a separate worker process finds jobs through its reconciler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker
from taskiq.exceptions import SendTaskError
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

logger = logging.getLogger(__name__)

#: Name of the task a hint asks workers to run (registered by the worker's tasks).
PROCESS_JOB = "hushcut.process_job"
#: Redis stream that carries job hints, and the consumer group every worker joins.
STREAM_NAME = "hushcut:jobs"
CONSUMER_GROUP = "hushcut-workers"
#: Messages kept in the stream; older ones are trimmed (they are hints, the DB has the rest).
STREAM_MAXLEN = 10_000
#: Default time after which Redis hands an unacknowledged message to another worker.
DEFAULT_REDELIVERY_S = 600.0

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

    async def ensure_consumer_group(self) -> bool:
        """Create the consumer group if Redis lost it (a restart without data); True if
        it had to. Workers call it on their heartbeat, so the group comes back while
        every worker is busy too, not only when one next reads the stream."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" in str(exc):
                    return False
                raise
        logger.warning("Redis consumer group was missing (Redis restarted?); recreated it")
        return True

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


def make_redis_broker(url: str, *, redelivery_s: float = DEFAULT_REDELIVERY_S) -> AsyncBroker:
    """The broker on Redis at ``url``.

    ``redelivery_s`` is how long Redis waits before handing an unacknowledged message to
    another worker; jobs may run longer than that (their lease, not the message, decides
    who runs them).
    """
    return HushcutRedisBroker(url, redelivery_s=redelivery_s)


async def send_hint(broker: AsyncBroker, job_id: str) -> bool:
    """Send a ``process_job`` message; False (logged) if the queue is unreachable.

    Never raises for an outage: the job is QUEUED in the database already, and the
    reconciler of any idle worker finds it within seconds of the queue coming back.
    """
    kicker: AsyncKicker[[str], None] = AsyncKicker(PROCESS_JOB, broker, {})
    try:
        await kicker.kiq(job_id)
    except SendTaskError as exc:
        if not isinstance(exc.__cause__, REDIS_DOWN_ERRORS):
            raise
        logger.warning("queue unreachable, hint for job %s not sent: %s", job_id, exc.__cause__)
        return False
    return True


class RedisDispatcher:
    """:class:`~hushcut.core.ports.JobDispatcher` that sends hints on the Redis stream."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._broker: AsyncBroker | None = None

    async def startup(self) -> None:
        if self._broker is None:
            broker = make_redis_broker(self.url)
            await broker.startup()
            self._broker = broker

    async def enqueue(self, job_id: str) -> bool:
        """Ask a worker to process ``job_id``; False if the hint could not be sent."""
        if self._broker is None:
            raise RuntimeError("RedisDispatcher.startup() was not awaited")
        return await send_hint(self._broker, job_id)

    async def shutdown(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()


class NoDispatcher:
    """:class:`~hushcut.core.ports.JobDispatcher` for an API with no queue to send on
    (embedded, no worker in the process): workers' reconcilers find queued jobs."""

    async def startup(self) -> None:
        return None

    async def enqueue(self, job_id: str) -> bool:
        return False

    async def shutdown(self) -> None:
        return None

"""Live job events: in-process for one process, Redis pub/sub across API instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hushcut.core.models import JobStatus, VideoJob, utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "hushcut:job:"
#: Events a slow in-process subscriber may fall behind by; beyond that the oldest
#: progress updates are dropped (the latest state is what matters).
SUBSCRIBER_BUFFER = 256
#: Seconds between two attempts to listen again after Redis went away.
RESUBSCRIBE_S = 1.0


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A change of a job, as subscribers see it."""

    job_id: str
    status: JobStatus
    stage: str | None = None
    progress: float = 0.0
    error: str | None = None
    input_duration_s: float | None = None
    output_duration_s: float | None = None
    timestamp: datetime = field(default_factory=utcnow)

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @classmethod
    def from_job(cls, job: VideoJob) -> JobEvent:
        return cls(
            job_id=job.id,
            status=job.status,
            stage=job.stage,
            progress=job.progress,
            error=job.error,
            input_duration_s=job.input_duration_s,
            output_duration_s=job.output_duration_s,
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        data["timestamp"] = self.timestamp.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        data: dict[str, Any] = json.loads(raw)
        data["status"] = JobStatus(data["status"])
        when = datetime.fromisoformat(data["timestamp"])
        data["timestamp"] = when if when.tzinfo else when.replace(tzinfo=UTC)
        return cls(**data)


@dataclass(frozen=True, slots=True)
class EventsMissed:
    """Said by a subscription that lost the bus (Redis went away): events of the job may
    have been published meanwhile and lost, so read its state from the database. Said
    again at each attempt to get the bus back, and once more when it is back."""

    job_id: str


#: What a subscription yields.
JobChange = JobEvent | EventsMissed


@runtime_checkable
class JobEventBus(Protocol):
    async def publish(self, event: JobEvent) -> None: ...

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[AsyncIterator[JobChange]]:
        """Changes of one job published after entry; everything is freed on exit.

        A subscription never ends by itself and never raises for an outage: it yields
        :class:`EventsMissed` while it cannot listen.
        """
        ...

    async def close(self) -> None: ...


async def publish_changes(events: JobEventBus, jobs: Iterable[VideoJob], change: str) -> None:
    """Tell subscribers what a sweep did to ``jobs``. A publish that fails is logged and
    the others go on: the job keeps its new state (the database says it; a subscription
    that lost the bus reads it again), and the sweep that changed it does not fail."""
    for job in jobs:
        try:
            await events.publish(JobEvent.from_job(job))
        except Exception as exc:
            log.warning("job %s: could not publish its %s: %s", job.id, change, exc)


class InProcessEventBus:
    """Subscribers in this process only (embedded mode)."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[JobEvent]]] = {}

    async def publish(self, event: JobEvent) -> None:
        for queue in list(self._queues.get(event.job_id, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[JobChange]]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._queues.setdefault(job_id, set()).add(queue)

        async def events() -> AsyncGenerator[JobChange, None]:
            while True:
                yield await queue.get()

        iterator = events()
        try:
            yield iterator
        finally:
            await iterator.aclose()
            subscribers = self._queues.get(job_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._queues[job_id]

    def subscriber_count(self, job_id: str | None = None) -> int:
        if job_id is not None:
            return len(self._queues.get(job_id, ()))
        return sum(len(queues) for queues in self._queues.values())

    async def close(self) -> None:
        self._queues.clear()


class RedisEventBus:
    """Redis pub/sub on ``hushcut:job:<id>``: any API instance serves any subscriber."""

    def __init__(self, redis: Redis, listener: Redis | None = None) -> None:
        self.redis = redis
        #: The client subscriptions listen with: it must not reconnect by itself, or
        #: events published while it was away would be lost without a word.
        self.listener = listener or redis

    @classmethod
    def from_url(cls, url: str) -> RedisEventBus:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from hushcut.core.redis_connection import CONNECT_TIMEOUT_S, redis_client

        # Publishing reconnects by itself: a publish on a connection Redis dropped (a
        # restart) is sent again on a fresh one rather than lost.
        listener = Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=CONNECT_TIMEOUT_S
        )
        return cls(redis_client(url), listener)

    async def publish(self, event: JobEvent) -> None:
        """Best effort: the database is the source of truth and subscribers start from
        it, so a Redis outage is logged rather than failing the job being reported."""
        from redis.exceptions import RedisError

        try:
            await self.redis.publish(CHANNEL_PREFIX + event.job_id, event.to_json())
        except (RedisError, OSError) as exc:
            log.warning("could not publish job %s event to Redis: %s", event.job_id, exc)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[JobChange]]:
        channel = CHANNEL_PREFIX + job_id
        listening = _Listening(self.listener, channel)
        # Subscribed before yielding: the caller can read the job's current state next
        # and miss no change published after that. If Redis is away, the subscription
        # starts by saying so (EventsMissed) and keeps trying.
        await listening.connect()
        iterator = listening.events()
        try:
            yield iterator
        finally:
            await iterator.aclose()
            await listening.disconnect()

    async def close(self) -> None:
        await self.redis.aclose()
        if self.listener is not self.redis:
            await self.listener.aclose()


class _Listening:
    """One Redis subscription to a channel that survives Redis going away: it subscribes
    again (every ``RESUBSCRIBE_S``) and says :class:`EventsMissed` meanwhile."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.job_id = channel.removeprefix(CHANNEL_PREFIX)
        self.pubsub: Any = None

    async def connect(self) -> bool:
        from redis.exceptions import RedisError

        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except (RedisError, OSError) as exc:
            log.warning("cannot listen to %s on Redis (%s); retrying", self.channel, exc)
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            return False
        self.pubsub = pubsub
        return True

    async def disconnect(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe(self.channel)
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def events(self) -> AsyncGenerator[JobChange, None]:
        from redis.exceptions import RedisError

        while True:
            if self.pubsub is None:
                yield EventsMissed(self.job_id)
                await asyncio.sleep(RESUBSCRIBE_S)
                if await self.connect():
                    log.info("listening to %s on Redis again", self.channel)
                    yield EventsMissed(self.job_id)  # what was published meanwhile is lost
                continue
            try:
                async for message in self.pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        yield JobEvent.from_json(message["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignoring malformed event on %s", self.channel)
            except (RedisError, OSError) as exc:
                log.warning("lost Redis while listening to %s (%s)", self.channel, exc)
                await self.disconnect()


def create_event_bus(redis_url: str | None) -> JobEventBus:
    if redis_url:
        return RedisEventBus.from_url(redis_url)
    return InProcessEventBus()

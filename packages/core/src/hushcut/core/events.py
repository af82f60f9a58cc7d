"""Live job events: in-process for one process, Redis pub/sub across API instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
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


@runtime_checkable
class JobEventBus(Protocol):
    async def publish(self, event: JobEvent) -> None: ...

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[AsyncIterator[JobEvent]]:
        """Events of one job published after entry; everything is freed on exit."""
        ...

    async def close(self) -> None: ...


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
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[JobEvent]]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._queues.setdefault(job_id, set()).add(queue)

        async def events() -> AsyncGenerator[JobEvent, None]:
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

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @classmethod
    def from_url(cls, url: str) -> RedisEventBus:
        from hushcut.core.redis_connection import redis_client

        # Reconnects by itself: a publish on a connection Redis dropped (a restart) is
        # sent again on a fresh one rather than lost.
        return cls(redis_client(url))

    async def publish(self, event: JobEvent) -> None:
        """Best effort: the database is the source of truth and subscribers start from
        it, so a Redis outage is logged rather than failing the job being reported."""
        from redis.exceptions import RedisError

        try:
            await self.redis.publish(CHANNEL_PREFIX + event.job_id, event.to_json())
        except (RedisError, OSError) as exc:
            log.warning("could not publish job %s event to Redis: %s", event.job_id, exc)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[JobEvent]]:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        channel = CHANNEL_PREFIX + job_id
        # Subscribed before yielding: the caller can read the job's current state next
        # and miss no change published after that.
        await pubsub.subscribe(channel)

        async def events() -> AsyncGenerator[JobEvent, None]:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    yield JobEvent.from_json(message["data"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring malformed event on %s", channel)

        iterator = events()
        try:
            yield iterator
        finally:
            await iterator.aclose()
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.redis.aclose()


def create_event_bus(redis_url: str | None) -> JobEventBus:
    if redis_url:
        return RedisEventBus.from_url(redis_url)
    return InProcessEventBus()

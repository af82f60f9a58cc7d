"""Job events: in-process and Redis pub/sub deliver a job's changes and free subscribers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from hushcut.core.events import (
    CHANNEL_PREFIX,
    InProcessEventBus,
    JobEvent,
    JobEventBus,
    RedisEventBus,
)
from hushcut.core.models import JobStatus, VideoJob
from tests.conftest import Services
from tests.servers import RedisServer

TIMEOUT = 5


def event(job_id: str, status: JobStatus, progress: float = 0.0) -> JobEvent:
    return JobEvent(job_id, status, stage="detect", progress=progress)


def test_event_json_round_trip() -> None:
    original = JobEvent(
        "j1",
        JobStatus.COMPLETED,
        stage="done",
        progress=1.0,
        error=None,
        input_duration_s=12.5,
        output_duration_s=9.25,
    )
    assert JobEvent.from_json(original.to_json()) == original
    assert original.is_final
    job = VideoJob(id="j2", status=JobStatus.FAILED, stage="render", progress=0.4, error="x")
    from_job = JobEvent.from_job(job)
    assert (from_job.job_id, from_job.status, from_job.error) == ("j2", JobStatus.FAILED, "x")


async def exchange(publisher: JobEventBus, subscriber: JobEventBus) -> None:
    """A subscriber sees its job's events in order, and nothing of other jobs."""
    async with subscriber.subscribe("job-a") as events:
        await publisher.publish(event("job-b", JobStatus.PROCESSING))
        await publisher.publish(event("job-a", JobStatus.PROCESSING, 0.5))
        await publisher.publish(event("job-a", JobStatus.COMPLETED, 1.0))
        received = []
        async with asyncio.timeout(TIMEOUT):
            async for item in events:
                received.append(item)
                if item.is_final:
                    break
    assert [(e.job_id, e.status, e.progress) for e in received] == [
        ("job-a", JobStatus.PROCESSING, 0.5),
        ("job-a", JobStatus.COMPLETED, 1.0),
    ]


async def test_in_process_bus() -> None:
    bus = InProcessEventBus()
    await exchange(bus, bus)
    assert bus.subscriber_count() == 0


async def test_in_process_subscriber_that_leaves_early_is_freed() -> None:
    bus = InProcessEventBus()
    async with bus.subscribe("job-a"), bus.subscribe("job-a"):
        assert bus.subscriber_count("job-a") == 2
    assert bus.subscriber_count() == 0
    # A slow subscriber keeps the newest events rather than growing without bound.
    async with bus.subscribe("job-a") as events:
        for n in range(1000):
            await bus.publish(event("job-a", JobStatus.PROCESSING, n / 1000))
        first = await anext(events)
        assert first.progress > 0.5
    assert bus.subscriber_count() == 0


async def subscriber_count(bus: RedisEventBus, job_id: str) -> int:
    [(_, count)] = await bus.redis.pubsub_numsub(CHANNEL_PREFIX + job_id)
    return int(count)


@pytest.fixture
async def redis_buses(services: Services) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus]]:
    # Two buses stand for two processes (an API instance and a worker).
    first, second = (
        RedisEventBus.from_url(services.redis.url),
        RedisEventBus.from_url(services.redis.url),
    )
    yield first, second
    await first.close()
    await second.close()


@pytest.mark.services
async def test_redis_bus_across_processes(
    redis_buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    api, worker = redis_buses
    await exchange(worker, api)
    assert await subscriber_count(api, "job-a") == 0


@pytest.mark.services
async def test_redis_subscription_is_freed_when_the_consumer_is_cancelled(
    redis_buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    api, worker = redis_buses
    subscribed = asyncio.Event()

    async def consume() -> None:
        async with api.subscribe("job-c") as events:
            subscribed.set()
            async for _ in events:
                pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(TIMEOUT):
        await subscribed.wait()
    assert await subscriber_count(worker, "job-c") == 1
    await worker.publish(event("job-c", JobStatus.PROCESSING))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await subscriber_count(worker, "job-c") == 0


async def test_redis_outage_does_not_fail_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.servers import free_port

    bus = RedisEventBus.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await bus.publish(event("job-d", JobStatus.PROCESSING))
    finally:
        await bus.close()
    assert "could not publish job job-d event" in caplog.text


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of the test's own, which it may restart without disturbing others."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.mark.services
async def test_a_publish_after_redis_restarted_is_delivered(own_redis: RedisServer) -> None:
    worker = RedisEventBus.from_url(own_redis.url)
    api = RedisEventBus.from_url(own_redis.url)
    try:
        await worker.publish(event("job-e", JobStatus.PROCESSING, 0.1))  # opens a connection
        own_redis.restart()  # every connection the worker holds is now dead
        async with api.subscribe("job-e") as events:
            await worker.publish(event("job-e", JobStatus.COMPLETED, 1.0))
            async with asyncio.timeout(TIMEOUT):
                received = await anext(events)
        assert (received.status, received.progress) == (JobStatus.COMPLETED, 1.0)
    finally:
        await worker.close()
        await api.close()

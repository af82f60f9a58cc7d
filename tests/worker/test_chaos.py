"""Crash safety on real services: Redis redelivery and restarts, S3 outages, killed workers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hushcut.core.models import JobStatus, LedgerReason
from hushcut.core.queue import CONSUMER_GROUP, STREAM_NAME
from hushcut.core.services import jobs as job_service
from hushcut.core.services.auth import Actor
from hushcut.worker import metrics
from hushcut.worker.processor import STORAGE_MESSAGE
from tests.conftest import Services
from tests.platform import balance, make_settings, wait_until
from tests.servers import TcpProxy
from tests.worker.conftest import (
    FAST_WORKER,
    Gate,
    Platform,
    own_redis_database,
    started_platform,
)
from tests.worker.media import make_clip, media_duration
from tests.worker.processes import WorkerProcess, worker_env
from tests.worker.test_leases import assert_processed_once

pytestmark = pytest.mark.services

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


async def test_a_job_longer_than_the_redelivery_timeout_runs_once(
    platform: Platform, talk_clip: Path, gate: Gate
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    first = await platform.worker(cut=gate.cut, concurrency=1, redelivery_s=0.3)
    running = await platform.wait_for(job_id, lambda job: job.stage == "render")
    assert running.lease_owner == first.worker_id
    second = await platform.worker(concurrency=1, redelivery_s=0.3)

    assert platform.settings.redis_url is not None
    redis: Any = Redis.from_url(platform.settings.redis_url)
    try:
        message_id = next(
            entry_id
            for entry_id, fields in await redis.xrange(STREAM_NAME)
            if job_id.encode() in fields[b"data"]
        )

        async def handed_over_and_refused() -> bool:
            # Redis hands the idle, unacknowledged hint to the second worker once a new
            # message wakes it; that worker's claim is refused and it acknowledges.
            await platform.queue.enqueue("00000000-0000-0000-0000-000000000000")
            pending = await redis.xpending_range(
                STREAM_NAME, CONSUMER_GROUP, min=message_id, max=message_id, count=1
            )
            return not pending

        await wait_until(handed_over_and_refused, timeout=20, message="redelivered hint")
        job = await platform.job(job_id)
        assert (job.status, job.lease_owner, job.attempts) == (
            JobStatus.PROCESSING,
            first.worker_id,
            1,
        ), "the redelivered hint did not start a second run"
    finally:
        await redis.aclose()

    gate.open()
    job = await platform.wait_for(job_id, FINAL)
    await assert_processed_once(platform, job_id, workspace)
    assert job.attempts == 1
    assert second.processor is not None


async def test_no_job_is_lost_when_redis_restarts_empty(
    platform: Platform, talk_clip: Path, services: Services
) -> None:
    actor, workspace = await platform.workspace(credits=5)
    # Queued while no worker runs, then Redis loses the hint.
    lost = await platform.submit(actor, workspace, talk_clip)
    services.redis.restart()
    # Queued while Redis is down: the API cannot even send the hint.
    services.redis.kill()
    unsent = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    assert await platform.queue.enqueue(unsent) is False
    services.redis.start()

    await platform.worker()
    for job_id in (lost, unsent):
        assert (await platform.wait_for(job_id, FINAL)).status is JobStatus.COMPLETED

    # A running worker rides out a restart and keeps receiving hints afterwards.
    services.redis.restart()
    after = await platform.submit(actor, workspace, talk_clip)
    assert (await platform.wait_for(after, FINAL)).status is JobStatus.COMPLETED
    for job_id in (lost, unsent, after):
        await assert_processed_once(platform, job_id, workspace)


async def test_a_busy_worker_recreates_the_consumer_group_redis_lost(
    platform: Platform, talk_clip: Path, gate: Gate, services: Services
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    await platform.worker(cut=gate.cut, concurrency=1)
    await platform.wait_for(job_id, lambda job: job.stage == "render")

    services.redis.restart()  # empty: no stream, no consumer group
    assert platform.settings.redis_url is not None
    redis: Any = Redis.from_url(platform.settings.redis_url)
    try:

        async def group_back() -> bool:
            try:
                groups = await redis.xinfo_groups(STREAM_NAME)
            except ResponseError:
                return False  # no stream yet
            return any(group["name"] == CONSUMER_GROUP.encode() for group in groups)

        await wait_until(group_back, timeout=20, message="the consumer group back")
        assert (await platform.job(job_id)).stage == "render", "recreated while busy"
    finally:
        await redis.aclose()
    gate.open()
    assert (await platform.wait_for(job_id, FINAL)).status is JobStatus.COMPLETED
    await assert_processed_once(platform, job_id, workspace)


async def test_a_storage_outage_longer_than_the_budget_fails_the_job_cleanly(
    platform: Platform, talk_clip: Path, gate: Gate, services: Services
) -> None:
    platform.settings.storage_outage_budget_s = 3.0
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    await platform.worker(cut=gate.cut)
    await platform.wait_for(job_id, lambda job: job.stage == "render")

    services.s3.stop()
    try:
        gate.open()  # the render finishes; the upload meets the outage
        job = await platform.wait_for(job_id, FINAL, timeout=60)
        assert job.status is JobStatus.FAILED
        assert job.error == STORAGE_MESSAGE
        assert await platform.ledger(job_id) == {
            LedgerReason.JOB_CHARGE: 1,
            LedgerReason.JOB_REFUND: 1,
        }
        assert await balance(platform.runtime, workspace) == 3
        assert len(await platform.sent_emails(job_id, 1)) == 1
    finally:
        services.s3.start()
    # moto keeps objects in memory only: the restarted endpoint is empty, so the bucket
    # and the upload are put back as they were before the outage.
    storage: Any = platform.runtime.storage
    await asyncio.to_thread(storage.client.create_bucket, Bucket=storage.bucket)
    await platform.runtime.storage.upload_file(talk_clip, job.input_key, "video/mp4")

    async with platform.runtime.sessionmaker() as session:
        await job_service.retry_job(session, actor, job_id)
    await platform.queue.enqueue(job_id)
    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.COMPLETED, job.error
    assert await platform.ledger(job_id) == {
        LedgerReason.JOB_CHARGE: 2,
        LedgerReason.JOB_REFUND: 1,
    }
    assert await balance(platform.runtime, workspace) == 2
    assert len(await platform.sent_emails(job_id, 2)) == 2, "one email per run: failed, then ready"
    assert await platform.outputs(job_id) == [job.output_key]


async def test_a_short_storage_outage_is_retried_and_the_job_completes(
    platform: Platform, talk_clip: Path, gate: Gate, services: Services
) -> None:
    # Within STORAGE_OUTAGE_BUDGET_S (5 min) the job waits for storage, whatever the
    # number of tries it takes.
    assert platform.settings.job_max_attempts == 3
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    await platform.worker(cut=gate.cut)
    await platform.wait_for(job_id, lambda job: job.stage == "render")
    retries = metrics.RETRIES.labels(operation="upload")
    before = retries._value.get()

    services.s3.stop()
    try:
        gate.open()
        await wait_until(lambda: retries._value.get() > before, message="an upload retry")
    finally:
        services.s3.start()
    storage: Any = platform.runtime.storage
    await asyncio.to_thread(storage.client.create_bucket, Bucket=storage.bucket)

    job = await platform.wait_for(job_id, FINAL, timeout=90)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.attempts == 1, "retried within the attempt, not requeued"
    await assert_processed_once(platform, job_id, workspace)


@pytest.fixture
def storage_link(services: Services) -> Iterator[TcpProxy]:
    """The way to the S3 endpoint, which a test may cut and restore (objects survive)."""
    proxy = TcpProxy(services.s3.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
async def linked_platform(
    tmp_path: Path, services: Services, storage_link: TcpProxy
) -> AsyncIterator[Platform]:
    """A platform whose storage is reached through ``storage_link``."""
    settings = make_settings(
        tmp_path,
        "services",
        services,
        redis_url=own_redis_database(services, 2),
        s3_endpoint_url=storage_link.url,
        **FAST_WORKER,
    )
    async with started_platform(settings) as platform:
        yield platform


async def submit_around(
    platform: Platform, services: Services, actor: Actor, workspace: str, path: Path
) -> str:
    """Submit a job while the platform cannot reach storage: upload and seal its input
    straight on the endpoint, then confirm and enqueue as the API would."""
    storage: Any = platform.runtime.storage
    direct = boto3.client(
        "s3",
        endpoint_url=services.s3.url,
        region_name=services.s3.region,
        aws_access_key_id=services.s3.access_key,
        aws_secret_access_key=services.s3.secret_key,
    )
    async with platform.runtime.sessionmaker() as session:
        job = await job_service.create_job(
            session,
            actor,
            workspace,
            path.name,
            path.stat().st_size,
            "video/mp4",
            {"mode": "reencode", "preset": "ultrafast"},
        )
    await asyncio.to_thread(direct.upload_file, str(path), storage.bucket, job.input_key)
    head = await asyncio.to_thread(direct.head_object, Bucket=storage.bucket, Key=job.input_key)
    async with platform.runtime.sessionmaker() as session:
        await job_service.confirm_upload(
            session, actor, job.id, int(head["ContentLength"]), head["ETag"].strip('"')
        )
    await platform.queue.enqueue(job.id)
    return job.id


async def test_a_storage_outage_within_the_budget_delays_jobs_instead_of_failing_them(
    linked_platform: Platform,
    talk_clip: Path,
    gate: Gate,
    services: Services,
    storage_link: TcpProxy,
) -> None:
    platform = linked_platform
    actor, workspace = await platform.workspace(credits=5)
    running = await platform.submit(actor, workspace, talk_clip)
    await platform.worker(cut=gate.cut, concurrency=2)
    await platform.wait_for(running, lambda job: job.stage == "render")
    retries = metrics.RETRIES.labels(operation="upload")
    skipped = metrics.HINTS.labels(outcome="skipped")
    before = retries._value.get()

    storage_link.stop()
    try:
        gate.open()  # the render finishes; its upload meets the outage
        await wait_until(lambda: retries._value.get() > before, message="an upload retry")
        # A job queued now is not started while storage is away (there is a free slot).
        waiting = await submit_around(platform, services, actor, workspace, talk_clip)
        hints = skipped._value.get()
        await wait_until(lambda: skipped._value.get() >= hints + 3, message="hints left alone")
        assert (await platform.job(waiting)).status is JobStatus.QUEUED
        assert (await platform.job(waiting)).attempts == 0
        assert (await platform.job(running)).status is JobStatus.PROCESSING
    finally:
        storage_link.start()

    for job_id in (running, waiting):
        job = await platform.wait_for(job_id, FINAL, timeout=90)
        assert job.status is JobStatus.COMPLETED, job.error
        assert job.attempts == 1
        await assert_processed_once(platform, job_id, workspace)
    assert await balance(platform.runtime, workspace) == 3


# --- real worker processes ------------------------------------------------------------


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Path:
    """Twenty seconds of talk1.mp4 at 640x360: a job that takes a few seconds to cut."""
    return make_clip(
        media_dir / "talk1.mp4", tmp_path_factory.mktemp("clips") / "long.mp4", 0, 20, 640
    )


@pytest.fixture
def worker_processes(platform: Platform) -> Iterator[list[WorkerProcess]]:
    env = worker_env(platform.settings)
    processes = [
        WorkerProcess(env, f"worker-{n}", "--concurrency", "1", "--shutdown-grace", "0")
        for n in range(2)
    ]
    yield processes
    for process in processes:
        process.stop()


async def test_a_killed_worker_s_job_completes_on_the_other_exactly_once(
    platform: Platform, long_clip: Path, worker_processes: list[WorkerProcess], tmp_path: Path
) -> None:
    for process in worker_processes:
        ready = await asyncio.to_thread(process.ready.wait, 60)
        assert ready, f"{process.name} did not start:\n{process.log()}"
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, long_clip, options={"mode": "smart"})

    job = await platform.wait_for(
        job_id, lambda job: job.stage in {"detect", "plan", "render"}, timeout=60
    )
    assert job.lease_owner is not None
    holder_pid = int(job.lease_owner.split(":")[1])
    victim = next(p for p in worker_processes if p.pid == holder_pid)
    survivor = next(p for p in worker_processes if p.pid != holder_pid)
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.wait(10)

    job = await platform.wait_for(job_id, FINAL, timeout=120)
    assert job.status is JobStatus.COMPLETED, f"{job.error}\n{survivor.log()}"
    assert job.attempts == 2, "the second attempt ran on the surviving worker"
    await assert_processed_once(platform, job_id, workspace)
    assert await balance(platform.runtime, workspace) == 2
    result = tmp_path / "result.mp4"
    assert job.output_key is not None
    await platform.runtime.storage.download_file(job.output_key, result)
    assert job.output_duration_s is not None
    assert media_duration(result) == pytest.approx(job.output_duration_s, abs=0.15)
    assert media_duration(result) < 20 - 2

    # SIGTERM: the idle survivor exits cleanly and promptly.
    survivor.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(survivor.process.wait, 30) == 0, survivor.log()

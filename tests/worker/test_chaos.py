"""Crash safety on real services: Redis redelivery and restarts, S3 outages, killed workers,
and the acceptance run of issue 10: jobs through Redis and storage outages on the
production shape (two `hushcut api`, two `hushcut worker`), each processed exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import select

from hushcut.core.models import CreditLedgerEntry, EmailOutbox, JobStatus, LedgerReason, VideoJob
from hushcut.core.queue import CONSUMER_GROUP, STREAM_NAME
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services.auth import Actor
from hushcut.core.settings import Settings
from hushcut.pipeline.testing import SampleMedia
from hushcut.worker import metrics
from hushcut.worker.processor import STORAGE_MESSAGE
from tests.api.conftest import Account, ApiServer, error_codes, follow_job, new_account
from tests.api.test_flow import CONFIRM, REQUEST_UPLOAD
from tests.conftest import Services
from tests.platform import balance, balance_and_ledger, make_settings, wait_until
from tests.servers import RedisServer, TcpProxy, free_port
from tests.worker.conftest import (
    FAST_WORKER,
    Gate,
    Platform,
    list_keys,
    own_redis_database,
    started_platform,
)
from tests.worker.media import media_duration
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
    assert await platform.outputs(job_id) == platform.written_for(job)


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
    # moto came back empty: the peaks, stored before the outage, went with it.
    lost = frozenset({job_service.peaks_key(job_id)})
    await assert_processed_once(platform, job_id, workspace, lost=lost)


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
            session, actor, job.id, int(head["ContentLength"]), etag=head["ETag"].strip('"')
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
def long_clip(sample_media: SampleMedia) -> Path:
    """Twenty seconds of talk at 640x360 (1 s GOPs): a job that takes a few seconds to cut."""
    return sample_media("talk", duration=20.0, seed=5, video={"gop": 30, "preset": "ultrafast"})


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
        job_id, lambda job: job.stage in {"analyze", "plan", "render"}, timeout=60
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


# --- acceptance: the production shape through Redis and storage outages -----------------


@dataclass
class ChaosStack:
    """Two `hushcut api` and two `hushcut worker` processes on PostgreSQL, a Redis of
    their own and the S3 endpoint behind a link that can be cut."""

    apis: list[ApiServer]
    workers: list[WorkerProcess]
    redis: RedisServer
    storage: TcpProxy
    settings: Settings


@pytest.fixture
def chaos_stack(tmp_path: Path, services: Services) -> Iterator[ChaosStack]:
    redis = RedisServer().start()
    storage = TcpProxy(services.s3.port).start()
    base = make_settings(
        tmp_path,
        "services",
        services,
        redis_url=redis.url,
        s3_endpoint_url=storage.url,
        rate_limit_per_minute=1_000_000,
        log_level="WARNING",
        log_json=True,
        **FAST_WORKER,
    )
    apis: list[ApiServer] = []
    workers: list[WorkerProcess] = []
    try:
        for _ in range(2):
            port = free_port()
            settings = base.model_copy(update={"port": port, "app_url": f"http://127.0.0.1:{port}"})
            apis.append(ApiServer(settings, "api").start())
        env = {**worker_env(base), "HUSHCUT_DISABLE_PLUGIN_AUTOLOAD": "1", "LOG_LEVEL": "WARNING"}
        workers = [
            WorkerProcess(env, f"worker-{n}", "--concurrency", "1", "--shutdown-grace", "0")
            for n in range(2)
        ]
        yield ChaosStack(apis, workers, redis, storage, base)
    finally:
        for worker in workers:
            worker.stop()
        for api in apis:
            api.stop()
        storage.stop()
        redis.stop()


@dataclass
class Answers:
    """Every answer the APIs gave during the run, as a client saw it."""

    requests: int = 0
    server_errors: list[str] = field(default_factory=list)  # HTTP 5xx, or a masked error
    retryable: dict[str, int] = field(default_factory=dict)  # documented retryable codes

    def record(self, where: str, response: httpx.Response) -> dict[str, Any]:
        self.requests += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{where}: HTTP {response.status_code} {response.text[:200]}")
            return {}
        body: dict[str, Any] = response.json()
        for code in error_codes(body):
            if code in RETRYABLE:
                self.retryable[code] = self.retryable.get(code, 0) + 1
            elif code == "INTERNAL_SERVER_ERROR":
                self.server_errors.append(f"{where}: {body}")
        return body


#: Errors docs/api.md documents as "try again" during an outage.
RETRYABLE = frozenset({"STORAGE_UNAVAILABLE"})


async def test_jobs_come_through_redis_and_storage_outages_exactly_once(
    chaos_stack: ChaosStack, talk_clip: Path
) -> None:
    stack = chaos_stack
    started = time.monotonic()
    for worker in stack.workers:
        assert await asyncio.to_thread(worker.ready.wait, 60), worker.log()
    runtime = await Runtime.start(stack.settings, upgrade=False)
    answers = Answers()
    clients = [httpx.AsyncClient(base_url=api.url, timeout=30) for api in stack.apis]
    jobs: dict[str, Account] = {}
    followers: dict[str, asyncio.Task[list[dict[str, Any]]]] = {}
    try:
        accounts = [await new_account(runtime, credits=10) for _ in range(3)]
        n = 0

        async def call(account: Account, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            nonlocal n
            n += 1
            client = clients[n % 2]
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers=account.headers,
            )
            return answers.record(f"{client.base_url} {query.split('(')[0]}", response)

        async def uploaded(account: Account) -> str:
            """requestUpload and the PUT; a subscriber follows the job from now on."""
            data = talk_clip.read_bytes()
            result = await call(
                account,
                REQUEST_UPLOAD,
                {
                    "ws": account.workspace_id,
                    "name": "talk.mp4",
                    "size": len(data),
                    "type": "video/mp4",
                },
            )
            ticket = result["data"]["requestUpload"]
            headers = {h["name"]: h["value"] for h in ticket["headers"]}
            put = await clients[0].put(ticket["url"], content=data, headers=headers)
            assert put.status_code == 200, put.text
            job_id: str = ticket["job"]["id"]
            jobs[job_id] = account
            subscribed = asyncio.Event()
            followers[job_id] = asyncio.create_task(
                follow_job(stack.apis[len(followers) % 2], account.token, job_id, subscribed)
            )
            await asyncio.wait_for(subscribed.wait(), 15)
            return job_id

        async def confirmed(job_id: str) -> dict[str, Any]:
            return await call(jobs[job_id], CONFIRM, {"id": job_id})

        async def submit(count: int) -> list[str]:
            submitted = []
            for i in range(count):
                job_id = await uploaded(accounts[i % len(accounts)])
                result = await confirmed(job_id)
                assert result["data"]["confirmUpload"]["status"] == "QUEUED", result
                submitted.append(job_id)
            return submitted

        async def statuses() -> dict[str, JobStatus]:
            async with runtime.sessionmaker() as session:
                rows = await session.execute(
                    select(VideoJob.id, VideoJob.status).where(VideoJob.id.in_(list(jobs)))
                )
                return {job_id: status for job_id, status in rows}

        async def some(status: JobStatus) -> bool:
            return status in (await statuses()).values()

        async def count(status: JobStatus) -> int:
            return list((await statuses()).values()).count(status)

        async def outage_of(seconds: float, since: float) -> None:
            """An outage lasts its length whatever the test does meanwhile (not a
            synchronisation: the length is what is being tested)."""
            end = since + seconds
            while time.monotonic() < end:
                await asyncio.sleep(min(1.0, end - time.monotonic()))

        probing = asyncio.Event()

        async def probe() -> None:
            """A client reading all along: its queries, and health for load balancers."""
            while not probing.is_set():
                for client in clients:
                    account = accounts[0]
                    any_job = next(iter(jobs), str(uuid.uuid4()))
                    response = await client.post(
                        "/graphql",
                        json={"query": PROBE, "variables": {"id": any_job}},
                        headers=account.headers,
                    )
                    answers.record(f"{client.base_url} probe", response)
                    health = await client.get("/api/health")
                    answers.requests += 1
                    if health.status_code >= 500:
                        answers.server_errors.append(f"{client.base_url} health: {health.text}")
                await asyncio.sleep(0.25)

        prober = asyncio.create_task(probe())

        # Wave 1, then Redis dies while jobs run, and comes back empty.
        await submit(6)
        await wait_until(lambda: some(JobStatus.PROCESSING), timeout=60, message="a job running")
        done_before = await count(JobStatus.COMPLETED)
        redis_down = time.monotonic()
        stack.redis.kill()
        await submit(3)  # confirmed while Redis is away: they wait QUEUED in the database
        await outage_of(REDIS_OUTAGE_S, redis_down)
        done_during_redis = await count(JobStatus.COMPLETED) - done_before
        stack.redis.start()
        redis_outage = time.monotonic() - redis_down

        # Wave 3, then storage goes away for 30 s while jobs run.
        await submit(4)
        pending = await uploaded(accounts[0])  # uploaded now, confirmed during the outage
        await wait_until(lambda: some(JobStatus.PROCESSING), timeout=60, message="a job running")
        unfinished = [
            job_id for job_id, status in (await statuses()).items() if not status.is_final
        ]
        storage_down = time.monotonic()
        stack.storage.stop()
        refused = await confirmed(pending)
        assert error_codes(refused) == ["STORAGE_UNAVAILABLE"], refused
        await outage_of(STORAGE_OUTAGE_S, storage_down)
        stack.storage.start()
        storage_outage = time.monotonic() - storage_down
        again = await confirmed(pending)  # the retry the error asked for
        assert again["data"]["confirmUpload"]["status"] == "QUEUED", again

        async def all_final() -> bool:
            return all(status.is_final for status in (await statuses()).values())

        await wait_until(all_final, timeout=240, message="every job final", interval=0.5)
        histories = await asyncio.wait_for(asyncio.gather(*followers.values()), 60)
        probing.set()
        await prober
    finally:
        for client in clients:
            await client.aclose()

    try:
        await _check_outcome(runtime, jobs, dict(zip(followers, histories, strict=True)))
    finally:
        await runtime.close()
    for api in stack.apis:
        assert "unhandled error" not in api.output, api.output[-3000:]
    assert answers.server_errors == [], answers.server_errors[:5]
    print(
        f"\nchaos: {len(jobs)} jobs, all COMPLETED once; Redis down {redis_outage:.1f}s "
        f"(restarted empty; {done_during_redis} jobs completed meanwhile), storage down "
        f"{storage_outage:.1f}s ({len(unfinished) - 1} jobs queued or running waited "
        f"through it); {answers.requests} API "
        f"answers, 0 5xx, retryable {answers.retryable}; {len(histories)} subscribers saw "
        f"their final state; run {time.monotonic() - started:.0f}s"
    )


#: How long Redis and storage stay away in the acceptance run (issue 10).
REDIS_OUTAGE_S = 8.0
STORAGE_OUTAGE_S = 30.0
PROBE = "query($id: ID!) { me { id } job(id: $id) { id status } }"


async def _check_outcome(
    runtime: Runtime, jobs: dict[str, Account], histories: dict[str, list[dict[str, Any]]]
) -> None:
    """Zero lost or duplicated jobs, balances equal to ledgers, one email per finished job,
    every subscriber saw its job's final state."""
    async with runtime.sessionmaker() as session:
        rows = {
            job.id: job
            for job in (
                await session.scalars(select(VideoJob).where(VideoJob.id.in_(list(jobs))))
            ).all()
        }
        ledger = (
            await session.execute(
                select(CreditLedgerEntry.reason, CreditLedgerEntry.reference).where(
                    CreditLedgerEntry.reason.in_([LedgerReason.JOB_CHARGE, LedgerReason.JOB_REFUND])
                )
            )
        ).all()
        emails = list((await session.scalars(select(EmailOutbox.idempotency_key))).all())
    assert set(rows) == set(jobs)
    assert {job.status for job in rows.values()} == {JobStatus.COMPLETED}, {
        job.id: (job.status, job.error) for job in rows.values()
    }
    charges = sorted(ref for reason, ref in ledger if reason is LedgerReason.JOB_CHARGE)
    assert charges == sorted(f"{job_id}:1" for job_id in jobs), "one charge per job"
    assert [ref for reason, ref in ledger if reason is LedgerReason.JOB_REFUND] == []
    assert sorted(emails) == sorted(f"job-{job_id}-run-1-completed" for job_id in jobs)
    for job_id, job in rows.items():
        assert await list_keys(runtime, f"output/{job_id}/") == [job.output_key]
        seen = [update["status"] for update in histories[job_id]]
        assert seen[-1] == "COMPLETED", (job_id, seen)
    for workspace_id in {account.workspace_id for account in jobs.values()}:
        funds, ledger_sum = await balance_and_ledger(runtime, workspace_id)
        assert funds == ledger_sum

"""The database decides who runs a job: races, dead workers, shutdown and poison jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from hushcut.core.models import JobStatus, LedgerReason, VideoJob
from hushcut.core.services import jobs as job_service
from hushcut.worker import metrics
from tests.platform import balance, wait_until
from tests.worker.conftest import Gate, Platform

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


def completed_count() -> float:
    return metrics.JOBS.labels(outcome="completed")._value.get()


async def assert_processed_once(
    platform: Platform, job_id: str, workspace: str, *, lost: frozenset[str] = frozenset()
) -> None:
    """One charge, no refund, one email, one output: what a user pays for and receives.

    ``lost``: keys written before storage came back empty (nothing else may be missing).
    """
    job = await platform.job(job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1}
    assert len(await platform.sent_emails(job_id, 1)) == 1
    expected = [key for key in platform.written_for(job) if key not in lost]
    assert await platform.outputs(job_id) == expected


async def test_two_workers_racing_for_one_job_process_it_once(
    platform: Platform, talk_clip: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    # Duplicate hints, as a redelivery or the reconciler could produce.
    for _ in range(3):
        await platform.queue.enqueue(job_id)
    before = completed_count()
    await asyncio.gather(platform.worker(), platform.worker())

    job = await platform.wait_for(job_id, FINAL)
    await assert_processed_once(platform, job_id, workspace)
    assert job.attempts == 1
    assert completed_count() - before == 1
    assert await balance(platform.runtime, workspace) == 2


async def test_job_of_a_dead_worker_is_reclaimed_after_its_lease_and_completed_once(
    platform: Platform, talk_clip: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    # A worker claims the job and dies without a trace: only its lease is left.
    async with platform.runtime.sessionmaker() as session:
        claimed = await job_service.claim_job(session, job_id, "dead-worker", 0.5, 2)
    assert claimed is not None

    worker = await platform.worker()
    job = await platform.wait_for(job_id, FINAL, timeout=30)
    await assert_processed_once(platform, job_id, workspace)
    assert job.attempts == 2
    assert job.lease_owner is None
    assert worker.processor is not None


async def test_stopping_a_worker_hands_its_job_to_another(
    platform: Platform, talk_clip: Path, gate: Gate
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    first = await platform.worker(cut=gate.cut)
    running = await platform.wait_for(job_id, lambda job: job.stage == "render")
    assert running.lease_owner == first.worker_id

    await first.stop(grace_s=0)  # what SIGTERM does after the grace period
    released = await platform.job(job_id)
    assert released.status is JobStatus.QUEUED
    assert released.attempts == 0, "an interrupted attempt does not count"
    assert released.lease_owner is None

    gate.open()
    second = await platform.worker()
    job = await platform.wait_for(job_id, FINAL)
    await assert_processed_once(platform, job_id, workspace)
    assert job.attempts == 1
    assert second.processor is not None


async def test_stopping_a_worker_lets_its_job_finish_within_the_grace_period(
    platform: Platform, talk_clip: Path, gate: Gate
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    worker = await platform.worker(cut=gate.cut)
    await platform.wait_for(job_id, lambda job: job.stage == "render")

    stopping = asyncio.create_task(worker.stop(grace_s=60))
    await wait_until(lambda: worker.processor is not None and worker.processor.draining)
    gate.open()
    await asyncio.wait_for(stopping, 60)
    await assert_processed_once(platform, job_id, workspace)


async def test_a_job_that_keeps_killing_its_workers_fails_after_max_attempts(
    platform: Platform, talk_clip: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    attempts = platform.settings.job_max_attempts
    for n in range(attempts):
        async with platform.runtime.sessionmaker() as session:
            claimed = await job_service.claim_job(
                session, job_id, f"doomed-{n}", 0.2, 2, max_attempts=attempts
            )
        assert claimed is not None
        await platform.wait_for(job_id, _expired)

    await platform.worker()
    job = await platform.wait_for(job_id, FINAL, timeout=30)
    assert job.status is JobStatus.FAILED
    assert job.attempts == attempts
    assert job.error is not None
    assert "retry" in job.error
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await balance(platform.runtime, workspace) == 3
    assert len(await platform.sent_emails(job_id, 1)) == 1
    assert await platform.outputs(job_id) == []


def _expired(job: VideoJob) -> bool:
    return job.lease_expires_at is not None and job.lease_expires_at <= datetime.now(UTC)

"""Retention: uploads, results and abandoned uploads go on time, by sweeps on a clock
the test moves; sweeps are idempotent, safe twice at once, logged and counted."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import update

from hushcut.core.clock import ManualClock
from hushcut.core.errors import Conflict, StorageUnavailable
from hushcut.core.events import JobChange, JobEvent
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.scheduler import Sweeper
from hushcut.core.services import jobs
from hushcut.core.services.auth import Actor
from hushcut.core.services.jobs import ABANDONED_MESSAGE
from hushcut.core.services.retention import SWEEP_BATCH, RetentionPolicy
from hushcut.core.storage import MIN_PART_SIZE, plan_parts
from tests.platform import balance_and_ledger, new_member, put_object, stored_keys

WORKER = "test-worker"


async def make_job(runtime: Runtime, actor: Actor, workspace_id: str, state: str) -> VideoJob:
    """A job in ``state`` (pending, queued, completed, failed) with its objects stored:
    the upload, and for a completed job its output and a derived object."""
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "talk.mp4", 1000, "video/mp4")
    await put_object(runtime, job.input_key)
    if state == "pending":
        return job
    async with runtime.session() as session:
        job = await jobs.confirm_upload(session, actor, job.id, 1000)
        if state == "queued":
            return job
        claimed = await jobs.claim_job(session, job.id, WORKER, 30, 100)
        assert claimed is not None
        if state == "failed":
            return await jobs.fail_job(session, job.id, WORKER, "the file has no audio track")
    output = jobs.output_key(job.id, job.filename)
    await put_object(runtime, output)
    await put_object(runtime, jobs.derived_prefix(job.id) + "peaks.json", 50)
    async with runtime.session() as session:
        return await jobs.complete_job(session, job.id, WORKER, output, 10.0, 7.0)


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def current(runtime: Runtime, job_id: str) -> VideoJob:
    async with runtime.session() as session:
        return await jobs.load_job(session, job_id)


async def test_uploads_go_a_day_after_their_job_ended_and_a_retry_then_asks_again(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime, credits=10)
    done = await make_job(runtime, actor, workspace_id, "completed")
    failed = await make_job(runtime, actor, workspace_id, "failed")
    queued = await make_job(runtime, actor, workspace_id, "queued")
    clock = ManualClock()
    sweeper = Sweeper(runtime, clock)
    before = counted("hushcut_deletions_total", kind="input_expired")

    clock.advance(hours=23)
    report = await sweeper.run("inputs")
    assert report is not None
    assert report.handled == 0
    assert await stored_keys(runtime, f"input/{failed.id}/") == [failed.input_key]

    clock.advance(hours=2)
    report = await sweeper.run("inputs")
    assert report is not None
    assert (report.handled, report.objects) == (2, 2)
    for job in (done, failed):
        assert await stored_keys(runtime, f"input/{job.id}/") == []
        assert (await current(runtime, job.id)).input_deleted_at == clock.now()
    # Not final: kept. The completed job's result is kept far longer.
    assert await stored_keys(runtime, f"input/{queued.id}/") == [queued.input_key]
    assert await stored_keys(runtime, f"output/{done.id}/") != []
    assert counted("hushcut_deletions_total", kind="input_expired") == before + 2
    # The upload is gone, so a retry cannot run: it says so and charges nothing.
    balance = await balance_and_ledger(runtime, workspace_id)
    async with runtime.session() as session:
        with pytest.raises(Conflict, match="upload the file again"):
            await jobs.retry_job(session, actor, failed.id)
    assert await balance_and_ledger(runtime, workspace_id) == balance


async def test_results_go_after_their_retention_and_the_job_says_so(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    done = await make_job(runtime, actor, workspace_id, "completed")
    policy = RetentionPolicy.from_settings(runtime.settings)
    assert done.finished_at is not None
    expires = policy.output_expires_at(done)
    assert expires == done.finished_at + timedelta(days=30)
    clock = ManualClock(done.finished_at)
    sweeper = Sweeper(runtime, clock)

    clock.advance(days=29, hours=23)
    assert not policy.output_expired(done, clock.now())
    await sweeper.run("outputs")
    assert len(await stored_keys(runtime, f"output/{done.id}/")) == 1
    clock.advance(hours=2)
    assert policy.output_expired(done, clock.now())  # due, before the sweep even ran
    report = await sweeper.run("outputs")
    assert report is not None
    assert (report.handled, report.objects) == (1, 2)
    assert await stored_keys(runtime, f"output/{done.id}/") == []
    assert await stored_keys(runtime, f"derived/{done.id}/") == []
    job = await current(runtime, done.id)
    assert job.output_deleted_at == clock.now()
    assert job.status is JobStatus.COMPLETED
    assert policy.output_expired(job, done.finished_at)  # gone is gone, whatever the time


async def start_unfinished_upload(runtime: Runtime, job: VideoJob) -> None:
    """Uploads begun and never finished: one in parts (S3 multipart or its local
    equivalent) with a part stored, and on local storage a single PUT still streaming."""
    storage: Any = runtime.storage
    upload_id = await storage.create_multipart_upload(
        job.input_key, "video/mp4", plan_parts(12 * 1024**2)
    )
    if hasattr(storage, "client"):
        await asyncio.to_thread(
            storage.client.upload_part,
            Bucket=storage.bucket,
            Key=job.input_key,
            UploadId=upload_id,
            PartNumber=1,
            Body=b"\0" * 5 * 1024**2,
        )
    else:
        target = storage.path(job.input_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.with_name(f".{target.name}.0123abcd.part").write_bytes(b"\0" * 10)


async def test_an_upload_never_confirmed_is_canceled_an_hour_after_its_url_expired(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime)
    abandoned = await make_job(runtime, actor, workspace_id, "pending")
    await start_unfinished_upload(runtime, abandoned)
    assert f"{abandoned.input_key} [upload]" in await stored_keys(runtime, "input/")
    assert len(await stored_keys(runtime, f"input/{abandoned.id}/")) >= 2
    balance = await balance_and_ledger(runtime, workspace_id)
    clock = ManualClock(abandoned.created_at)
    sweeper = Sweeper(runtime, clock)
    url_ttl = timedelta(seconds=runtime.settings.upload_url_ttl_s)
    async with runtime.events.subscribe(abandoned.id) as events:
        clock.advance(url_ttl + timedelta(minutes=59))
        await sweeper.run("abandoned_uploads")
        assert (await current(runtime, abandoned.id)).status is JobStatus.PENDING
        # Another job whose upload URL expired only just now.
        fresh = await make_job(runtime, actor, workspace_id, "pending")
        async with runtime.session() as session:
            await session.execute(
                update(VideoJob)
                .where(VideoJob.id == fresh.id)
                .values(created_at=clock.now() - url_ttl)
            )
            await session.commit()

        clock.advance(minutes=2)
        report = await sweeper.run("abandoned_uploads")
        assert report is not None
        assert report.canceled == [abandoned.id]
        event = await asyncio.wait_for(anext(aiter(events)), 10)
    assert (event.status, event.error) == (JobStatus.CANCELED, ABANDONED_MESSAGE)
    job = await current(runtime, abandoned.id)
    assert (job.status, job.error, job.charges) == (JobStatus.CANCELED, ABANDONED_MESSAGE, 0)
    assert await stored_keys(runtime, f"input/{abandoned.id}/") == []
    # Nothing was charged, so nothing moved.
    assert await balance_and_ledger(runtime, workspace_id) == balance
    # A job created within the hour keeps waiting for its upload.
    assert (await current(runtime, fresh.id)).status is JobStatus.PENDING
    assert await stored_keys(runtime, f"input/{fresh.id}/") == [fresh.input_key]


async def test_sweeps_twice_at_once_delete_each_thing_once(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=20)
    done = [await make_job(runtime, actor, workspace_id, "completed") for _ in range(6)]
    clock = ManualClock()
    clock.advance(days=31)
    before = counted("hushcut_deletions_total", kind="output_expired")
    first, second = Sweeper(runtime, clock), Sweeper(runtime, clock)
    reports = await asyncio.gather(first.run("outputs"), second.run("outputs"))
    assert sum(report.handled for report in reports if report is not None) == len(done)
    assert counted("hushcut_deletions_total", kind="output_expired") == before + len(done)
    for job in done:
        assert await stored_keys(runtime, f"output/{job.id}/") == []
    # And again: nothing left to do.
    again = await first.run_all()
    assert {name: report.handled for name, report in again.items() if report} == {
        "abandoned_uploads": 0,
        "reviews": 0,
        "inputs": len(done),  # the inputs' day is long past too
        "outputs": 0,
        "purges": 0,
    }
    assert all(report is not None for report in again.values())


class FailingStorage:
    """Storage that is down: every deletion fails."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    async def delete_prefix(self, prefix: str) -> int:
        raise StorageUnavailable("storage unreachable while trying to delete")


async def test_a_sweep_that_meets_a_storage_outage_leaves_the_job_for_next_time(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime)
    done = await make_job(runtime, actor, workspace_id, "completed")
    clock = ManualClock()
    clock.advance(days=1, hours=1)
    outage = dataclasses.replace(runtime, storage=FailingStorage(runtime.storage))
    errors = counted("hushcut_sweeps_total", sweep="inputs", outcome="error")
    assert await Sweeper(outage, clock).run("inputs") is None
    assert counted("hushcut_sweeps_total", sweep="inputs", outcome="error") == errors + 1
    assert (await current(runtime, done.id)).input_deleted_at is None
    assert await stored_keys(runtime, f"input/{done.id}/") == [done.input_key]
    report = await Sweeper(runtime, clock).run("inputs")
    assert report is not None
    assert report.handled == 1
    assert await stored_keys(runtime, f"input/{done.id}/") == []
    assert counted("hushcut_sweep_last_success_timestamp_seconds", sweep="inputs") > 0


async def uploading_in_parts(
    runtime: Runtime, actor: Actor, workspace_id: str, started_ago: timedelta
) -> VideoJob:
    """A PENDING job whose upload in parts (no part sent yet) started ``started_ago``."""
    size = 2 * MIN_PART_SIZE
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "big.mp4", size, "video/mp4")
    upload_id = await runtime.storage.create_multipart_upload(
        job.input_key, "video/mp4", plan_parts(size, MIN_PART_SIZE)
    )
    async with runtime.session() as session:
        await jobs.record_upload(session, actor, job.id, upload_id, MIN_PART_SIZE)
        await session.execute(
            update(VideoJob)
            .where(VideoJob.id == job.id)
            .values(created_at=job.created_at - started_ago)
        )
        await session.commit()
        return await jobs.load_job(session, job.id)


async def test_every_stale_upload_in_parts_is_given_up_in_one_run(runtime: Runtime) -> None:
    """More abandoned uploads in parts than a query of the sweep takes: one run gives
    them all up; an upload still within its time keeps going."""
    actor, workspace_id = await new_member(runtime)
    balance = await balance_and_ledger(runtime, workspace_id)
    ttl = timedelta(seconds=runtime.settings.multipart_upload_ttl_s)
    stale = [
        await uploading_in_parts(runtime, actor, workspace_id, ttl + timedelta(minutes=1))
        for _ in range(SWEEP_BATCH + 20)
    ]
    fresh = await uploading_in_parts(runtime, actor, workspace_id, ttl - timedelta(minutes=5))

    report = await Sweeper(runtime, ManualClock()).run("abandoned_uploads")
    assert report is not None
    assert sorted(report.canceled) == sorted(job.id for job in stale)
    assert report.handled == len(stale)
    for job in stale:
        gone = await current(runtime, job.id)
        assert (gone.status, gone.error, gone.upload_id, gone.charges) == (
            JobStatus.CANCELED,
            ABANDONED_MESSAGE,
            None,
            0,
        )
    # Every abandoned upload's parts are freed; the fresh one is still open.
    assert await stored_keys(runtime, "input/") == [f"{fresh.input_key} [upload]"]
    assert (await current(runtime, fresh.id)).status is JobStatus.PENDING
    assert await balance_and_ledger(runtime, workspace_id) == balance


class StorageFailingOn:
    """Storage that cannot reach the objects of some jobs (the others work)."""

    def __init__(self, storage: Any, job_ids: set[str]) -> None:
        self._storage = storage
        self.job_ids = job_ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def _check(self, key: str) -> None:
        if any(f"/{job_id}/" in key for job_id in self.job_ids):
            raise StorageUnavailable(f"storage unreachable while trying to delete {key}")

    async def delete_prefix(self, prefix: str) -> int:
        self._check(prefix)
        result: int = await self._storage.delete_prefix(prefix)
        return result

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._check(key)
        await self._storage.abort_multipart_upload(key, upload_id)


async def test_an_upload_storage_cannot_abort_stays_recorded_for_the_next_run(
    runtime: Runtime,
) -> None:
    """Storage failing on some jobs: the run gives up the others (and tells their
    subscribers), keeps each failed one as it was with its upload recorded, and fails so
    it shows; the next run gives those up."""
    actor, workspace_id = await new_member(runtime)
    ttl = timedelta(seconds=runtime.settings.multipart_upload_ttl_s)
    stale = [
        await uploading_in_parts(runtime, actor, workspace_id, ttl + timedelta(minutes=1))
        for _ in range(4)
    ]
    unlucky, canceled = stale[1], stale[2]
    # Canceled by its owner while storage was away: its upload is still open.
    async with runtime.session() as session:
        await jobs.cancel_job(session, actor, canceled.id)
    failing = {unlucky.id, canceled.id}
    outage = dataclasses.replace(runtime, storage=StorageFailingOn(runtime.storage, failing))
    clock = ManualClock()
    errors = counted("hushcut_sweeps_total", sweep="abandoned_uploads", outcome="error")
    async with runtime.events.subscribe(stale[0].id) as events:
        assert await Sweeper(outage, clock).run("abandoned_uploads") is None
        event = await asyncio.wait_for(anext(aiter(events)), 10)
    assert (event.status, event.error) == (JobStatus.CANCELED, ABANDONED_MESSAGE)
    assert counted("hushcut_sweeps_total", sweep="abandoned_uploads", outcome="error") == errors + 1
    for job in (stale[0], stale[3]):
        assert (await current(runtime, job.id)).status is JobStatus.CANCELED
        assert await stored_keys(runtime, f"input/{job.id}/") == []
    for job in (unlucky, canceled):
        kept = await current(runtime, job.id)
        assert kept.upload_id == job.upload_id
        assert await stored_keys(runtime, f"input/{job.id}/") == [f"{job.input_key} [upload]"]
    assert (await current(runtime, unlucky.id)).status is JobStatus.PENDING

    report = await Sweeper(runtime, clock).run("abandoned_uploads")
    assert report is not None
    assert (report.handled, report.canceled) == (2, [unlucky.id])
    for job in (unlucky, canceled):
        gone = await current(runtime, job.id)
        assert (gone.status, gone.upload_id) == (JobStatus.CANCELED, None)
        assert await stored_keys(runtime, f"input/{job.id}/") == []
    assert (await current(runtime, unlucky.id)).error == ABANDONED_MESSAGE


async def changes_until(events: AsyncIterator[JobChange], marker: JobEvent) -> list[JobChange]:
    """What a subscription received before ``marker`` (published after everything else)."""
    received: list[JobChange] = []
    async for change in events:
        if change == marker:
            return received
        received.append(change)
    raise AssertionError("the subscription ended")


async def test_a_single_put_and_an_upload_in_parts_are_given_up_alike(runtime: Runtime) -> None:
    """Whatever the kind of upload, the job is canceled with the same error and values,
    and its subscribers hear of it exactly once."""
    actor, workspace_id = await new_member(runtime)
    single = await make_job(runtime, actor, workspace_id, "pending")
    in_parts = await uploading_in_parts(runtime, actor, workspace_id, timedelta(0))
    settings = runtime.settings
    clock = ManualClock()
    clock.advance(
        max(
            timedelta(seconds=settings.upload_url_ttl_s, hours=1),
            timedelta(seconds=settings.multipart_upload_ttl_s),
        )
        + timedelta(minutes=1)
    )
    async with (
        runtime.events.subscribe(single.id) as single_events,
        runtime.events.subscribe(in_parts.id) as in_parts_events,
    ):
        report = await Sweeper(runtime, clock).run("abandoned_uploads")
        assert report is not None
        assert sorted(report.canceled) == sorted([single.id, in_parts.id])
        for job, events in ((single, single_events), (in_parts, in_parts_events)):
            marker = JobEvent(job.id, JobStatus.CANCELED, stage="test marker")
            await runtime.events.publish(marker)
            received = await asyncio.wait_for(changes_until(events, marker), 10)
            said = [
                (change.status, change.error) if isinstance(change, JobEvent) else change
                for change in received
            ]
            assert said == [(JobStatus.CANCELED, ABANDONED_MESSAGE)]
    given_up = [await current(runtime, job.id) for job in (single, in_parts)]
    assert {
        (job.status, job.error, job.charges, job.upload_id, job.finished_at) for job in given_up
    } == {(JobStatus.CANCELED, ABANDONED_MESSAGE, 0, None, clock.now())}
    for job in given_up:
        # Nothing was ever made from it, and its upload is gone.
        assert job.input_deleted_at == job.output_deleted_at == clock.now()
        assert await stored_keys(runtime, f"input/{job.id}/") == []

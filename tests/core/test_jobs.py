"""Job services: state machine, charges and refunds, leases, listing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.errors import BadUserInput, Conflict, InsufficientCredits, NotFound
from hushcut.core.models import JobStatus, VideoJob, utcnow
from hushcut.core.runtime import Runtime
from hushcut.core.services import credits, jobs
from hushcut.core.services.auth import Actor
from tests.platform import balance_and_ledger, new_member

SIZE = 1234


async def queued_job(runtime: Runtime, actor: Actor, workspace_id: str) -> VideoJob:
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "talk.mp4", SIZE, "video/mp4")
        return await jobs.confirm_upload(session, actor, job.id, SIZE)


async def test_create_job_is_pending_with_sanitised_input_key(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        job = await jobs.create_job(
            session,
            actor,
            workspace_id,
            "../../etc/my talk (final).MP4",
            SIZE,
            "video/mp4",
            {"threshold_db": -35},
        )
    assert job.status is JobStatus.PENDING
    assert job.input_key == f"input/{job.id}/my_talk_final_.MP4"
    assert job.options == {"threshold_db": -35}
    assert job.filename == "../../etc/my talk (final).MP4"
    assert job.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("size", "content_type", "filename", "message"),
    [
        (0, "video/mp4", "a.mp4", "positive"),
        (10**12, "video/mp4", "a.mp4", "largest upload"),
        (10, "text/html", "a.mp4", "content type"),
        (10, "video/mp4", "   ", "filename"),
    ],
)
async def test_create_job_refuses_bad_input(
    runtime: Runtime, size: int, content_type: str, filename: str, message: str
) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        with pytest.raises(BadUserInput, match=message):
            await jobs.create_job(
                session,
                actor,
                workspace_id,
                filename,
                size,
                content_type,
                max_upload_bytes=runtime.settings.max_upload_bytes,
            )


def test_filenames_are_sanitised() -> None:
    assert jobs.sanitise_filename("C:\\Users\\me\\clip.mov") == "clip.mov"
    assert jobs.sanitise_filename("..") == "upload"
    assert jobs.sanitise_filename("élan vital.mp4") == "élan_vital.mp4"
    assert jobs.sanitise_filename("a\x00b\nc.mp4") == "abc.mp4"
    long = jobs.sanitise_filename("x" * 500 + ".mp4")
    assert len(long) == jobs.MAX_FILENAME_LENGTH
    assert long.endswith(".mp4")
    assert jobs.output_key("j1", "my talk.mp4") == "output/j1/my_talk_hushcut.mp4"


async def test_confirm_upload_charges_once_and_queues(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")
        queued = await jobs.confirm_upload(session, actor, job.id, SIZE)
        assert queued.status is JobStatus.QUEUED
        assert queued.queued_at is not None
        with pytest.raises(Conflict):
            await jobs.confirm_upload(session, actor, job.id, SIZE)
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)


async def test_confirm_upload_checks_the_stored_object(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")
        with pytest.raises(BadUserInput, match="no upload"):
            await jobs.confirm_upload(session, actor, job.id, None)
        with pytest.raises(BadUserInput, match="1233 bytes"):
            await jobs.confirm_upload(session, actor, job.id, SIZE - 1)
        assert (await jobs.get_job(session, actor, job.id)).status is JobStatus.PENDING
    assert await balance_and_ledger(runtime, workspace_id) == (3, 3)


async def test_confirm_upload_without_credits_leaves_job_pending(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=0)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")
        with pytest.raises(InsufficientCredits):
            await jobs.confirm_upload(session, actor, job.id, SIZE)
    async with runtime.session() as session:
        job = await jobs.get_job(session, actor, job.id)
        assert job.status is JobStatus.PENDING
        assert job.charges == 0
    assert await balance_and_ledger(runtime, workspace_id) == (0, 0)


async def test_concurrent_confirmations_never_overdraw(runtime: Runtime) -> None:
    """20 uploads confirmed at once against 5 credits: 5 queued, 15 refused, 0 left."""
    actor, workspace_id = await new_member(runtime, credits=5)
    async with runtime.session() as session:
        created = [
            await jobs.create_job(session, actor, workspace_id, f"{n}.mp4", SIZE, "video/mp4")
            for n in range(20)
        ]

    async def confirm(job_id: str) -> JobStatus | str:
        # Each call has its own session, hence its own connection and transaction.
        async with runtime.session() as session:
            try:
                return (await jobs.confirm_upload(session, actor, job_id, SIZE)).status
            except InsufficientCredits as exc:
                return exc.code

    outcomes = await asyncio.gather(*(confirm(job.id) for job in created))
    assert outcomes.count(JobStatus.QUEUED) == 5
    assert outcomes.count("INSUFFICIENT_CREDITS") == 15
    assert await balance_and_ledger(runtime, workspace_id) == (0, 0)
    async with runtime.session() as session:
        page = await jobs.list_jobs(session, actor, workspace_id, first=100)
    statuses = sorted(job.status.value for job in page.items)
    assert statuses == ["PENDING"] * 15 + ["QUEUED"] * 5


async def test_concurrent_confirmations_of_one_job_charge_once(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=5)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")

    async def confirm() -> str:
        async with runtime.session() as session:
            try:
                await jobs.confirm_upload(session, actor, job.id, SIZE)
            except Conflict as exc:
                return exc.code
            return "ok"

    outcomes = await asyncio.gather(*(confirm() for _ in range(8)))
    assert sorted(outcomes) == ["CONFLICT"] * 7 + ["ok"]
    assert await balance_and_ledger(runtime, workspace_id) == (4, 4)


async def test_worker_lifecycle_to_completion(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        claimed = await jobs.claim_job(session, job.id, "worker-1", 30, 2)
        assert claimed is not None
        assert claimed.status is JobStatus.PROCESSING
        assert claimed.attempts == 1
        assert claimed.lease_owner == "worker-1"
        assert claimed.lease_expires_at is not None
        assert claimed.lease_expires_at > utcnow()
        assert await jobs.claim_job(session, job.id, "worker-2", 30, 2) is None
        progressed = await jobs.update_progress(session, job.id, "worker-1", "detect", 1.7)
        assert progressed is not None
        assert progressed.progress == 1.0
        assert progressed.stage == "detect"
        assert await jobs.update_progress(session, job.id, "worker-2", "detect", 0.5) is None
        assert await jobs.renew_lease(session, job.id, "worker-1", 60)
        assert not await jobs.renew_lease(session, job.id, "worker-2", 60)
        with pytest.raises(Conflict, match="lease"):
            await jobs.complete_job(session, job.id, "worker-2", "output/x.mp4", 10.0, 7.5)
        done = await jobs.complete_job(session, job.id, "worker-1", "output/x.mp4", 10.0, 7.5)
    assert done.status is JobStatus.COMPLETED
    assert (done.output_key, done.input_duration_s, done.output_duration_s) == (
        "output/x.mp4",
        10.0,
        7.5,
    )
    assert done.finished_at is not None
    assert done.lease_owner is None
    async with runtime.session() as session:
        for refused in (
            jobs.cancel_job(session, actor, job.id),
            jobs.retry_job(session, actor, job.id),
            jobs.fail_job(session, job.id, None, "late"),
        ):
            with pytest.raises(Conflict):
                await refused
    assert await balance_and_ledger(runtime, workspace_id) == (4, 4)


async def test_invalid_transitions_are_refused(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")
        # PENDING cannot be claimed, completed, failed or retried.
        assert await jobs.claim_job(session, job.id, "w", 30, 2) is None
        with pytest.raises(Conflict):
            await jobs.complete_job(session, job.id, "w", "out", 1.0, 1.0)
        with pytest.raises(Conflict):
            await jobs.fail_job(session, job.id, None, "x")
        with pytest.raises(Conflict):
            await jobs.retry_job(session, actor, job.id)
        canceled = await jobs.cancel_job(session, actor, job.id)
        assert canceled.status is JobStatus.CANCELED
        with pytest.raises(Conflict):
            await jobs.cancel_job(session, actor, job.id)
        # Never uploaded, so there is nothing to retry.
        with pytest.raises(Conflict, match="never confirmed"):
            await jobs.retry_job(session, actor, job.id)
        with pytest.raises(Conflict):
            await jobs.confirm_upload(session, actor, job.id, SIZE)
        assert (await jobs.get_job(session, actor, job.id)).status is JobStatus.CANCELED
    assert not jobs.can_transition(JobStatus.COMPLETED, JobStatus.CANCELED)
    # A review is rendered (queued again) or canceled; nothing else.
    assert jobs.TRANSITIONS[JobStatus.REVIEW] == {JobStatus.QUEUED, JobStatus.CANCELED}
    async with runtime.session() as session:
        # Outside the table nothing moves a job, whatever the caller asks.
        with pytest.raises(ValueError, match="Move"):
            await jobs.transition(session, job.id, jobs.Move.RETRY, values={"status": "QUEUED"})
        assert await jobs.transition(session, job.id, jobs.Move.COMPLETE) is None
        assert await jobs.transition(session, job.id, jobs.Move.RELEASE) is None
    assert await balance_and_ledger(runtime, workspace_id) == (5, 5)


async def test_fail_refunds_exactly_once(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.claim_job(session, job.id, "w1", 30, 2)
        with pytest.raises(Conflict, match="lease"):
            await jobs.fail_job(session, job.id, "w2", "not mine")
        failed = await jobs.fail_job(session, job.id, "w1", "The file has no audio track.")
        assert failed.status is JobStatus.FAILED
        assert failed.error == "The file has no audio track."
        with pytest.raises(Conflict):
            await jobs.fail_job(session, job.id, None, "again")
    assert await balance_and_ledger(runtime, workspace_id) == (1, 1)


async def test_concurrent_failures_refund_once(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await queued_job(runtime, actor, workspace_id)

    async def fail() -> str:
        async with runtime.session() as session:
            try:
                await jobs.fail_job(session, job.id, None, "storage is down")
            except Conflict as exc:
                return exc.code
            return "failed"

    outcomes = await asyncio.gather(*(fail() for _ in range(6)))
    assert sorted(outcomes) == ["CONFLICT"] * 5 + ["failed"]
    assert await balance_and_ledger(runtime, workspace_id) == (1, 1)


async def test_cancel_refunds_charged_jobs_only(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    queued = await queued_job(runtime, actor, workspace_id)
    processing = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.claim_job(session, processing.id, "w1", 30, 2)
        pending = await jobs.create_job(session, actor, workspace_id, "p.mp4", 1, "video/mp4")
    assert await balance_and_ledger(runtime, workspace_id) == (0, 0)
    async with runtime.session() as session:
        for job in (queued, processing, pending):
            canceled = await jobs.cancel_job(session, actor, job.id)
            assert canceled.status is JobStatus.CANCELED
            assert canceled.finished_at is not None
        # The canceled job's worker loses it.
        assert not await jobs.renew_lease(session, processing.id, "w1", 30)
        with pytest.raises(Conflict):
            await jobs.complete_job(session, processing.id, "w1", "o", 1.0, 1.0)
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)


async def test_retry_charges_again_once_per_run(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.claim_job(session, job.id, "w1", 30, 2)
        await jobs.fail_job(session, job.id, "w1", "boom")
        assert await credits.get_balance(session, workspace_id) == 2
        retried = await jobs.retry_job(session, actor, job.id)
        assert retried.status is JobStatus.QUEUED
        assert (retried.attempts, retried.error, retried.charges) == (0, None, 2)
        assert await credits.get_balance(session, workspace_id) == 1
        with pytest.raises(Conflict):
            await jobs.retry_job(session, actor, job.id)
        await jobs.cancel_job(session, actor, job.id)
        assert await credits.get_balance(session, workspace_id) == 2
        await jobs.retry_job(session, actor, job.id)
        await jobs.claim_job(session, job.id, "w2", 30, 2)
        await jobs.fail_job(session, job.id, "w2", "boom again")
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)


async def test_retry_needs_a_credit(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.cancel_job(session, actor, job.id)
        await credits.set_credits(session, workspace_id, 0)
        with pytest.raises(InsufficientCredits):
            await jobs.retry_job(session, actor, job.id)
        assert (await jobs.get_job(session, actor, job.id)).status is JobStatus.CANCELED
    assert await balance_and_ledger(runtime, workspace_id) == (0, 0)


async def claimable(session: AsyncSession, **kwargs: Any) -> list[str]:
    return await jobs.claimable_job_ids(
        session, now=utcnow(), workspace_max_running=2, limit=100, **kwargs
    )


async def expire_lease(runtime: Runtime, job_id: str) -> None:
    async with runtime.session() as session:
        await session.execute(
            update(VideoJob)
            .where(VideoJob.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


async def test_expired_lease_is_reclaimed_then_given_up(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.claim_job(session, job.id, "dead-worker", 30, 2)
        assert await claimable(session) == []
    await expire_lease(runtime, job.id)
    async with runtime.session() as session:
        assert await claimable(session) == [job.id]
        reclaimed = await jobs.claim_job(session, job.id, "w2", 30, 2, max_attempts=2)
        assert reclaimed is not None
        assert (reclaimed.lease_owner, reclaimed.attempts) == ("w2", 2)
        # The dead worker, back to life, has lost the job.
        assert not await jobs.renew_lease(session, job.id, "dead-worker", 30)
    await expire_lease(runtime, job.id)
    async with runtime.session() as session:
        assert await jobs.claim_job(session, job.id, "w3", 30, 2, max_attempts=2) is None
        failed = await jobs.get_job(session, actor, job.id)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None
        assert "2 times" in failed.error
    assert await balance_and_ledger(runtime, workspace_id) == (1, 1)


async def test_release_requeues_without_counting_an_attempt(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.claim_job(session, job.id, "w1", 30, 2)
        assert not await jobs.release_job(session, job.id, "w2")
        assert await jobs.release_job(session, job.id, "w1")
        released = await jobs.get_job(session, actor, job.id)
        assert (released.status, released.attempts, released.lease_owner) == (
            JobStatus.QUEUED,
            0,
            None,
        )
        assert await claimable(session) == [job.id]


async def test_workspace_running_limit(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    other, other_workspace = await new_member(runtime, credits=1)
    first, second, third = [await queued_job(runtime, actor, workspace_id) for _ in range(3)]
    elsewhere = await queued_job(runtime, other, other_workspace)
    async with runtime.session() as session:
        assert await jobs.claim_job(session, first.id, "w", 30, 2) is not None
        assert await jobs.claim_job(session, second.id, "w", 30, 2) is not None
        assert await jobs.claim_job(session, third.id, "w", 30, 2) is None
        assert (await jobs.get_job(session, actor, third.id)).status is JobStatus.QUEUED
        assert await jobs.claim_job(session, elsewhere.id, "w", 30, 2) is not None
        await jobs.complete_job(session, first.id, "w", "o", 1.0, 1.0)
        assert await jobs.claim_job(session, third.id, "w", 30, 2) is not None


async def test_concurrent_claims_respect_the_running_limit(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=6)
    queued = [await queued_job(runtime, actor, workspace_id) for _ in range(6)]

    async def claim(job_id: str, worker: str) -> bool:
        async with runtime.session() as session:
            return await jobs.claim_job(session, job_id, worker, 30, 2) is not None

    claims = [claim(job.id, f"w{n}") for n, job in enumerate(queued)]
    claims += [claim(queued[0].id, "duplicate")]
    outcomes = await asyncio.gather(*claims)
    assert outcomes.count(True) == 2


async def test_requeueable_jobs_by_priority(runtime: Runtime) -> None:
    actor, low = await new_member(runtime)
    _, high = await new_member(runtime)
    async with runtime.session() as session:
        from hushcut.core.models import Workspace

        await session.execute(update(Workspace).where(Workspace.id == high).values(priority=5))
        await session.commit()
    from hushcut.core.services import workspaces

    async with runtime.session() as session:
        member = await workspaces.add_member(session, Actor(_.user_id), high, "x@example.com")
    low_job = await queued_job(runtime, actor, low)
    high_job = await queued_job(runtime, Actor(member.user_id), high)
    async with runtime.session() as session:
        assert await claimable(session) == [high_job.id, low_job.id]


async def test_list_jobs_paginates_newest_first(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=5)
    async with runtime.session() as session:
        created = [
            await jobs.create_job(session, actor, workspace_id, f"{n}.mp4", SIZE, "video/mp4")
            for n in range(7)
        ]
        await jobs.confirm_upload(session, actor, created[2].id, SIZE)
        seen: list[str] = []
        after = None
        while True:
            page = await jobs.list_jobs(session, actor, workspace_id, first=3, after=after)
            seen += [job.id for job in page.items]
            after = page.end
            if not page.has_next:
                break
        assert seen == [job.id for job in reversed(created)]
        queued = await jobs.list_jobs(session, actor, workspace_id, status=JobStatus.QUEUED)
        assert [job.id for job in queued.items] == [created[2].id]
        assert not queued.has_next
        capped = await jobs.list_jobs(session, actor, workspace_id, first=10_000)
        assert len(capped.items) == 7
        with pytest.raises(BadUserInput):
            await jobs.list_jobs(session, actor, workspace_id, first=-1)


async def test_page_size_is_capped(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        for n in range(jobs.MAX_PAGE_SIZE + 1):
            session.add(
                VideoJob(
                    workspace_id=workspace_id,
                    filename=f"{n}.mp4",
                    content_type="video/mp4",
                    size_bytes=1,
                    input_key=f"input/{n}",
                )
            )
        await session.commit()
        page = await jobs.list_jobs(session, actor, workspace_id, first=500)
        assert len(page.items) == jobs.MAX_PAGE_SIZE
        assert page.has_next


async def test_unknown_job_is_not_found(runtime: Runtime) -> None:
    actor, _ = await new_member(runtime)
    async with runtime.session() as session:
        with pytest.raises(NotFound):
            await jobs.get_job(session, actor, "00000000-0000-0000-0000-000000000000")
        assert await jobs.claim_job(session, "missing", "w", 30, 2) is None


async def test_a_long_lived_session_reads_fresh_state(runtime: Runtime) -> None:
    """A subscription-style reader keeps one session; it must see other sessions' commits
    (SQLite holds a snapshot for a whole transaction, so reads end theirs)."""
    actor, workspace_id = await new_member(runtime)
    job = await queued_job(runtime, actor, workspace_id)
    async with runtime.session() as reader:
        assert (await jobs.get_job(reader, actor, job.id)).status is JobStatus.QUEUED
        assert not reader.in_transaction()
        async with runtime.session() as worker:
            await jobs.claim_job(worker, job.id, "w", 30, 2)
        assert (await jobs.get_job(reader, actor, job.id)).status is JobStatus.PROCESSING
        page = await jobs.list_jobs(reader, actor, workspace_id)
        assert [j.status for j in page.items] == [JobStatus.PROCESSING]
        async with runtime.session() as worker:
            await jobs.complete_job(worker, job.id, "w", "o", 1.0, 1.0)
        assert (await jobs.load_job(reader, job.id)).status is JobStatus.COMPLETED

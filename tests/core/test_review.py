"""Review before render in core: REVIEW, renders from review and re-edits, their charges,
segment checks, workspace isolation, and the expiry of reviews (with a controllable clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hushcut.core.errors import BadUserInput, Conflict, InsufficientCredits, NotFound
from hushcut.core.models import CreditLedgerEntry, JobRequirement, JobStatus, LedgerReason, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.services import credits, jobs
from hushcut.core.services.auth import Actor
from hushcut.core.services.jobs import AnalysisRecord, KeptSegment
from tests.platform import balance_and_ledger, new_member

SIZE = 1234
WORKER = "worker-1"
TTL = timedelta(hours=72)
PLAN = [KeptSegment(0.0, 2.0), KeptSegment(4.5, 9.0)]


def analysis_of(job_id: str) -> AnalysisRecord:
    return AnalysisRecord(
        duration_s=10.0,
        detector="loudness",
        threshold_db=-40.5,
        noise_floor_db=-60.0,
        speech_db=-20.0,
        silences=[(2.2, 4.3), (9.2, 10.0)],
        segments=PLAN,
        peaks_key=jobs.peaks_key(job_id),
    )


async def reviewed_job(
    runtime: Runtime, actor: Actor, workspace_id: str, *, ttl: timedelta = TTL
) -> VideoJob:
    """A job confirmed with review, claimed and analyzed: in REVIEW."""
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "talk.mp4", SIZE, "video/mp4")
        queued = await jobs.confirm_upload(session, actor, job.id, SIZE, review=True)
        assert queued.review
        claimed = await jobs.claim_job(session, job.id, WORKER, 30, 5)
        assert claimed is not None
        return await jobs.record_analysis(
            session, job.id, WORKER, analysis_of(job.id), {"json": "k.json"}, ttl
        )


async def render_and_complete(
    runtime: Runtime, actor: Actor, job_id: str, segments: list[KeptSegment] | None
) -> VideoJob:
    async with runtime.session() as session:
        queued = await jobs.render_job(session, actor, job_id, segments, None, input_kept=True)
        assert queued.status is JobStatus.QUEUED
        claimed = await jobs.claim_job(session, job_id, WORKER, 30, 5)
        assert claimed is not None
        timeline = await jobs.load_timeline(session, job_id)
        assert timeline is not None
        return await jobs.complete_job(
            session, job_id, WORKER, "out.mp4", 10.0, 5.0, timeline=timeline, exports={}
        )


async def charges(runtime: Runtime, job_id: str) -> list[tuple[LedgerReason, str]]:
    async with runtime.session() as session:
        rows = await session.execute(
            select(CreditLedgerEntry.reason, CreditLedgerEntry.reference)
            .where(CreditLedgerEntry.reference.like(f"{job_id}:%"))
            .order_by(CreditLedgerEntry.created_at, CreditLedgerEntry.reason)
        )
        return [(reason, reference) for reason, reference in rows.all()]


async def test_review_then_render_costs_one_credit_and_a_re_edit_one_more(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    job = await reviewed_job(runtime, actor, workspace_id)
    assert job.status is JobStatus.REVIEW
    assert not job.status.is_final
    assert job.stage == "review"
    assert job.input_duration_s == 10.0
    assert job.review_expires_at is not None
    assert job.exports == {"json": "k.json"}
    async with runtime.session() as session:
        found = await jobs.analyses_by_job(session, actor, [job.id])
    assert found[job.id].segments == [[0.0, 2.0, 1.0], [4.5, 9.0, 1.0]]
    assert found[job.id].silences == [[2.2, 4.3], [9.2, 10.0]]
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)

    edited = [KeptSegment(0.0, 3.0), KeptSegment(5.0, 9.0, 2.0)]
    done = await render_and_complete(runtime, actor, job.id, edited)
    assert done.status is JobStatus.COMPLETED
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2), "the render was free"
    async with runtime.session() as session:
        assert (await jobs.timelines_by_job(session, actor, [job.id]))[job.id] == edited

    # A re-edit of the completed job renders the plan as analyzed, for one more credit.
    done = await render_and_complete(runtime, actor, job.id, None)
    assert done.status is JobStatus.COMPLETED
    async with runtime.session() as session:
        assert (await jobs.timelines_by_job(session, actor, [job.id]))[job.id] == PLAN
    assert await balance_and_ledger(runtime, workspace_id) == (1, 1)
    assert await charges(runtime, job.id) == [
        (LedgerReason.JOB_CHARGE, f"{job.id}:1"),
        (LedgerReason.JOB_CHARGE, f"{job.id}:2"),
    ]


async def test_a_failed_render_from_review_refunds_the_confirmation(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await reviewed_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        await jobs.render_job(session, actor, job.id, None, None, input_kept=True)
        await jobs.claim_job(session, job.id, WORKER, 30, 5)
        failed = await jobs.fail_job(session, job.id, WORKER, "render broke")
    assert failed.status is JobStatus.FAILED
    assert await balance_and_ledger(runtime, workspace_id) == (1, 1)
    # A retry renders the same segments again (for a new charge).
    async with runtime.session() as session:
        retried = await jobs.retry_job(session, actor, job.id)
        assert retried.status is JobStatus.QUEUED
        assert await jobs.load_timeline(session, job.id) == PLAN


async def test_a_re_edit_without_credits_leaves_the_job_completed(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await reviewed_job(runtime, actor, workspace_id)
    await render_and_complete(runtime, actor, job.id, None)
    async with runtime.session() as session:
        with pytest.raises(InsufficientCredits):
            await jobs.render_job(
                session, actor, job.id, [KeptSegment(1.0, 2.0)], None, input_kept=True
            )
        same = await jobs.get_job(session, actor, job.id)
        assert same.status is JobStatus.COMPLETED
        assert same.output_key == "out.mp4"
        assert await jobs.load_timeline(session, job.id) == PLAN
    assert await balance_and_ledger(runtime, workspace_id) == (0, 0)


async def test_render_is_refused_in_other_states_and_without_the_input(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", SIZE, "video/mp4")
        with pytest.raises(Conflict, match="PENDING"):
            await jobs.render_job(session, actor, job.id, None, None, input_kept=True)
        await jobs.confirm_upload(session, actor, job.id, SIZE)
        with pytest.raises(Conflict, match="QUEUED"):
            await jobs.render_job(session, actor, job.id, None, None, input_kept=True)
    reviewed = await reviewed_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        with pytest.raises(Conflict, match="no longer stored"):
            await jobs.render_job(session, actor, reviewed.id, None, None, input_kept=False)
        assert (await jobs.get_job(session, actor, reviewed.id)).status is JobStatus.REVIEW


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "keep nothing"),
        ([KeptSegment(-0.5, 1.0)], "starts before the input"),
        ([KeptSegment(2.0, 2.0)], "must end after it starts"),
        ([KeptSegment(3.0, 5.0), KeptSegment(1.0, 2.0)], "overlaps or precedes segment 1"),
        ([KeptSegment(0.0, 5.0), KeptSegment(4.0, 6.0)], "overlaps or precedes segment 1"),
        ([KeptSegment(9.0, 10.5)], r"ends after the input \(10.000 s\)"),
        ([KeptSegment(0.0, 1.0, 0.0)], "speed 0"),
        ([KeptSegment(0.0, 1.0, float("nan"))], "not a finite number"),
        ([KeptSegment(i / 1000, (i + 0.5) / 1000) for i in range(10_001)], "at most 10000"),
    ],
)
async def test_edited_segments_are_checked(
    runtime: Runtime, segments: list[KeptSegment], message: str
) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    job = await reviewed_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        with pytest.raises(BadUserInput, match=message):
            await jobs.render_job(session, actor, job.id, segments, None, input_kept=True)
        assert (await jobs.get_job(session, actor, job.id)).status is JobStatus.REVIEW


def test_touching_segments_and_ten_thousand_are_accepted() -> None:
    many = [KeptSegment(i / 1000, (i + 1) / 1000) for i in range(jobs.MAX_SEGMENTS)]
    assert jobs.check_segments(many, 10.0) == many
    assert jobs.check_segments([KeptSegment(0.0, 10.0005)], 10.0)  # float rounding


async def test_new_options_replace_the_job_requirements(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    job = await reviewed_job(runtime, actor, workspace_id)
    options = {"mode": "reencode", "plugins": {"loudnorm": {}}}
    async with runtime.session() as session:
        queued = await jobs.render_job(session, actor, job.id, None, options, input_kept=True)
        assert queued.options == options
        needed = await session.scalars(
            select(JobRequirement.capability).where(JobRequirement.job_id == job.id)
        )
        assert needed.all() == ["plugin:loudnorm"]
        # A worker without the plugin does not get the render.
        assert await jobs.claim_job(session, job.id, WORKER, 30, 5, offered=set()) is None


async def test_other_workspaces_cannot_see_or_render_a_review(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    job = await reviewed_job(runtime, actor, workspace_id)
    stranger, _ = await new_member(runtime, credits=2)
    token_elsewhere = Actor(actor.user_id, workspace_id="another-workspace")
    async with runtime.session() as session:
        for outsider in (stranger, token_elsewhere):
            with pytest.raises(NotFound):
                await jobs.render_job(session, outsider, job.id, None, None, input_kept=True)
            assert await jobs.analyses_by_job(session, outsider, [job.id]) == {}
            assert await jobs.timelines_by_job(session, outsider, [job.id]) == {}
            with pytest.raises(NotFound):
                await jobs.cancel_job(session, outsider, job.id)
        assert (await jobs.get_job(session, actor, job.id)).status is JobStatus.REVIEW


async def test_canceling_a_review_refunds_it(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    job = await reviewed_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        canceled = await jobs.cancel_job(session, actor, job.id)
    assert canceled.status is JobStatus.CANCELED
    assert canceled.review_expires_at is None
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)


async def store_input(runtime: Runtime, job: VideoJob, tmp_path: Path) -> None:
    source = tmp_path / "input.bin"
    source.write_bytes(b"x" * SIZE)
    await runtime.storage.upload_file(source, job.input_key, "video/mp4")


async def test_an_expired_review_is_canceled_refunded_and_its_input_deleted_once(
    runtime: Runtime, tmp_path: Path
) -> None:
    actor, workspace_id = await new_member(runtime, credits=3)
    job = await reviewed_job(runtime, actor, workspace_id)
    kept = await reviewed_job(runtime, actor, workspace_id)
    await store_input(runtime, job, tmp_path)
    assert job.review_expires_at is not None
    deadline = job.review_expires_at

    # The clock says when: a minute before the deadline nothing happens.
    async with runtime.session() as session:
        early = await jobs.expire_reviews(
            session, runtime.storage, now=deadline - timedelta(minutes=1)
        )
    assert [expired.id for expired in early] == []
    async with runtime.session() as session:
        await jobs.render_job(session, actor, kept.id, None, None, input_kept=True)

    # Two sweeps at once, past the deadline (as two processes would run them).
    async def sweep() -> list[VideoJob]:
        async with runtime.session() as session:
            return await jobs.expire_reviews(
                session, runtime.storage, now=deadline + timedelta(seconds=1)
            )

    first, second = await asyncio.gather(sweep(), sweep())
    assert sorted(expired.id for expired in first + second) == [job.id]
    async with runtime.session() as session:
        expired = await jobs.get_job(session, actor, job.id)
        assert expired.status is JobStatus.CANCELED
        assert expired.error is not None
        assert "review" in expired.error
        assert (await jobs.get_job(session, actor, kept.id)).status is JobStatus.QUEUED
        refunds = await session.scalar(
            select(func.count())
            .select_from(CreditLedgerEntry)
            .where(
                CreditLedgerEntry.reason == LedgerReason.JOB_REFUND,
                CreditLedgerEntry.reference == f"{job.id}:1",
            )
        )
    assert refunds == 1
    assert await runtime.storage.head(job.input_key) is None
    # 3 - 2 confirmations + 1 refund.
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)
    async with runtime.session() as session:
        assert await credits.get_balance(session, workspace_id) == 2
        again = await jobs.expire_reviews(
            session, runtime.storage, now=deadline + timedelta(days=30)
        )
    assert again == []


async def test_the_owner_is_told_once_that_the_cuts_await_review(runtime: Runtime) -> None:
    from hushcut.core.models import EmailOutbox
    from hushcut.core.services import emails

    actor, workspace_id = await new_member(runtime, credits=2)
    job = await reviewed_job(runtime, actor, workspace_id)
    async with runtime.session() as session:
        for expected in (True, False):
            sent = await emails.notify_job_finished(session, runtime.email, job.id, "https://app")
            assert sent is expected
        row = (
            await session.scalars(
                select(EmailOutbox).where(EmailOutbox.idempotency_key.like(f"job-{job.id}-%"))
            )
        ).one()
    assert row.subject == "Your cuts are ready to review: talk.mp4"
    assert "canceled and your credit refunded" in row.text
    assert row.idempotency_key == f"job-{job.id}-run-1-review"

"""Deleting a job, a workspace, an account: the media leaves storage (checked in the S3
endpoint or on disk), the ledger keeps its history, nothing is reachable afterwards."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hushcut.core.clock import ManualClock
from hushcut.core.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from hushcut.core.models import (
    CreditLedgerEntry,
    JobStatus,
    LedgerReason,
    Role,
    StoragePurge,
    User,
    VideoJob,
)
from hushcut.core.runtime import Runtime
from hushcut.core.scheduler import Sweeper
from hushcut.core.services import credits, deletion, jobs, tokens, workspaces
from hushcut.core.services.auth import Actor
from hushcut.core.services.retention import RetentionPolicy
from tests.core.test_retention import WORKER, FailingStorage, make_job
from tests.core.test_teams import invite, signed_in
from tests.platform import new_member, put_object, stored_keys


def policy(runtime: Runtime) -> RetentionPolicy:
    return RetentionPolicy.from_settings(runtime.settings)


async def delete_job(runtime: Runtime, actor: Actor, job_id: str) -> deletion.Deleted:
    async with runtime.session() as session:
        return await deletion.delete_job(
            session, actor, job_id, storage=runtime.storage, policy=policy(runtime)
        )


async def delete_workspace(
    runtime: Runtime, actor: Actor, workspace_id: str, name: str
) -> deletion.Deleted:
    async with runtime.session() as session:
        return await deletion.delete_workspace(
            session, actor, workspace_id, name, storage=runtime.storage, policy=policy(runtime)
        )


async def delete_account(runtime: Runtime, actor: Actor, email: str) -> deletion.Deleted:
    async with runtime.session() as session:
        return await deletion.delete_account(
            session, actor, email, storage=runtime.storage, policy=policy(runtime)
        )


async def job_keys(runtime: Runtime, job_id: str) -> list[str]:
    return [
        key for prefix in jobs.job_prefixes(job_id) for key in await stored_keys(runtime, prefix)
    ]


async def test_deleting_a_finished_job_removes_its_media_at_once_and_keeps_the_ledger(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime, credits=5)
    done = await make_job(runtime, actor, workspace_id, "completed")
    kept = await make_job(runtime, actor, workspace_id, "completed")
    assert len(await job_keys(runtime, done.id)) == 3  # input, output, peaks
    deleted = await delete_job(runtime, actor, done.id)
    assert deleted.objects == 3
    assert await job_keys(runtime, done.id) == []
    assert len(await job_keys(runtime, kept.id)) == 3
    async with runtime.session() as session:
        page = await jobs.list_jobs(session, actor, workspace_id)
        assert [job.id for job in page.items] == [kept.id]
        with pytest.raises(NotFound):
            await jobs.get_job(session, actor, done.id)
        charges = (
            await session.scalars(
                select(CreditLedgerEntry).where(CreditLedgerEntry.job_id == done.id)
            )
        ).all()
        assert [entry.reason for entry in charges] == [LedgerReason.JOB_CHARGE]
        assert await credits.ledger_sum(session, workspace_id) == await credits.get_balance(
            session, workspace_id
        )
        # Only the second pass is left, for an upload URL of the job still valid.
        late = (await session.scalars(select(StoragePurge.reason))).all()
        assert late == ["late_write"] * 3
    with pytest.raises(NotFound):
        await delete_job(runtime, actor, done.id)


async def test_who_may_delete_which_job(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime, credits=10)
    async with runtime.session() as session:
        member = Actor(
            (await workspaces.add_member(session, owner, workspace_id, "m@example.com")).user_id
        )
    owners_job = await make_job(runtime, owner, workspace_id, "failed")
    members_job = await make_job(runtime, member, workspace_id, "failed")
    running = await make_job(runtime, owner, workspace_id, "queued")
    outsider, _ = await new_member(runtime)
    with pytest.raises(Forbidden):
        await delete_job(runtime, member, owners_job.id)
    with pytest.raises(Conflict, match="cancel it first"):
        await delete_job(runtime, owner, running.id)
    with pytest.raises(NotFound):
        await delete_job(runtime, outsider, owners_job.id)
    await delete_job(runtime, member, members_job.id)  # their own
    await delete_job(runtime, owner, owners_job.id)
    assert await job_keys(runtime, running.id) == [running.input_key]


async def test_a_deletion_during_a_storage_outage_finishes_when_storage_is_back(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime)
    done = await make_job(runtime, actor, workspace_id, "completed")
    outage = dataclasses.replace(runtime, storage=FailingStorage(runtime.storage))
    deleted = await delete_job(outage, actor, done.id)
    # Deleted for the person at once; the objects wait for storage.
    assert deleted.objects == 0
    async with runtime.session() as session:
        with pytest.raises(NotFound):
            await jobs.get_job(session, actor, done.id)
        assert await deletion.pending_purges(session) == 6  # 3 now, 3 for late writers
    assert len(await job_keys(runtime, done.id)) == 3
    report = await Sweeper(runtime).run("purges")
    assert report is not None
    assert (report.handled, report.objects) == (3, 3)
    assert await job_keys(runtime, done.id) == []


async def test_an_upload_landing_after_the_deletion_is_purged_later(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    pending = await make_job(runtime, actor, workspace_id, "pending")
    async with runtime.session() as session:
        await jobs.cancel_job(session, actor, pending.id)
    await delete_job(runtime, actor, pending.id)
    assert await job_keys(runtime, pending.id) == []
    # The client still held a valid upload URL and used it.
    await put_object(runtime, pending.input_key)
    clock = ManualClock()
    await Sweeper(runtime, clock).run("purges")
    assert await job_keys(runtime, pending.id) == [pending.input_key]  # not yet
    clock.advance(seconds=runtime.settings.upload_url_ttl_s, hours=1, minutes=1)
    await Sweeper(runtime, clock).run("purges")
    assert await job_keys(runtime, pending.id) == []
    async with runtime.session() as session:
        assert await deletion.pending_purges(session) == 0


async def test_deleting_a_workspace(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime, "owner@example.com", credits=7)
    async with runtime.session() as session:
        admin = Actor(
            (
                await workspaces.add_member(
                    session, owner, workspace_id, "a@example.com", Role.ADMIN
                )
            ).user_id
        )
        _, admin_token = await tokens.create_api_token(session, admin, workspace_id, "ci")
    done = await make_job(runtime, owner, workspace_id, "completed")
    queued = await make_job(runtime, owner, workspace_id, "queued")
    processing = await make_job(runtime, owner, workspace_id, "queued")
    async with runtime.session() as session:
        assert await jobs.claim_job(session, processing.id, WORKER, 30, 10) is not None
    pending = await make_job(runtime, owner, workspace_id, "pending")
    _, invitation_token = await invite(runtime, owner, workspace_id, "later@example.com")
    other_owner, other_workspace = await new_member(runtime)
    untouched = await make_job(runtime, other_owner, other_workspace, "completed")

    async with runtime.session() as session:
        preview = await deletion.preview_workspace_deletion(session, owner, workspace_id)
        assert (
            preview.forfeited_credits,
            preview.unfinished_jobs,
            preview.jobs,
            preview.members,
        ) == (
            4,
            3,
            4,
            2,
        )
        with pytest.raises(Forbidden):
            await deletion.preview_workspace_deletion(session, admin, workspace_id)
    with pytest.raises(Forbidden):
        await delete_workspace(runtime, admin, workspace_id, "Test workspace")
    with pytest.raises(BadUserInput, match="Test workspace"):
        await delete_workspace(runtime, owner, workspace_id, "test workspace")

    deleted = await delete_workspace(runtime, owner, workspace_id, "Test workspace")
    assert deleted.forfeited_credits == 4
    assert sorted(job.id for job in deleted.canceled_jobs) == sorted(
        [queued.id, processing.id, pending.id]
    )
    assert {job.status for job in deleted.canceled_jobs} == {JobStatus.CANCELED}
    for job in (done, queued, processing, pending):
        assert await job_keys(runtime, job.id) == []
    assert len(await job_keys(runtime, untouched.id)) == 3
    async with runtime.session() as session:
        for who in (owner, admin):
            with pytest.raises(NotFound):
                await workspaces.get_workspace(session, who, workspace_id)
        assert await workspaces.list_workspaces(session, admin) == []
        with pytest.raises(Unauthenticated):
            await tokens.verify_api_token(session, admin_token)
        assert (
            await session.scalar(
                select(func.count())
                .select_from(VideoJob)
                .where(VideoJob.workspace_id == workspace_id)
            )
            == 0
        )
        # The people remain; only the workspace went.
        assert await session.get(User, owner.user_id) is not None
    with pytest.raises(NotFound):
        await accept_invitation(
            runtime, await signed_in(runtime, "later@example.com"), invitation_token
        )
    # The worker holding the canceled job loses its lease; what it might still upload,
    # and what a client might still PUT, is purged once more later.
    async with runtime.session() as session:
        late = (await session.scalars(select(StoragePurge.reason))).all()
    assert set(late) == {"late_write"}


async def accept_invitation(runtime: Runtime, actor: Actor, token: str) -> None:
    from hushcut.core.services import invitations

    async with runtime.session() as session:
        await invitations.accept_invitation(session, actor, token)


async def test_deleting_an_account(runtime: Runtime) -> None:
    person, personal = await new_member(runtime, "leaver@example.com")
    personal_job = await make_job(runtime, person, personal, "completed")
    colleague, shared = await new_member(runtime, "colleague@example.com")
    async with runtime.session() as session:
        await workspaces.add_member(session, colleague, shared, "leaver@example.com", Role.OWNER)
    shared_job = await make_job(runtime, person, shared, "completed")
    # A shared workspace where the person is the only owner blocks the deletion.
    blocked, _ = await new_member(runtime, "helper@example.com")
    async with runtime.session() as session:
        team = await workspaces.create_workspace(session, person, "Team", starter_credits=0)
        await workspaces.add_member(session, person, team.id, "helper@example.com")
        preview = await deletion.preview_account_deletion(session, person)
        assert [w.id for w in preview.deleted_workspaces] == [personal]
        assert [w.id for w in preview.left_workspaces] == [shared]
        assert [w.id for w in preview.blocking_workspaces] == [team.id]
        with pytest.raises(Forbidden):  # a token cannot delete the person
            await deletion.preview_account_deletion(session, Actor(person.user_id, personal))
    with pytest.raises(Conflict, match="last owner of Team"):
        await delete_account(runtime, person, "leaver@example.com")
    with pytest.raises(BadUserInput):
        await delete_account(runtime, person, "someone@example.com")
    with pytest.raises(Forbidden):
        await delete_account(runtime, Actor(person.user_id, personal), "leaver@example.com")
    async with runtime.session() as session:
        await workspaces.change_member_role(session, person, team.id, blocked.user_id, Role.OWNER)

    deleted = await delete_account(runtime, person, " Leaver@Example.com ")
    assert deleted.deleted_workspaces == [personal]
    assert await job_keys(runtime, personal_job.id) == []
    async with runtime.session() as session:
        assert await session.get(User, person.user_id) is None
        # Shared workspaces keep their members, jobs and media.
        members = await workspaces.list_members(session, colleague, shared)
        assert [user.email for _, user in members] == ["colleague@example.com"]
        kept = await jobs.get_job(session, colleague, shared_job.id)
        assert kept.created_by is None
        assert len(await workspaces.list_members(session, blocked, team.id)) == 1
    assert len(await job_keys(runtime, shared_job.id)) == 3


async def test_a_deleted_jobs_row_keeps_naming_it_in_the_ledger(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    failed = await make_job(runtime, actor, workspace_id, "failed")
    await delete_job(runtime, actor, failed.id)
    async with runtime.session() as session:
        page = await credits.list_ledger(session, actor, workspace_id)
        refund, charge = page.items[:2]
        assert (refund.reason, refund.job_id) == (LedgerReason.JOB_REFUND, failed.id)
        assert (charge.reason, charge.job_id) == (LedgerReason.JOB_CHARGE, failed.id)
        row = await session.get(VideoJob, failed.id)
        assert row is not None
        assert row.deleted_at is not None
        assert row.deleted_at - row.finished_at < timedelta(minutes=1)  # type: ignore[operator]

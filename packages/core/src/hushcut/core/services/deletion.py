"""Deleting things people own: a job, a workspace, an account.

Each deletion does all its database work in one transaction and, in the same
transaction, queues a :class:`~hushcut.core.models.StoragePurge` for every prefix that
held the deleted media; right after the commit the purges run. So the objects go at
once when storage answers, and still go (the scheduler's purge sweep) when it was down
at that moment: the database never says something is deleted that storage keeps for
good. A second, later purge catches what a writer still holding a valid upload URL, or
a worker that has not yet noticed its job is gone, puts there afterwards.

The credit ledger is history: deleting a job keeps its entries (the job row stays,
hidden); deleting a workspace forfeits its credits together with its ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import BadUserInput, Conflict, Forbidden, NotFound
from hushcut.core.metrics import DELETIONS
from hushcut.core.models import (
    Membership,
    Role,
    StoragePurge,
    User,
    VideoJob,
    Workspace,
    utcnow,
)
from hushcut.core.services.auth import MANAGERS, Actor, require_member
from hushcut.core.services.jobs import (
    Move,
    derived_prefix,
    get_job,
    input_prefix,
    job_prefixes,
    output_prefix,
    transition,
)
from hushcut.core.services.jobs._transitions import lock_job, update_job
from hushcut.core.services.retention import RetentionPolicy, purge, run_purges
from hushcut.core.services.workspaces import normalise_email
from hushcut.core.storage import Storage

log = logging.getLogger(__name__)

#: How long after a deletion storage is purged once more, beyond the last moment an
#: upload URL of the deleted job could still be used.
LATE_WRITE_MARGIN = timedelta(hours=1)
CANCELED_BY_DELETION = "canceled: its workspace was deleted"


@dataclass(slots=True)
class Deleted:
    """What a deletion removed: the jobs it canceled (tell their subscribers) and the
    storage purges it queued and ran."""

    canceled_jobs: list[VideoJob] = field(default_factory=list)
    purges: list[str] = field(default_factory=list)
    #: Objects removed from storage right away (the rest go with the queued purges).
    objects: int = 0
    #: Credits the deleted workspaces still had.
    forfeited_credits: int = 0
    deleted_workspaces: list[str] = field(default_factory=list)


def _queue_purges(
    session: AsyncSession,
    job: VideoJob,
    now: datetime,
    policy: RetentionPolicy,
    reason: str,
    *,
    was_running: bool,
) -> list[str]:
    """Queue the purges of a job's objects: now, and once more after late writers."""
    prefixes = [
        prefix
        for prefix, gone in (
            (input_prefix(job.id), job.input_deleted_at),
            (output_prefix(job.id), job.output_deleted_at),
            (derived_prefix(job.id), job.output_deleted_at),
        )
        if gone is None
    ]
    rows = [purge(prefix, now, reason) for prefix in prefixes]
    url_valid_until = job.created_at + policy.upload_url_ttl
    if was_running or url_valid_until > now:
        late = max(url_valid_until, now) + LATE_WRITE_MARGIN
        rows += [purge(prefix, late, "late_write") for prefix in job_prefixes(job.id)]
    session.add_all(rows)
    return [row.id for row in rows if row.not_before <= now]


async def _run_now(
    session: AsyncSession, storage: Storage, purge_ids: list[str], deleted: Deleted
) -> Deleted:
    """Run the purges just queued; an outage leaves them to the scheduler."""
    deleted.purges = purge_ids
    try:
        report = await run_purges(session, storage, utcnow(), ids=purge_ids)
    except Exception as exc:
        log.warning("storage did not delete everything now (%s); the purge sweep will finish", exc)
        return deleted
    deleted.objects = report.objects
    return deleted


async def delete_job(
    session: AsyncSession,
    actor: Actor,
    job_id: str,
    *,
    storage: Storage,
    policy: RetentionPolicy,
) -> Deleted:
    """Delete a job in a final state: its input, output and derived objects go from
    storage at once; it disappears from listings; its ledger entries stay.

    Its creator, or an owner or admin of its workspace, may do this. A job still
    running (or in review) must be canceled first: Conflict.
    """
    job = await get_job(session, actor, job_id)
    membership = await require_member(session, actor, job.workspace_id)
    if job.created_by != actor.user_id and membership.role not in MANAGERS:
        raise Forbidden("only the job's creator, an owner or an admin can delete it")
    now = utcnow()
    async with transaction(session):
        job = await lock_job(session, job_id)
        if job.deleted_at is not None:
            raise NotFound("job not found")
        if not job.status.is_final:
            raise Conflict(
                f"job is {job.status.value}: cancel it first (only finished jobs can be deleted)"
            )
        purge_ids = _queue_purges(session, job, now, policy, "job_deleted", was_running=False)
        await update_job(
            session,
            job_id,
            [VideoJob.deleted_at.is_(None)],
            {
                "deleted_at": now,
                "input_deleted_at": func.coalesce(VideoJob.input_deleted_at, now),
                "output_deleted_at": func.coalesce(VideoJob.output_deleted_at, now),
            },
        )
    DELETIONS.labels(kind="job_deleted").inc()
    log.info("job %s deleted by user %s", job_id, actor.user_id)
    return await _run_now(session, storage, purge_ids, Deleted())


@dataclass(frozen=True, slots=True)
class WorkspaceDeletionPreview:
    """What deleting a workspace would do, shown before the owner confirms."""

    workspace: Workspace
    #: Credits lost with the workspace (not refunded).
    forfeited_credits: int
    #: Jobs not yet finished, which would be canceled.
    unfinished_jobs: int
    #: Jobs (and so media) that would be deleted, unfinished ones included.
    jobs: int
    members: int


async def preview_workspace_deletion(
    session: AsyncSession, actor: Actor, workspace_id: str
) -> WorkspaceDeletionPreview:
    """What :func:`delete_workspace` would cancel, delete and forfeit; owners only."""
    await require_member(session, actor, workspace_id, {Role.OWNER})
    workspace = await session.get(Workspace, workspace_id, populate_existing=True)
    if workspace is None:
        raise NotFound("workspace not found")
    visible = [VideoJob.workspace_id == workspace_id, VideoJob.deleted_at.is_(None)]
    jobs = await session.scalar(select(func.count()).select_from(VideoJob).where(*visible))
    unfinished = await session.scalar(
        select(func.count())
        .select_from(VideoJob)
        .where(*visible, VideoJob.status.in_(Move.CANCEL.sources))
    )
    members = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace_id)
    )
    await end_read(session)
    return WorkspaceDeletionPreview(
        workspace=workspace,
        forfeited_credits=workspace.credits,
        unfinished_jobs=unfinished or 0,
        jobs=jobs or 0,
        members=members or 0,
    )


async def _delete_workspace_rows(
    session: AsyncSession,
    workspace_id: str,
    now: datetime,
    policy: RetentionPolicy,
    deleted: Deleted,
) -> list[str]:
    """Inside a transaction: cancel the workspace's unfinished jobs, queue the purges of
    every job's objects, and delete the workspace (members, tokens, invitations, jobs,
    ledger and payments go with it). Returns the purges to run now."""
    # Locks in the order the job services take them (membership, job, then workspace),
    # so a deletion and a worker's claim or a refund never wait on each other in a
    # circle. Memberships first: a job being created now either committed before (and
    # is found below) or finds its membership gone (create_job checks it, share-locked).
    await session.execute(delete(Membership).where(Membership.workspace_id == workspace_id))
    purge_ids: list[str] = []
    job_ids = (
        await session.scalars(
            select(VideoJob.id).where(VideoJob.workspace_id == workspace_id).order_by(VideoJob.id)
        )
    ).all()
    for job_id in job_ids:
        job = await lock_job(session, job_id)
        running = Move.CANCEL.allows(job.status)
        if running:
            canceled = await transition(
                session,
                job_id,
                Move.CANCEL,
                values={
                    "error": CANCELED_BY_DELETION,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "finished_at": now,
                },
            )
            if canceled is not None:
                deleted.canceled_jobs.append(canceled)
        purge_ids += _queue_purges(
            session, job, now, policy, "workspace_deleted", was_running=running
        )
    await session.flush()
    workspace = (
        await session.scalars(
            select(Workspace)
            .where(Workspace.id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if workspace is None:
        raise NotFound("workspace not found")
    deleted.forfeited_credits += workspace.credits
    deleted.deleted_workspaces.append(workspace_id)
    await session.execute(delete(Workspace).where(Workspace.id == workspace_id))
    DELETIONS.labels(kind="workspace_deleted").inc()
    log.info(
        "workspace %s deleted: %d jobs, %d canceled, %d credits forfeited",
        workspace_id,
        len(job_ids),
        len(deleted.canceled_jobs),
        workspace.credits,
    )
    return purge_ids


async def delete_workspace(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    confirm_name: str,
    *,
    storage: Storage,
    policy: RetentionPolicy,
) -> Deleted:
    """Delete a workspace; its owners only, typing its exact name to confirm.

    Unfinished jobs are canceled (without refund: the remaining credits are forfeited),
    every object of every job deleted, members removed, and the workspace with its
    tokens, invitations, jobs, payments and ledger gone. :func:`preview_workspace_deletion`
    says beforehand what will be lost.
    """
    await require_member(session, actor, workspace_id, {Role.OWNER})
    workspace = await session.get(Workspace, workspace_id, populate_existing=True)
    await end_read(session)
    if workspace is None:
        raise NotFound("workspace not found")
    if " ".join(confirm_name.split()) != workspace.name:
        raise BadUserInput(
            f"to confirm, type the workspace's name exactly as it is: {workspace.name}"
        )
    deleted = Deleted()
    async with transaction(session):
        purge_ids = await _delete_workspace_rows(session, workspace_id, utcnow(), policy, deleted)
    return await _run_now(session, storage, purge_ids, deleted)


@dataclass(frozen=True, slots=True)
class AccountDeletionPreview:
    """What deleting one's account would do, shown before the person confirms."""

    #: Workspaces where the person is the only member: deleted with the account.
    deleted_workspaces: list[Workspace]
    #: Shared workspaces the person would simply leave.
    left_workspaces: list[Workspace]
    #: Shared workspaces where the person is the last owner: deletion is refused until
    #: someone else is made an owner (or the workspace is deleted).
    blocking_workspaces: list[Workspace]

    @property
    def allowed(self) -> bool:
        return not self.blocking_workspaces


async def _account_plan(session: AsyncSession, user_id: str) -> AccountDeletionPreview:
    memberships = (
        await session.execute(
            select(Membership, Workspace)
            .join(Workspace, Workspace.id == Membership.workspace_id)
            .where(Membership.user_id == user_id)
            .order_by(Workspace.created_at, Workspace.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    ids = [workspace.id for _, workspace in memberships]
    counts = dict(
        (
            await session.execute(
                select(Membership.workspace_id, func.count())
                .where(Membership.workspace_id.in_(ids))
                .group_by(Membership.workspace_id)
            )
        ).all()
    )
    owners = dict(
        (
            await session.execute(
                select(Membership.workspace_id, func.count())
                .where(Membership.workspace_id.in_(ids), Membership.role == Role.OWNER)
                .group_by(Membership.workspace_id)
            )
        ).all()
    )
    sole: list[Workspace] = []
    left: list[Workspace] = []
    blocking: list[Workspace] = []
    for membership, workspace in memberships:
        if counts.get(workspace.id, 0) <= 1:
            sole.append(workspace)
        elif membership.role is Role.OWNER and owners.get(workspace.id, 0) <= 1:
            blocking.append(workspace)
        else:
            left.append(workspace)
    return AccountDeletionPreview(sole, left, blocking)


def _signed_in(actor: Actor) -> None:
    if actor.workspace_id is not None:
        raise Forbidden(
            "sign in with your account to manage it: an API token, or a browser session "
            "opened with one, reaches only its workspace"
        )


async def preview_account_deletion(session: AsyncSession, actor: Actor) -> AccountDeletionPreview:
    """Which workspaces deleting the actor's account would delete, leave, or is blocked by."""
    _signed_in(actor)
    plan = await _account_plan(session, actor.user_id)
    await end_read(session)
    return plan


async def delete_account(
    session: AsyncSession,
    actor: Actor,
    confirm_email: str,
    *,
    storage: Storage,
    policy: RetentionPolicy,
) -> Deleted:
    """Delete the signed-in person's account, typing its email address to confirm.

    Workspaces where they are the only member are deleted (as :func:`delete_workspace`
    does); they leave the others. Refused (Conflict) while they are the last owner of a
    workspace others share. Their tokens and sessions end; jobs they created in shared
    workspaces stay with those workspaces.
    """
    _signed_in(actor)
    user = await session.get(User, actor.user_id, populate_existing=True)
    await end_read(session)
    if user is None:
        raise NotFound("user not found")
    try:
        confirmed = normalise_email(confirm_email) == user.email.lower()
    except BadUserInput:
        confirmed = False
    if not confirmed:
        raise BadUserInput("to confirm, type the email address of your account")
    deleted = Deleted()
    purge_ids: list[str] = []
    now = utcnow()
    async with transaction(session):
        # The person's own rows first: concurrent role changes in their workspaces wait.
        await session.execute(
            select(Membership.workspace_id).where(Membership.user_id == user.id).with_for_update()
        )
        plan = await _account_plan(session, user.id)
        if plan.blocking_workspaces:
            names = ", ".join(workspace.name for workspace in plan.blocking_workspaces)
            raise Conflict(
                f"you are the last owner of {names}: make another member an owner, or "
                "delete the workspace, before deleting your account"
            )
        for workspace in plan.deleted_workspaces:
            purge_ids += await _delete_workspace_rows(session, workspace.id, now, policy, deleted)
        # Memberships, tokens, sessions and identities go with the user (ON DELETE
        # CASCADE); jobs they created stay with their workspaces, without a creator.
        await session.execute(delete(User).where(User.id == user.id))
    DELETIONS.labels(kind="account_deleted").inc()
    log.info(
        "account %s deleted: %d workspaces deleted, %d left",
        user.id,
        len(plan.deleted_workspaces),
        len(plan.left_workspaces),
    )
    return await _run_now(session, storage, purge_ids, deleted)


async def pending_purges(session: AsyncSession) -> int:
    """Purges queued and not yet carried out (for health checks and tests)."""
    count = await session.scalar(select(func.count()).select_from(StoragePurge))
    await end_read(session)
    return count or 0

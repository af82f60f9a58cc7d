"""Workers and jobs: which job to claim next, claims with leases, renewals, hand-backs.

A worker runs a job only while it holds the job's lease: ``claim_job`` sets it in one
transaction (QUEUED, or PROCESSING with an expired lease -> PROCESSING), the worker
renews it, and a renewal that fails tells it to stop. A worker claims only jobs whose
recorded requirements its offer meets (``offered``), so a job reaches only a worker
that has the plugins it selects.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import transaction
from hushcut.core.errors import Conflict, NotFound
from hushcut.core.models import JobRequirement, JobStatus, VideoJob, Workspace, utcnow
from hushcut.core.services.jobs._charges import refund
from hushcut.core.services.jobs._reading import load_job
from hushcut.core.services.jobs._transitions import (
    Move,
    lock_job,
    refusal,
    transition,
    update_job,
)

#: How far back "when was this workspace last served" looks (older starts are ties).
SERVED_WINDOW_S = 3600


def lease_alive(now: datetime) -> ColumnElement[bool]:
    return and_(VideoJob.lease_expires_at.is_not(None), VideoJob.lease_expires_at > now)


def requirements_met(offered: Collection[str]) -> ColumnElement[bool]:
    """The job needs nothing outside ``offered`` (a job with no requirements always)."""
    unmet = select(JobRequirement.job_id).where(
        JobRequirement.job_id == VideoJob.id,
        JobRequirement.capability.not_in(sorted(offered)),
    )
    return ~exists(unmet)


async def claimable_job_ids(
    session: AsyncSession,
    *,
    now: datetime,
    workspace_max_running: int,
    limit: int,
    offered: Collection[str] | None = None,
    min_queued_age_s: float = 0.0,
) -> list[str]:
    """Ids of jobs a worker offering ``offered`` could claim now, best first.

    Candidates are QUEUED jobs (queued at least ``min_queued_age_s`` ago, so a job whose
    hint is still on its way is left to that hint) and PROCESSING jobs whose lease has
    expired (their worker died), that need nothing outside ``offered`` (None: no check).
    Workspaces already running ``workspace_max_running`` jobs are skipped. Order: higher
    workspace priority first; among equals, the workspace with fewer running jobs (so
    one workspace's backlog cannot starve another), then the workspace served least
    recently; then the oldest job. Only an ordering: ``claim_job`` decides.
    """
    running = (
        select(VideoJob.workspace_id, func.count().label("n"))
        .where(VideoJob.status == JobStatus.PROCESSING, VideoJob.lease_expires_at > now)
        .group_by(VideoJob.workspace_id)
        .subquery()
    )
    # When each workspace last had a job started: among workspaces with equally few
    # jobs running, the one served least recently goes first (round robin), so a
    # backlog cannot starve others even when slots free up one at a time.
    served = (
        select(VideoJob.workspace_id, func.max(VideoJob.started_at).label("last"))
        .where(VideoJob.started_at > now - timedelta(seconds=SERVED_WINDOW_S))
        .group_by(VideoJob.workspace_id)
        .subquery()
    )
    running_n = func.coalesce(running.c.n, 0)
    queued_before = now - timedelta(seconds=min_queued_age_s)
    query = (
        select(VideoJob.id)
        .join(Workspace, Workspace.id == VideoJob.workspace_id)
        .outerjoin(running, running.c.workspace_id == VideoJob.workspace_id)
        .outerjoin(served, served.c.workspace_id == VideoJob.workspace_id)
        .where(
            or_(
                and_(
                    VideoJob.status == JobStatus.QUEUED,
                    func.coalesce(VideoJob.queued_at, VideoJob.created_at) <= queued_before,
                ),
                and_(
                    VideoJob.status == JobStatus.PROCESSING,
                    or_(VideoJob.lease_expires_at.is_(None), VideoJob.lease_expires_at <= now),
                ),
            ),
            running_n < workspace_max_running,
        )
        .order_by(
            Workspace.priority.desc(),
            running_n.asc(),
            served.c.last.asc().nulls_first(),
            func.coalesce(VideoJob.queued_at, VideoJob.created_at).asc(),
            VideoJob.id.asc(),
        )
        .limit(limit)
    )
    if offered is not None:
        query = query.where(requirements_met(offered))
    return list((await session.scalars(query)).all())


async def claim_job(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    lease_s: float,
    workspace_max_running: int,
    *,
    max_attempts: int | None = None,
    offered: Collection[str] | None = None,
) -> VideoJob | None:
    """Take a job for processing: QUEUED (or PROCESSING with an expired lease) -> PROCESSING.

    Returns the job, now leased to ``worker_id`` for ``lease_s`` seconds with attempts
    incremented, or None when it cannot be claimed now: it is gone, in another state,
    leased by a live worker, needs a capability outside ``offered`` (None: no check), or
    its workspace already runs ``workspace_max_running`` jobs (then it stays QUEUED and
    ``claimable_job_ids`` offers it again). A job whose lease expired after
    ``max_attempts`` claims is failed (and refunded) instead.
    """
    async with transaction(session):
        try:
            job = await lock_job(session, job_id)
        except NotFound:
            return None
        now = utcnow()
        expired = (
            job.status is JobStatus.PROCESSING
            and job.lease_expires_at is not None
            and job.lease_expires_at <= now
        )
        if job.status is not JobStatus.QUEUED and not expired:
            return None
        if expired and max_attempts is not None and job.attempts >= max_attempts:
            failed = await transition(
                session,
                job_id,
                Move.FAIL,
                when=[VideoJob.status == JobStatus.PROCESSING],
                values={
                    "error": f"processing stopped unexpectedly {job.attempts} times; "
                    "retry the job, and contact support if it keeps failing",
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "finished_at": now,
                },
            )
            if failed is not None:
                await refund(session, failed)
            return None
        if offered is not None:
            needed = await session.scalars(
                select(JobRequirement.capability).where(JobRequirement.job_id == job_id)
            )
            if not set(needed.all()) <= set(offered):
                return None
        # Lock the workspace row (job first, then workspace, as everywhere) so two
        # workers claiming jobs of one workspace count each other's claims.
        await session.execute(
            select(Workspace.id).where(Workspace.id == job.workspace_id).with_for_update()
        )
        running = await session.scalar(
            select(func.count())
            .select_from(VideoJob)
            .where(
                VideoJob.workspace_id == job.workspace_id,
                VideoJob.status == JobStatus.PROCESSING,
                VideoJob.id != job_id,
                lease_alive(now),
            )
        )
        if (running or 0) >= workspace_max_running:
            return None
        return await transition(
            session,
            job_id,
            Move.CLAIM,
            when=[VideoJob.status == job.status],
            values={
                "lease_owner": worker_id,
                "lease_expires_at": now + timedelta(seconds=lease_s),
                "attempts": VideoJob.attempts + 1,
                "stage": None,
                "progress": 0.0,
                "started_at": now,
            },
        )


def _held_by(worker_id: str) -> list[ColumnElement[bool]]:
    return [VideoJob.status == JobStatus.PROCESSING, VideoJob.lease_owner == worker_id]


async def renew_lease(session: AsyncSession, job_id: str, worker_id: str, lease_s: float) -> bool:
    """Extend the worker's lease; False when it lost the job (reclaimed or canceled)."""
    async with transaction(session):
        renewed = await update_job(
            session,
            job_id,
            _held_by(worker_id),
            {"lease_expires_at": utcnow() + timedelta(seconds=lease_s)},
        )
        return renewed is not None


async def update_progress(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    stage: str,
    progress: float,
    *,
    lease_s: float | None = None,
) -> VideoJob | None:
    """Record the stage and progress (0..1), optionally renewing the lease.

    Returns the updated job, or None when the worker no longer holds it.
    """
    values: dict[str, Any] = {"stage": stage[:64], "progress": min(1.0, max(0.0, progress))}
    if lease_s is not None:
        values["lease_expires_at"] = utcnow() + timedelta(seconds=lease_s)
    async with transaction(session):
        return await update_job(session, job_id, _held_by(worker_id), values)


async def release_job(session: AsyncSession, job_id: str, worker_id: str) -> bool:
    """A worker shutting down gives the job back: PROCESSING -> QUEUED, lease cleared.

    The interrupted attempt does not count against the job. False if not held.
    """
    async with transaction(session):
        released = await transition(
            session,
            job_id,
            Move.RELEASE,
            when=[VideoJob.lease_owner == worker_id],
            values={
                "lease_owner": None,
                "lease_expires_at": None,
                "attempts": case((VideoJob.attempts > 0, VideoJob.attempts - 1), else_=0),
                "stage": None,
                "progress": 0.0,
            },
        )
        return released is not None


async def end_run(
    session: AsyncSession, job_id: str, worker_id: str, move: Move, values: dict[str, Any]
) -> VideoJob:
    """The worker holding the job's lease ends its run with ``move`` (COMPLETE,
    ANALYZED), writing ``values`` and clearing the lease, in the caller's transaction.

    Conflict if the job was canceled meanwhile or the worker lost its lease.
    """
    ended = await transition(
        session,
        job_id,
        move,
        when=[VideoJob.lease_owner == worker_id],
        values={**values, "lease_owner": None, "lease_expires_at": None},
    )
    if ended is None:
        job = await load_job(session, job_id)
        if not move.allows(job.status):
            raise refusal(job, move)
        raise Conflict("this worker no longer holds the job's lease")
    return ended

"""Which job a free worker slot should try next: workspace priority, then fair share, then age.

This is only an ordering of candidates. Whether a worker may take a job (state, lease,
the per-workspace cap) is decided atomically by ``hushcut.core.services.jobs.claim_job``;
the cap filter here just avoids claims that are bound to fail.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.models import JobStatus, VideoJob, Workspace

#: How far back "when was this workspace last served" looks (older starts are ties).
SERVED_WINDOW_S = 3600


async def claimable_job_ids(
    session: AsyncSession,
    *,
    now: datetime,
    workspace_max_running: int,
    limit: int,
    min_queued_age_s: float = 0.0,
) -> list[str]:
    """Ids of jobs a worker could claim now, best first.

    Candidates are QUEUED jobs (queued at least ``min_queued_age_s`` ago, so a job whose
    hint is still on its way is left to that hint) and PROCESSING jobs whose lease has
    expired (their worker died). Workspaces already running ``workspace_max_running``
    jobs are skipped. Order: higher workspace priority first; among equals, the
    workspace with fewer running jobs (so one workspace's backlog cannot starve
    another), then the workspace served least recently; then the oldest job.
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
    return list((await session.scalars(query)).all())

"""Reading jobs: one by id (for its workspace's members, or for workers), and listings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read
from hushcut.core.errors import BadUserInput, NotFound
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.services.auth import Actor, require_member

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


async def load_job(session: AsyncSession, job_id: str) -> VideoJob:
    """A job by id with no permission check: for workers and system tasks only."""
    job = await session.get(VideoJob, job_id, populate_existing=True)
    await end_read(session)
    if job is None:
        raise NotFound("job not found")
    return job


async def get_job(session: AsyncSession, actor: Actor, job_id: str) -> VideoJob:
    """The job, if it belongs to a workspace the actor can reach (NotFound otherwise)."""
    job = await session.get(VideoJob, job_id, populate_existing=True)
    if job is None:
        raise NotFound("job not found")
    try:
        await require_member(session, actor, job.workspace_id)
    except NotFound:
        raise NotFound("job not found") from None
    finally:
        await end_read(session)
    return job


@dataclass(frozen=True, slots=True)
class JobPosition:
    """Where a listing stands: the last job seen (listings are newest first).

    Clients see it as an opaque cursor; encoding it is the API's business.
    """

    created_at: datetime
    job_id: str

    @classmethod
    def of(cls, job: VideoJob) -> JobPosition:
        return cls(job.created_at, job.id)


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job listing, newest first."""

    items: list[VideoJob]
    #: The position after the last item (``after`` for the next page), or None if empty.
    end: JobPosition | None
    has_next: bool


async def list_jobs(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    first: int = DEFAULT_PAGE_SIZE,
    after: JobPosition | None = None,
    status: JobStatus | Iterable[JobStatus] | None = None,
) -> JobPage:
    """The workspace's jobs, newest first, after ``after``; at most MAX_PAGE_SIZE a page."""
    await require_member(session, actor, workspace_id)
    if first < 0:
        raise BadUserInput("first must not be negative")
    limit = min(first, MAX_PAGE_SIZE)
    query = select(VideoJob).where(VideoJob.workspace_id == workspace_id)
    if status is not None:
        statuses = [status] if isinstance(status, JobStatus) else list(status)
        query = query.where(VideoJob.status.in_(statuses))
    if after is not None:
        query = query.where(
            or_(
                VideoJob.created_at < after.created_at,
                and_(VideoJob.created_at == after.created_at, VideoJob.id < after.job_id),
            )
        )
    query = (
        query.order_by(VideoJob.created_at.desc(), VideoJob.id.desc())
        .limit(limit + 1)
        .execution_options(populate_existing=True)
    )
    rows = list((await session.scalars(query)).all())
    await end_read(session)
    items = rows[:limit]
    return JobPage(
        items=items,
        end=JobPosition.of(items[-1]) if items else after,
        has_next=len(rows) > limit,
    )

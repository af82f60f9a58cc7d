"""Reading jobs: one by id (for its workspace's members, or for workers), and listings."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read
from hushcut.core.errors import BadUserInput, NotFound
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.services.auth import Actor, require_member
from hushcut.core.services.paging import Page, Position, newest_first

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
    """The job, if it belongs to a workspace the actor can reach and was not deleted
    (NotFound otherwise)."""
    job = await session.get(VideoJob, job_id, populate_existing=True)
    if job is None or job.deleted_at is not None:
        await end_read(session)
        raise NotFound("job not found")
    try:
        await require_member(session, actor, job.workspace_id)
    except NotFound:
        raise NotFound("job not found") from None
    finally:
        await end_read(session)
    return job


class JobPosition(Position):
    """Where a job listing stands: the last job seen (listings are newest first)."""

    __slots__ = ()

    @property
    def job_id(self) -> str:
        return self.id


#: One page of a job listing, newest first.
JobPage = Page[VideoJob]


async def list_jobs(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    first: int = DEFAULT_PAGE_SIZE,
    after: Position | None = None,
    status: JobStatus | Iterable[JobStatus] | None = None,
) -> JobPage:
    """The workspace's jobs (deleted ones left out), newest first, after ``after``; at
    most MAX_PAGE_SIZE a page."""
    await require_member(session, actor, workspace_id)
    if first < 0:
        raise BadUserInput("first must not be negative")
    limit = min(first, MAX_PAGE_SIZE)
    query = select(VideoJob).where(
        VideoJob.workspace_id == workspace_id, VideoJob.deleted_at.is_(None)
    )
    if status is not None:
        statuses = [status] if isinstance(status, JobStatus) else list(status)
        query = query.where(VideoJob.status.in_(statuses))
    return await newest_first(session, query, VideoJob, limit, after)

"""A job's input arriving in parts: the upload recorded on the job, and abandoned ones."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import Conflict
from hushcut.core.models import JobStatus, VideoJob, utcnow
from hushcut.core.services.auth import Actor
from hushcut.core.services.jobs._reading import get_job
from hushcut.core.services.jobs._transitions import Move, transition, update_job

ABANDONED_MESSAGE = "the upload was not finished in time and was given up: upload the file again"


async def record_upload(
    session: AsyncSession, actor: Actor, job_id: str, upload_id: str, part_size: int
) -> VideoJob:
    """Record the storage upload in parts the PENDING job's input arrives by."""
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await update_job(
            session,
            job_id,
            [VideoJob.status == JobStatus.PENDING, VideoJob.upload_id.is_(None)],
            {"upload_id": upload_id, "upload_part_size": part_size},
        )
        if job is None:
            raise Conflict("this job's upload was already started or confirmed")
        return job


async def forget_upload(session: AsyncSession, job_id: str, upload_id: str) -> None:
    """The storage upload ``upload_id`` is gone (aborted or completed): stop naming it."""
    async with transaction(session):
        await update_job(
            session,
            job_id,
            [VideoJob.upload_id == upload_id],
            {"upload_id": None, "upload_part_size": None},
        )


async def stale_uploads(
    session: AsyncSession, *, now: datetime, ttl_s: float, limit: int = 100
) -> list[VideoJob]:
    """Jobs naming an upload in parts that nobody will finish: the job was canceled (or
    ended otherwise) with its upload still open, or it is PENDING and started more than
    ``ttl_s`` seconds ago."""
    rows = await session.scalars(
        select(VideoJob)
        .where(
            VideoJob.upload_id.is_not(None),
            or_(
                VideoJob.status != JobStatus.PENDING,
                VideoJob.created_at <= now - timedelta(seconds=ttl_s),
            ),
        )
        .order_by(VideoJob.created_at)
        .limit(limit)
    )
    found = list(rows.all())
    await end_read(session)
    return found


async def give_up_upload(session: AsyncSession, job_id: str) -> VideoJob | None:
    """Cancel a PENDING job whose upload was abandoned (nothing was charged); None if it
    is no longer PENDING."""
    async with transaction(session):
        return await transition(
            session,
            job_id,
            Move.CANCEL,
            when=[VideoJob.upload_id.is_not(None)],
            values={"error": ABANDONED_MESSAGE, "finished_at": utcnow()},
        )

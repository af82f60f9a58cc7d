"""A job's input arriving in parts (the upload recorded on the job), and giving up an
upload nobody finished, whatever its kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import transaction
from hushcut.core.errors import Conflict
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.services.auth import Actor
from hushcut.core.services.jobs._reading import get_job
from hushcut.core.services.jobs._transitions import Move, transition, update_job

#: The error of a job whose upload (a single PUT or one in parts) was given up.
ABANDONED_MESSAGE = (
    "canceled: the upload was not finished in time, so it was given up and nothing was "
    "charged; upload the file again"
)


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
        await unrecord_upload(session, job_id, upload_id)


async def unrecord_upload(session: AsyncSession, job_id: str, upload_id: str) -> None:
    """:func:`forget_upload` in the caller's transaction."""
    await update_job(
        session,
        job_id,
        [VideoJob.upload_id == upload_id],
        {"upload_id": None, "upload_part_size": None},
    )


async def give_up_upload(session: AsyncSession, job_id: str, now: datetime) -> VideoJob | None:
    """Cancel a PENDING job whose upload was abandoned, in the caller's transaction; None
    if it is no longer PENDING. Nothing was charged, nothing was ever made from it, and
    its upload is gone with it: the caller deletes the input (and aborts the upload in
    parts) before the transaction commits."""
    return await transition(
        session,
        job_id,
        Move.CANCEL,
        when=[VideoJob.status == JobStatus.PENDING],
        values={
            "error": ABANDONED_MESSAGE,
            "finished_at": now,
            "input_deleted_at": now,
            "output_deleted_at": now,
            "upload_id": None,
            "upload_part_size": None,
        },
    )

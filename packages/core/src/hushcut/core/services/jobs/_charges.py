"""A job's credits: one charge per run, refunded at most once (ledger key ``<jobId>:<run>``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.errors import Conflict
from hushcut.core.models import LedgerReason, VideoJob
from hushcut.core.services.credits import move_credits


async def charge(session: AsyncSession, job: VideoJob) -> None:
    """Take one credit for the job's current run (its ``charges`` already counts it)."""
    reference = job.charge_reference
    if reference is None:
        raise ValueError("charge() needs a job whose charges count the run being charged")
    movement = await move_credits(
        session,
        job.workspace_id,
        -1,
        LedgerReason.JOB_CHARGE,
        reference,
        "processing",
        job_id=job.id,
    )
    if not movement.applied:
        raise Conflict("this job run was already charged")


async def refund(session: AsyncSession, job: VideoJob) -> bool:
    """Give back the job's current charge, once. False if never charged or refunded."""
    reference = job.charge_reference
    if reference is None:
        return False
    movement = await move_credits(
        session,
        job.workspace_id,
        1,
        LedgerReason.JOB_REFUND,
        reference,
        "job did not finish",
        job_id=job.id,
    )
    return movement.applied

"""What people do with jobs (create, confirm, cancel, retry) and how workers end them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.capabilities import required_capabilities
from hushcut.core.db import transaction
from hushcut.core.errors import BadUserInput, Conflict, NotFound
from hushcut.core.models import JobRequirement, JobStatus, Membership, VideoJob, new_id, utcnow
from hushcut.core.services.auth import Actor, require_member
from hushcut.core.services.jobs._charges import charge, refund
from hushcut.core.services.jobs._keys import input_key
from hushcut.core.services.jobs._leases import end_run
from hushcut.core.services.jobs._reading import get_job
from hushcut.core.services.jobs._review import (
    AnalysisRecord,
    KeptSegment,
    store_analysis,
    store_timeline,
)
from hushcut.core.services.jobs._transitions import Move, lock_job, refusal, transition

CONTENT_TYPE_PATTERN = re.compile(r"^(video|audio)/[A-Za-z0-9][\w.+-]{0,100}$")


async def create_job(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    options: Mapping[str, Any] | None = None,
    *,
    max_upload_bytes: int | None = None,
) -> VideoJob:
    """A PENDING job waiting for its upload to ``input/<jobId>/<sanitised filename>``.

    The capabilities its options need (see :func:`required_capabilities`) are recorded
    with it, so only a worker offering them claims it.
    """
    await require_member(session, actor, workspace_id)
    if size_bytes <= 0:
        raise BadUserInput("size must be a positive number of bytes")
    if max_upload_bytes is not None and size_bytes > max_upload_bytes:
        raise BadUserInput(
            f"file is {size_bytes} bytes; the largest upload accepted is {max_upload_bytes}"
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not CONTENT_TYPE_PATTERN.match(media_type):
        raise BadUserInput(f"content type must be video/* or audio/*, not {content_type!r}")
    if not filename.strip():
        raise BadUserInput("filename must not be empty")
    try:
        json.dumps(options or {})
    except (TypeError, ValueError) as exc:
        raise BadUserInput(f"options must be JSON: {exc}") from None
    job_id = new_id()
    async with transaction(session):
        # Checked again under a share lock on the membership: a workspace being deleted
        # removes its memberships first, so a job either is created before (and the
        # deletion finds it) or not at all.
        still_member = await session.scalar(
            select(Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.user_id == actor.user_id)
            .with_for_update(read=True)
        )
        if still_member is None:
            raise NotFound("workspace not found")
        job = VideoJob(
            id=job_id,
            workspace_id=workspace_id,
            created_by=actor.user_id,
            status=JobStatus.PENDING,
            options=dict(options or {}),
            filename=filename.strip()[:255],
            content_type=media_type,
            size_bytes=size_bytes,
            input_key=input_key(job_id, filename),
        )
        session.add(job)
        await session.flush()  # the job row first: its requirements refer to it
        session.add_all(
            JobRequirement(job_id=job_id, capability=needed)
            for needed in sorted(required_capabilities(options))
        )
        await session.flush()
        return job


async def confirm_upload(
    session: AsyncSession,
    actor: Actor,
    job_id: str,
    stored_size: int | None,
    *,
    etag: str | None = None,
    review: bool = False,
) -> VideoJob:
    """The upload arrived: charge one credit and queue the job, atomically and once.

    ``stored_size`` and ``etag`` are what storage reports for the job's input (size None
    if there is no object); the ETag is recorded so that a worker can refuse an input
    replaced after this. A second confirmation is a Conflict and charges nothing; an
    empty balance raises InsufficientCredits and the job stays PENDING. With ``review``
    the worker only analyzes the input and the job waits in REVIEW for ``render_job``
    (which the charge taken here pays for).
    """
    job = await get_job(session, actor, job_id)
    if not Move.CONFIRM.allows(job.status):
        raise Conflict(f"job is {job.status.value}: its upload was already confirmed")
    if stored_size is None:
        raise BadUserInput("no upload found for this job: upload the file first")
    if stored_size != job.size_bytes:
        raise BadUserInput(
            f"the uploaded file is {stored_size} bytes but {job.size_bytes} were announced"
        )
    async with transaction(session):
        queued = await transition(
            session,
            job_id,
            Move.CONFIRM,
            values={
                "charges": VideoJob.charges + 1,
                "queued_at": utcnow(),
                "review": review,
                "input_etag": etag,
                "upload_id": None,
                "upload_part_size": None,
            },
        )
        if queued is None:
            raise Conflict("job upload was already confirmed")
        await charge(session, queued)
        return queued


async def retry_job(session: AsyncSession, actor: Actor, job_id: str) -> VideoJob:
    """Queue a FAILED or CANCELED job again, charging one credit for the new run.

    The run repeats what failed: a job with a timeline (an edit queued by
    ``render_job``) renders it again; otherwise the input is analyzed again (and, for a
    job confirmed with review, it waits in REVIEW once more).
    """
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await lock_job(session, job_id)
        if not Move.RETRY.allows(job.status):
            raise refusal(job, Move.RETRY)
        if job.charges == 0:
            raise Conflict("the job's upload was never confirmed; upload the file again")
        if job.input_deleted_at is not None:
            raise Conflict(
                "the job's upload was deleted (uploads are kept for a while after a job "
                "ends); upload the file again"
            )
        queued = await transition(
            session,
            job_id,
            Move.RETRY,
            # The retention sweep marks the input deleted under the same row lock.
            when=[VideoJob.input_deleted_at.is_(None)],
            values={
                "charges": VideoJob.charges + 1,
                "attempts": 0,
                "stage": None,
                "progress": 0.0,
                "error": None,
                "output_key": None,
                "output_duration_s": None,
                "exports": {},
                "lease_owner": None,
                "lease_expires_at": None,
                "queued_at": utcnow(),
                "started_at": None,
                "finished_at": None,
            },
        )
        if queued is None:
            raise refusal(job, Move.RETRY)
        await charge(session, queued)
        return queued


async def cancel_job(session: AsyncSession, actor: Actor, job_id: str) -> VideoJob:
    """Cancel a job that has not finished (REVIEW included); a charged job gets its
    credit back."""
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await lock_job(session, job_id)
        if not Move.CANCEL.allows(job.status):
            raise refusal(job, Move.CANCEL)
        was_charged = job.status is not JobStatus.PENDING
        canceled = await transition(
            session,
            job_id,
            Move.CANCEL,
            values={
                "lease_owner": None,
                "lease_expires_at": None,
                "review_expires_at": None,
                "finished_at": utcnow(),
            },
        )
        if canceled is None:
            raise refusal(job, Move.CANCEL)
        if was_charged:
            await refund(session, canceled)
        return canceled


async def fail_job(
    session: AsyncSession, job_id: str, worker_id: str | None, message: str
) -> VideoJob:
    """Mark the job FAILED with a message a person can act on, refunding its credit once.

    With ``worker_id`` the worker must still hold the job's lease (Conflict otherwise);
    None is for system decisions (the sweeper giving up on a job).
    """
    async with transaction(session):
        job = await lock_job(session, job_id)
        if not Move.FAIL.allows(job.status):
            raise refusal(job, Move.FAIL)
        conditions: list[ColumnElement[bool]] = [VideoJob.status == job.status]
        if worker_id is not None:
            if job.status is not JobStatus.PROCESSING or job.lease_owner != worker_id:
                raise Conflict("this worker no longer holds the job's lease")
            conditions.append(VideoJob.lease_owner == worker_id)
        failed = await transition(
            session,
            job_id,
            Move.FAIL,
            when=conditions,
            values={
                "error": message.strip()[:2000] or "processing failed",
                "lease_owner": None,
                "lease_expires_at": None,
                "finished_at": utcnow(),
            },
        )
        if failed is None:
            raise refusal(job, Move.FAIL)
        await refund(session, failed)
        return failed


async def complete_job(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    output_key: str,
    input_duration_s: float,
    output_duration_s: float,
    *,
    timeline: Sequence[KeptSegment] | None = None,
    analysis: AnalysisRecord | None = None,
    exports: Mapping[str, str] | None = None,
) -> VideoJob:
    """Mark the job COMPLETED; Conflict if the worker lost its lease or it was canceled.

    ``timeline`` is what the output was rendered from, ``analysis`` what this run found
    in the input (None when it rendered a given timeline), ``exports`` the timeline
    exports it stored; each is recorded with the completion.
    """
    async with transaction(session):
        done = await end_run(
            session,
            job_id,
            worker_id,
            Move.COMPLETE,
            {
                "stage": "done",
                "progress": 1.0,
                "output_key": output_key,
                "input_duration_s": input_duration_s,
                "output_duration_s": output_duration_s,
                "exports": dict(exports or {}),
                "error": None,
                "finished_at": utcnow(),
            },
        )
        if analysis is not None:
            await store_analysis(session, job_id, analysis)
        if timeline is not None:
            await store_timeline(session, job_id, timeline)
        return done

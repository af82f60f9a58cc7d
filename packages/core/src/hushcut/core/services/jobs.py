"""Video jobs: the state machine, credit charges and refunds, worker leases, listing.

States: PENDING -> QUEUED -> PROCESSING -> COMPLETED | FAILED, CANCELED from any state
that is not final, FAILED or CANCELED -> QUEUED again through a retry (a new charge).
Every transition is a conditional UPDATE (or happens under a row lock), so concurrent
callers - API instances, workers, the sweeper - cannot move a job twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import BadUserInput, Conflict, NotFound
from hushcut.core.models import (
    FINAL_STATUSES,
    JobStatus,
    LedgerReason,
    VideoJob,
    Workspace,
    new_id,
    utcnow,
)
from hushcut.core.services.auth import Actor, require_member
from hushcut.core.services.credits import move_credits

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_FILENAME_LENGTH = 200
CONTENT_TYPE_PATTERN = re.compile(r"^(video|audio)/[A-Za-z0-9][\w.+-]{0,100}$")

#: Every move a job may make. Anything else is refused with Conflict.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.QUEUED, JobStatus.CANCELED}),
    JobStatus.QUEUED: frozenset({JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.QUEUED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELED: frozenset({JobStatus.QUEUED}),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


def _refuse(job: VideoJob, target: JobStatus) -> Conflict:
    return Conflict(f"job is {job.status.value} and cannot become {target.value}")


# --- creating and reading jobs --------------------------------------------------------


def sanitise_filename(filename: str) -> str:
    """A file name safe in a storage key and a Content-Disposition header.

    Drops any directory part and control characters, keeps letters (any script),
    digits, dot, dash and underscore, and shortens long names keeping the extension.
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", filename))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._-")
    base = re.sub(r"_{2,}", "_", base)
    if len(base) > MAX_FILENAME_LENGTH:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            base = stem[: MAX_FILENAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            base = base[:MAX_FILENAME_LENGTH]
    return base or "upload"


def input_key(job_id: str, filename: str) -> str:
    return f"input/{job_id}/{sanitise_filename(filename)}"


def output_key(job_id: str, filename: str) -> str:
    """Where the worker uploads the result: ``output/<jobId>/<stem>_hushcut.mp4``."""
    stem = sanitise_filename(filename).rsplit(".", 1)[0] or "upload"
    return f"output/{job_id}/{stem}_hushcut.mp4"


async def create_job(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    options: dict[str, Any] | None = None,
    *,
    max_upload_bytes: int | None = None,
) -> VideoJob:
    """A PENDING job waiting for its upload to ``input/<jobId>/<sanitised filename>``."""
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
        await session.flush()
        return job


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
class JobPage:
    """One page of a job listing, newest first, for a GraphQL connection."""

    items: list[VideoJob]
    end_cursor: str | None
    has_next: bool


def encode_cursor(job: VideoJob) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(job_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadUserInput("invalid cursor") from None
    return when, job_id


async def list_jobs(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    first: int = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    status: JobStatus | Iterable[JobStatus] | None = None,
) -> JobPage:
    """The workspace's jobs, newest first; at most MAX_PAGE_SIZE per page."""
    await require_member(session, actor, workspace_id)
    if first < 0:
        raise BadUserInput("first must not be negative")
    limit = min(first, MAX_PAGE_SIZE)
    query = select(VideoJob).where(VideoJob.workspace_id == workspace_id)
    if status is not None:
        statuses = [status] if isinstance(status, JobStatus) else list(status)
        query = query.where(VideoJob.status.in_(statuses))
    if after:
        created, job_id = decode_cursor(after)
        query = query.where(
            or_(
                VideoJob.created_at < created,
                and_(VideoJob.created_at == created, VideoJob.id < job_id),
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
        end_cursor=encode_cursor(items[-1]) if items else after,
        has_next=len(rows) > limit,
    )


# --- charging: confirm, retry ---------------------------------------------------------


async def _conditional_update(
    session: AsyncSession,
    job_id: str,
    conditions: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
) -> VideoJob | None:
    """UPDATE the job WHERE the conditions hold; the updated job, or None if they did not."""
    statement = (
        update(VideoJob)
        .where(VideoJob.id == job_id, *conditions)
        .values(updated_at=utcnow(), **values)
        .returning(VideoJob)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def _lock_job(session: AsyncSession, job_id: str) -> VideoJob:
    job = (
        await session.scalars(
            select(VideoJob)
            .where(VideoJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if job is None:
        raise NotFound("job not found")
    return job


async def confirm_upload(
    session: AsyncSession, actor: Actor, job_id: str, stored_size: int | None
) -> VideoJob:
    """The upload arrived: charge one credit and queue the job, atomically and once.

    ``stored_size`` is the size storage reports for the job's input (None if there is
    no object). A second confirmation is a Conflict and charges nothing; an empty
    balance raises InsufficientCredits and the job stays PENDING.
    """
    job = await get_job(session, actor, job_id)
    if job.status is not JobStatus.PENDING:
        raise Conflict(f"job is {job.status.value}: its upload was already confirmed")
    if stored_size is None:
        raise BadUserInput("no upload found for this job: upload the file first")
    if stored_size != job.size_bytes:
        raise BadUserInput(
            f"the uploaded file is {stored_size} bytes but {job.size_bytes} were announced"
        )
    async with transaction(session):
        now = utcnow()
        queued = await _conditional_update(
            session,
            job_id,
            [VideoJob.status == JobStatus.PENDING],
            {
                "status": JobStatus.QUEUED,
                "charges": VideoJob.charges + 1,
                "queued_at": now,
            },
        )
        if queued is None:
            raise Conflict("job upload was already confirmed")
        await _charge(session, queued)
        return queued


async def _charge(session: AsyncSession, job: VideoJob) -> None:
    reference = job.charge_reference
    assert reference is not None
    movement = await move_credits(
        session, job.workspace_id, -1, LedgerReason.JOB_CHARGE, reference, "processing"
    )
    if not movement.applied:
        raise Conflict("this job run was already charged")


async def _refund(session: AsyncSession, job: VideoJob) -> bool:
    """Give back the job's current charge, once. False if never charged or refunded."""
    reference = job.charge_reference
    if reference is None:
        return False
    movement = await move_credits(
        session, job.workspace_id, 1, LedgerReason.JOB_REFUND, reference, "job did not finish"
    )
    return movement.applied


async def retry_job(session: AsyncSession, actor: Actor, job_id: str) -> VideoJob:
    """Queue a FAILED or CANCELED job again, charging one credit for the new run."""
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await _lock_job(session, job_id)
        if not can_transition(job.status, JobStatus.QUEUED) or job.status not in {
            JobStatus.FAILED,
            JobStatus.CANCELED,
        }:
            raise _refuse(job, JobStatus.QUEUED)
        if job.charges == 0:
            raise Conflict("the job's upload was never confirmed; upload the file again")
        queued = await _conditional_update(
            session,
            job_id,
            [VideoJob.status == job.status],
            {
                "status": JobStatus.QUEUED,
                "charges": VideoJob.charges + 1,
                "attempts": 0,
                "stage": None,
                "progress": 0.0,
                "error": None,
                "output_key": None,
                "output_duration_s": None,
                "lease_owner": None,
                "lease_expires_at": None,
                "queued_at": utcnow(),
                "started_at": None,
                "finished_at": None,
            },
        )
        if queued is None:
            raise _refuse(job, JobStatus.QUEUED)
        await _charge(session, queued)
        return queued


# --- ending a job: cancel, fail, complete ---------------------------------------------


async def cancel_job(session: AsyncSession, actor: Actor, job_id: str) -> VideoJob:
    """Cancel a job that has not finished; a charged job gets its credit back."""
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await _lock_job(session, job_id)
        if not can_transition(job.status, JobStatus.CANCELED):
            raise _refuse(job, JobStatus.CANCELED)
        was_charged = job.status in {JobStatus.QUEUED, JobStatus.PROCESSING}
        canceled = await _conditional_update(
            session,
            job_id,
            [VideoJob.status == job.status],
            {
                "status": JobStatus.CANCELED,
                "lease_owner": None,
                "lease_expires_at": None,
                "finished_at": utcnow(),
            },
        )
        if canceled is None:
            raise _refuse(job, JobStatus.CANCELED)
        if was_charged:
            await _refund(session, canceled)
        return canceled


async def fail_job(
    session: AsyncSession, job_id: str, worker_id: str | None, message: str
) -> VideoJob:
    """Mark the job FAILED with a message a person can act on, refunding its credit once.

    With ``worker_id`` the worker must still hold the job's lease (Conflict otherwise);
    None is for system decisions (the sweeper giving up on a job).
    """
    async with transaction(session):
        job = await _lock_job(session, job_id)
        if not can_transition(job.status, JobStatus.FAILED):
            raise _refuse(job, JobStatus.FAILED)
        conditions: list[ColumnElement[bool]] = [VideoJob.status == job.status]
        if worker_id is not None:
            if job.status is not JobStatus.PROCESSING or job.lease_owner != worker_id:
                raise Conflict("this worker no longer holds the job's lease")
            conditions.append(VideoJob.lease_owner == worker_id)
        failed = await _conditional_update(
            session,
            job_id,
            conditions,
            {
                "status": JobStatus.FAILED,
                "error": message.strip()[:2000] or "processing failed",
                "lease_owner": None,
                "lease_expires_at": None,
                "finished_at": utcnow(),
            },
        )
        if failed is None:
            raise _refuse(job, JobStatus.FAILED)
        await _refund(session, failed)
        return failed


async def complete_job(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    output_key: str,
    input_duration_s: float,
    output_duration_s: float,
) -> VideoJob:
    """Mark the job COMPLETED; Conflict if the worker lost its lease or it was canceled."""
    async with transaction(session):
        done = await _conditional_update(
            session,
            job_id,
            [VideoJob.status == JobStatus.PROCESSING, VideoJob.lease_owner == worker_id],
            {
                "status": JobStatus.COMPLETED,
                "stage": "done",
                "progress": 1.0,
                "output_key": output_key,
                "input_duration_s": input_duration_s,
                "output_duration_s": output_duration_s,
                "error": None,
                "lease_owner": None,
                "lease_expires_at": None,
                "finished_at": utcnow(),
            },
        )
        if done is None:
            job = await load_job(session, job_id)
            if job.status is not JobStatus.PROCESSING:
                raise _refuse(job, JobStatus.COMPLETED)
            raise Conflict("this worker no longer holds the job's lease")
        return done


# --- workers: claims and leases -------------------------------------------------------


def _lease_alive(now: datetime) -> ColumnElement[bool]:
    return and_(VideoJob.lease_expires_at.is_not(None), VideoJob.lease_expires_at > now)


async def claim_job(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    lease_s: float,
    workspace_max_running: int,
    *,
    max_attempts: int | None = None,
) -> VideoJob | None:
    """Take a job for processing: QUEUED (or PROCESSING with an expired lease) -> PROCESSING.

    Returns the job, now leased to ``worker_id`` for ``lease_s`` seconds with attempts
    incremented, or None when it cannot be claimed now: it is gone, in another state,
    leased by a live worker, or its workspace already runs ``workspace_max_running``
    jobs (then it stays QUEUED and find_requeueable_jobs offers it again). A job whose
    lease expired after ``max_attempts`` claims is failed (and refunded) instead.
    """
    async with transaction(session):
        try:
            job = await _lock_job(session, job_id)
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
            failed = await _conditional_update(
                session,
                job_id,
                [VideoJob.status == JobStatus.PROCESSING],
                {
                    "status": JobStatus.FAILED,
                    "error": f"processing stopped unexpectedly {job.attempts} times; "
                    "retry the job, and contact support if it keeps failing",
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "finished_at": now,
                },
            )
            if failed is not None:
                await _refund(session, failed)
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
                _lease_alive(now),
            )
        )
        if (running or 0) >= workspace_max_running:
            return None
        return await _conditional_update(
            session,
            job_id,
            [VideoJob.status == job.status],
            {
                "status": JobStatus.PROCESSING,
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
        renewed = await _conditional_update(
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
        return await _conditional_update(session, job_id, _held_by(worker_id), values)


async def release_job(session: AsyncSession, job_id: str, worker_id: str) -> bool:
    """A worker shutting down gives the job back: PROCESSING -> QUEUED, lease cleared.

    The interrupted attempt does not count against the job. False if not held.
    """
    async with transaction(session):
        released = await _conditional_update(
            session,
            job_id,
            _held_by(worker_id),
            {
                "status": JobStatus.QUEUED,
                "lease_owner": None,
                "lease_expires_at": None,
                "attempts": case((VideoJob.attempts > 0, VideoJob.attempts - 1), else_=0),
                "stage": None,
                "progress": 0.0,
            },
        )
        return released is not None


async def find_requeueable_jobs(
    session: AsyncSession,
    now: datetime | None = None,
    *,
    queued_before: datetime | None = None,
    limit: int = 100,
) -> list[VideoJob]:
    """Jobs a queue should (re)deliver: QUEUED without a live lease, or PROCESSING whose
    lease expired (its worker died). Highest workspace priority first, then oldest.

    ``queued_before`` skips jobs queued more recently, which are probably still in the
    queue; the database is the source of truth when the queue lost messages.
    """
    now = now or utcnow()
    queued = and_(
        VideoJob.status == JobStatus.QUEUED,
        or_(VideoJob.lease_expires_at.is_(None), VideoJob.lease_expires_at <= now),
    )
    if queued_before is not None:
        queued = and_(queued, VideoJob.queued_at <= queued_before)
    stale = and_(
        VideoJob.status == JobStatus.PROCESSING,
        VideoJob.lease_expires_at.is_not(None),
        VideoJob.lease_expires_at <= now,
    )
    query = (
        select(VideoJob)
        .join(Workspace, Workspace.id == VideoJob.workspace_id)
        .where(or_(queued, stale))
        .order_by(Workspace.priority.desc(), VideoJob.queued_at, VideoJob.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    found = list((await session.scalars(query)).all())
    await end_read(session)
    return found


def is_final(status: JobStatus) -> bool:
    return status in FINAL_STATUSES

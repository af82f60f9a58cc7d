"""The job state machine: every move a job may make, and the one function that makes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum, unique
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.errors import Conflict, NotFound
from hushcut.core.models import JobStatus, VideoJob, utcnow

PENDING = JobStatus.PENDING
QUEUED = JobStatus.QUEUED
PROCESSING = JobStatus.PROCESSING
REVIEW = JobStatus.REVIEW
COMPLETED = JobStatus.COMPLETED
FAILED = JobStatus.FAILED
CANCELED = JobStatus.CANCELED


@unique
class Move(Enum):
    """Every move a job may make: (the statuses it may leave, the status it enters).

    Adding a move is one line here and a service that calls :func:`transition` with it;
    nothing else writes a job's status.
    """

    #: The upload arrived and one credit was charged (``confirm_upload``).
    CONFIRM = (frozenset({PENDING}), QUEUED)
    #: A worker takes the job; PROCESSING when the previous worker's lease expired.
    CLAIM = (frozenset({QUEUED, PROCESSING}), PROCESSING)
    #: A stopping worker gives the job back; the attempt does not count.
    RELEASE = (frozenset({PROCESSING}), QUEUED)
    COMPLETE = (frozenset({PROCESSING}), COMPLETED)
    #: A job confirmed with review was analyzed; it waits for ``render_job``.
    ANALYZED = (frozenset({PROCESSING}), REVIEW)
    #: A person renders the reviewed plan or their edit of it (free), or re-edits a
    #: completed job (one more credit).
    RENDER = (frozenset({REVIEW, COMPLETED}), QUEUED)
    #: Processing failed (QUEUED: a system decision before any worker ran it).
    FAIL = (frozenset({QUEUED, PROCESSING}), FAILED)
    #: By a person, or by the system when a review waited too long.
    CANCEL = (frozenset({PENDING, QUEUED, PROCESSING, REVIEW}), CANCELED)
    #: A person runs a finished-unsuccessfully job again, for a new charge.
    RETRY = (frozenset({FAILED, CANCELED}), QUEUED)

    sources: frozenset[JobStatus]
    target: JobStatus

    def __init__(self, sources: frozenset[JobStatus], target: JobStatus) -> None:
        self.sources = sources
        self.target = target

    def allows(self, status: JobStatus) -> bool:
        return status in self.sources


#: Status -> the statuses it may become, derived from :class:`Move`.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    status: frozenset(move.target for move in Move if status in move.sources)
    for status in JobStatus
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


def refusal(job: VideoJob, move: Move) -> Conflict:
    """The Conflict for a move the job's current status does not allow."""
    return Conflict(f"job is {job.status.value} and cannot become {move.target.value}")


async def transition(
    session: AsyncSession,
    job_id: str,
    move: Move,
    *,
    when: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> VideoJob | None:
    """Make ``move``: one conditional UPDATE to its target status, with ``values``.

    It applies only while the job is in one of the move's source statuses and every
    ``when`` condition holds, so concurrent callers cannot move a job twice. Returns the
    updated job, or None when it did not apply (the caller decides what that means).
    Runs inside the caller's transaction.
    """
    values = dict(values or {})
    if "status" in values:
        raise ValueError("a job's status changes only through its Move")
    statement = (
        update(VideoJob)
        .where(VideoJob.id == job_id, VideoJob.status.in_(move.sources), *when)
        .values(status=move.target, updated_at=utcnow(), **values)
        .returning(VideoJob)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def update_job(
    session: AsyncSession,
    job_id: str,
    when: Sequence[ColumnElement[bool]],
    values: Mapping[str, Any],
) -> VideoJob | None:
    """UPDATE fields of the job other than its status WHERE ``when`` holds; None if not."""
    if "status" in values:
        raise ValueError("a job's status changes only through transition()")
    statement = (
        update(VideoJob)
        .where(VideoJob.id == job_id, *when)
        .values(updated_at=utcnow(), **values)
        .returning(VideoJob)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def lock_job(session: AsyncSession, job_id: str) -> VideoJob:
    """The job, its row locked until the transaction ends (NotFound if there is none)."""
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

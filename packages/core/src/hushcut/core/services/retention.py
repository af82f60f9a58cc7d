"""How long media is kept, and the sweeps that delete it when its time is up.

* A job's **input** is kept ``INPUT_RETENTION_HOURS`` after the job reaches a final
  state (so it can be retried); a job in review is not final and keeps it.
* Its **output** (and derived objects) ``OUTPUT_RETENTION_DAYS`` after it completed:
  :meth:`RetentionPolicy.output_expires_at` is what ``Job.expiresAt`` shows.
* A PENDING job whose upload was never finished is canceled (nothing was charged), and
  its object or unfinished upload removed: an hour after its upload URL expired for a
  single PUT, ``MULTIPART_UPLOAD_TTL_S`` after it started for an upload in parts.
* **Purges** (:class:`~hushcut.core.models.StoragePurge`) delete what a deleted job or
  workspace left in storage, at once and again later for late writers.

Every sweep takes ``now`` (the scheduler's clock), works job by job, each in its own
transaction that locks the row (``SKIP LOCKED``: two sweeps at once never take the same
job) and re-checks it, deletes the objects, then marks the job. It is idempotent: a
sweep that dies between deleting and marking deletes the same (absent) objects again.
A job storage fails on is left as it was for the next run and the run goes on (pages
follow a cursor, so it is not tried twice in a run); the run then fails, to be seen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import StorageUnavailable
from hushcut.core.events import publish_changes
from hushcut.core.metrics import DELETED_OBJECTS, DELETIONS
from hushcut.core.models import (
    FINAL_STATUSES,
    JobStatus,
    StoragePurge,
    VideoJob,
    new_id,
)
from hushcut.core.services.jobs import (
    derived_prefix,
    give_up_upload,
    input_prefix,
    output_prefix,
    unrecord_upload,
)
from hushcut.core.services.jobs._transitions import update_job
from hushcut.core.storage import Storage

if TYPE_CHECKING:
    from hushcut.core.events import JobEventBus
    from hushcut.core.settings import Settings

log = logging.getLogger(__name__)

#: A PENDING job is canceled this long after its upload URL expired.
ABANDONED_UPLOAD_GRACE = timedelta(hours=1)
#: Jobs handled per query of a sweep; a run goes on until nothing is left.
SWEEP_BATCH = 100
#: Storage failures in a row after which a run stops: storage is down, not one object.
OUTAGE_AFTER = 3


class Retained(Protocol):
    """What retention looks at in a job (a model row, or the API's view of one)."""

    @property
    def status(self) -> JobStatus: ...

    @property
    def finished_at(self) -> datetime | None: ...

    @property
    def input_deleted_at(self) -> datetime | None: ...

    @property
    def output_deleted_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of object is kept; built from the settings."""

    input_retention: timedelta
    output_retention: timedelta
    upload_url_ttl: timedelta
    multipart_upload_ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            input_retention=timedelta(hours=settings.input_retention_hours),
            output_retention=timedelta(days=settings.output_retention_days),
            upload_url_ttl=timedelta(seconds=settings.upload_url_ttl_s),
            multipart_upload_ttl=timedelta(seconds=settings.multipart_upload_ttl_s),
        )

    def input_expires_at(self, job: Retained) -> datetime | None:
        """When the job's upload goes: None while the job is not final (or in review)."""
        if job.status not in FINAL_STATUSES or job.finished_at is None:
            return None
        return job.finished_at + self.input_retention

    def output_expires_at(self, job: Retained) -> datetime | None:
        """When the job's result goes (``Job.expiresAt``); None if it has none."""
        if job.status is not JobStatus.COMPLETED or job.finished_at is None:
            return None
        return job.finished_at + self.output_retention

    def output_expired(self, job: Retained, now: datetime) -> bool:
        """Whether the result is gone, or due to go (the sweep may not have run yet)."""
        if job.output_deleted_at is not None:
            return True
        expires = self.output_expires_at(job)
        return expires is not None and now >= expires

    def input_expired(self, job: Retained, now: datetime) -> bool:
        if job.input_deleted_at is not None:
            return True
        expires = self.input_expires_at(job)
        return expires is not None and now >= expires

    def abandoned_before(self, now: datetime) -> datetime:
        """PENDING jobs uploading by a single PUT created before this are abandoned."""
        return now - self.upload_url_ttl - ABANDONED_UPLOAD_GRACE

    def parts_abandoned_before(self, now: datetime) -> datetime:
        """PENDING jobs uploading in parts created before this are abandoned (their part
        URLs are signed again on demand, so the URL lifetime says nothing)."""
        return now - self.multipart_upload_ttl


@dataclass(slots=True)
class SweepReport:
    """What one run of a sweep did."""

    sweep: str
    #: Jobs (or purges) handled.
    handled: int = 0
    #: Storage objects and unfinished uploads removed.
    objects: int = 0
    #: Jobs a sweep canceled (subscribers were told).
    canceled: list[str] = field(default_factory=list)


async def _delete(storage: Storage, prefixes: Sequence[str], reason: str) -> int:
    removed = 0
    for prefix in prefixes:
        removed += await storage.delete_prefix(prefix)
    if removed:
        DELETED_OBJECTS.labels(reason=reason).inc(removed)
    return removed


async def _each_job(
    session: AsyncSession,
    report: SweepReport,
    due: Sequence[ColumnElement[bool]],
    handle: Callable[[VideoJob], Awaitable[int]],
    failed: list[StorageUnavailable],
) -> SweepReport:
    """Run ``handle`` on every job matching ``due``, one locked transaction per job.

    The row is locked with SKIP LOCKED and ``due`` checked again under the lock, so a
    job another sweep (or a person's retry) holds or has changed is left alone. A job
    whose storage call fails is rolled back (left for the next run) and its error added
    to ``failed``; the run goes on past it, and stops after ``OUTAGE_AFTER`` in a row.
    """
    last = ""
    in_a_row = 0
    while True:
        ids = list(
            (
                await session.scalars(
                    select(VideoJob.id)
                    .where(VideoJob.id > last, *due)
                    .order_by(VideoJob.id)
                    .limit(SWEEP_BATCH)
                )
            ).all()
        )
        await end_read(session)
        if not ids:
            return report
        last = ids[-1]
        for job_id in ids:
            handled = (report.handled, report.objects, len(report.canceled))
            try:
                async with transaction(session):
                    job = (
                        await session.scalars(
                            select(VideoJob)
                            .where(VideoJob.id == job_id, *due)
                            .with_for_update(skip_locked=True)
                            .execution_options(populate_existing=True)
                        )
                    ).one_or_none()
                    if job is None:
                        continue
                    report.objects += await handle(job)
                    report.handled += 1
            except BaseException as exc:
                # Rolled back: what the report says of this job did not happen.
                report.handled, report.objects = handled[:2]
                del report.canceled[handled[2] :]
                if not isinstance(exc, StorageUnavailable):
                    raise
                log.warning("job %s: left for the next %s run: %s", job_id, report.sweep, exc)
                failed.append(exc)
                in_a_row += 1
                if in_a_row >= OUTAGE_AFTER:
                    raise
            else:
                in_a_row = 0


def _raise_first(failed: Sequence[StorageUnavailable]) -> None:
    """Fail the run (it shows in the sweep's metrics) if storage failed on some job."""
    if failed:
        raise StorageUnavailable(
            f"{len(failed)} job(s) left for the next run; the first: {failed[0]}"
        ) from failed[0]


async def sweep_inputs(
    session: AsyncSession, storage: Storage, policy: RetentionPolicy, now: datetime
) -> SweepReport:
    """Delete the uploads of jobs that ended more than the input retention ago."""
    report = SweepReport("inputs")
    failed: list[StorageUnavailable] = []

    async def handle(job: VideoJob) -> int:
        removed = await _delete(storage, [input_prefix(job.id)], "input_expired")
        await update_job(session, job.id, [], {"input_deleted_at": now})
        DELETIONS.labels(kind="input_expired").inc()
        log.info(
            "job %s: upload deleted (%d objects), kept %s after the job ended",
            job.id,
            removed,
            policy.input_retention,
        )
        return removed

    await _each_job(
        session,
        report,
        [
            VideoJob.input_deleted_at.is_(None),
            VideoJob.status.in_(FINAL_STATUSES),
            VideoJob.finished_at <= now - policy.input_retention,
        ],
        handle,
        failed,
    )
    _raise_first(failed)
    return report


async def sweep_outputs(
    session: AsyncSession, storage: Storage, policy: RetentionPolicy, now: datetime
) -> SweepReport:
    """Delete the results (and derived objects) of jobs past the output retention."""
    report = SweepReport("outputs")
    failed: list[StorageUnavailable] = []

    async def handle(job: VideoJob) -> int:
        prefixes = [output_prefix(job.id), derived_prefix(job.id)]
        removed = await _delete(storage, prefixes, "output_expired")
        await update_job(session, job.id, [], {"output_deleted_at": now})
        DELETIONS.labels(kind="output_expired").inc()
        log.info(
            "job %s: result deleted (%d objects), kept %s after the job ended",
            job.id,
            removed,
            policy.output_retention,
        )
        return removed

    await _each_job(
        session,
        report,
        [
            VideoJob.output_deleted_at.is_(None),
            VideoJob.status.in_(FINAL_STATUSES),
            VideoJob.finished_at <= now - policy.output_retention,
        ],
        handle,
        failed,
    )
    _raise_first(failed)
    return report


async def sweep_abandoned_uploads(
    session: AsyncSession,
    storage: Storage,
    policy: RetentionPolicy,
    now: datetime,
    events: JobEventBus,
) -> SweepReport:
    """Give up the uploads nobody will finish, whatever their kind, in one run.

    A PENDING job is canceled by :func:`~hushcut.core.services.jobs.give_up_upload`
    (never charged, so nothing is refunded) and its input removed, object or unfinished
    upload: a single PUT an hour after its URL expired, an upload in parts
    ``MULTIPART_UPLOAD_TTL_S`` after it started. A job that ended otherwise with its upload
    in parts still open (canceled while storage was away) has that upload aborted. Found
    from the job records, not from storage's own listing (whose start times not every
    S3-compatible service reports truly). Every cancel is published once, here; a job
    storage fails on keeps its upload (still recorded) for the next run.
    """
    report = SweepReport("abandoned_uploads")
    failed: list[StorageUnavailable] = []
    #: The jobs canceled, as the cancel left them (those rolled back leave the report).
    given_up: dict[str, VideoJob] = {}

    async def handle(job: VideoJob) -> int:
        # Read first: the cancel refreshes ``job``.
        pending, key, upload_id = job.status is JobStatus.PENDING, job.input_key, job.upload_id
        removed = 0
        if pending:
            canceled = await give_up_upload(session, job.id, now)
            if canceled is None:
                return 0
            given_up[job.id] = canceled
            removed = await _delete(storage, [input_prefix(job.id)], "upload_abandoned")
        if upload_id is not None:
            # Nothing happens if it went with the input just now.
            await storage.abort_multipart_upload(key, upload_id)
            if not pending:  # a canceled job forgot it with the cancel
                await unrecord_upload(session, job.id, upload_id)
        if pending:
            DELETIONS.labels(kind="upload_abandoned").inc()
            report.canceled.append(job.id)
            log.info("job %s: upload given up; canceled, %d objects removed", job.id, removed)
        else:
            log.info("job %s (%s): its upload in parts aborted", job.id, job.status.value)
        return removed

    try:
        # Single PUTs, then uploads in parts (their own time limit; the job ended or not).
        for due in (
            [
                VideoJob.status == JobStatus.PENDING,
                VideoJob.upload_id.is_(None),
                VideoJob.created_at <= policy.abandoned_before(now),
            ],
            [
                VideoJob.upload_id.is_not(None),
                or_(
                    VideoJob.status != JobStatus.PENDING,
                    VideoJob.created_at <= policy.parts_abandoned_before(now),
                ),
            ],
        ):
            await _each_job(session, report, due, handle, failed)
    finally:
        await publish_changes(events, [given_up[job_id] for job_id in report.canceled], "cancel")
    _raise_first(failed)
    return report


# --- purges ---------------------------------------------------------------------------


def purge(prefix: str, not_before: datetime, reason: str) -> StoragePurge:
    """A purge row to add in the transaction that deletes what owns ``prefix``."""
    if not prefix.endswith("/"):
        raise ValueError(f"a purge deletes a whole directory-like prefix, not {prefix!r}")
    return StoragePurge(id=new_id(), prefix=prefix, not_before=not_before, reason=reason)


async def run_purges(
    session: AsyncSession,
    storage: Storage,
    now: datetime,
    ids: Sequence[str] | None = None,
) -> SweepReport:
    """Carry out the purges that are due (only ``ids`` when given), each exactly once.

    Called right after a deletion commits (``ids``: what it just queued) and by the
    scheduler for everything due. A purge whose storage call fails stays queued.
    """
    report = SweepReport("purges")
    last = ""
    while True:
        query = select(StoragePurge.id).where(
            StoragePurge.id > last, StoragePurge.not_before <= now
        )
        if ids is not None:
            query = query.where(StoragePurge.id.in_(list(ids)))
        batch = list(
            (await session.scalars(query.order_by(StoragePurge.id).limit(SWEEP_BATCH))).all()
        )
        await end_read(session)
        if not batch:
            return report
        last = batch[-1]
        for purge_id in batch:
            async with transaction(session):
                row = (
                    await session.scalars(
                        select(StoragePurge)
                        .where(StoragePurge.id == purge_id)
                        .with_for_update(skip_locked=True)
                    )
                ).one_or_none()
                if row is None:
                    continue
                removed = await _delete(storage, [row.prefix], row.reason)
                await session.execute(delete(StoragePurge).where(StoragePurge.id == purge_id))
                if removed:
                    log.info("purge %s (%s): %d objects removed", row.prefix, row.reason, removed)
                report.handled += 1
                report.objects += removed

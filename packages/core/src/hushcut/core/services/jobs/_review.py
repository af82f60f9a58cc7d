"""Review before render: a job's analysis, the segments it renders, renders from review and
re-edits of completed jobs, and the expiry of reviews nobody finished.

A job confirmed with review is analyzed by a worker (:func:`record_analysis`: PROCESSING
-> REVIEW) and waits. :func:`render_job` queues it again with the planned segments or a
person's edit of them (REVIEW -> QUEUED, free; COMPLETED -> QUEUED is a re-edit, one more
credit); the worker then renders exactly those segments, with no second detection. A
review left longer than its deadline is canceled and refunded by :func:`expire_reviews`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.capabilities import required_capabilities
from hushcut.core.db import end_read, transaction
from hushcut.core.errors import BadUserInput, Conflict, ServiceError
from hushcut.core.models import (
    JobAnalysis,
    JobRequirement,
    JobStatus,
    JobTimeline,
    Membership,
    VideoJob,
    utcnow,
)
from hushcut.core.services.auth import Actor
from hushcut.core.services.jobs._charges import charge, refund
from hushcut.core.services.jobs._leases import end_run
from hushcut.core.services.jobs._reading import get_job
from hushcut.core.services.jobs._transitions import Move, lock_job, refusal, transition
from hushcut.core.storage import Storage

log = logging.getLogger(__name__)

#: Most segments one render may keep.
MAX_SEGMENTS = 10_000
#: Speeds a kept segment may play at (a slower one would make the output 4x the input).
MIN_SPEED = 0.25
MAX_SPEED = 100.0
#: A segment may end this far past the analyzed duration (float rounding in clients).
END_TOLERANCE_S = 0.001
#: Exporter names whose files every analyzed or rendered job gets, when its worker has
#: the exporter (``json`` is built in; the others come from the OTIO plugin).
EXPORT_FORMATS = ("json", "fcpxml", "fcp7", "edl", "otio")


@dataclass(frozen=True, slots=True)
class KeptSegment:
    """A stretch of the input kept in the output, in seconds, played at ``speed``."""

    start: float
    end: float
    speed: float = 1.0

    def to_json(self) -> list[float]:
        return [self.start, self.end, self.speed]

    @classmethod
    def from_json(cls, raw: Sequence[float]) -> KeptSegment:
        start, end, *rest = raw
        return cls(float(start), float(end), float(rest[0]) if rest else 1.0)


def segments_from_json(raw: Iterable[Sequence[float]]) -> list[KeptSegment]:
    return [KeptSegment.from_json(item) for item in raw]


def check_segments(segments: Sequence[KeptSegment], duration_s: float) -> list[KeptSegment]:
    """``segments`` if they can be rendered from an input of ``duration_s`` seconds:
    at least one and at most MAX_SEGMENTS, in order, not overlapping, inside the input,
    at a speed within [MIN_SPEED, MAX_SPEED]; BadUserInput naming the first that is not."""
    if not segments:
        raise BadUserInput("segments keep nothing: send at least one, or null for the plan")
    if len(segments) > MAX_SEGMENTS:
        raise BadUserInput(f"at most {MAX_SEGMENTS} segments, not {len(segments)}")
    previous_end = 0.0
    for number, segment in enumerate(segments, start=1):
        where = f"segment {number} ({segment.start:g}-{segment.end:g} s)"
        if not all(math.isfinite(v) for v in (segment.start, segment.end, segment.speed)):
            raise BadUserInput(f"{where} has a value that is not a finite number")
        if segment.start < 0:
            raise BadUserInput(f"{where} starts before the input")
        if segment.end <= segment.start:
            raise BadUserInput(f"{where} must end after it starts")
        if segment.start < previous_end:
            raise BadUserInput(
                f"{where} overlaps or precedes segment {number - 1}: "
                "segments must be in order and must not overlap"
            )
        if segment.end > duration_s + END_TOLERANCE_S:
            raise BadUserInput(f"{where} ends after the input ({duration_s:.3f} s)")
        if not MIN_SPEED <= segment.speed <= MAX_SPEED:
            raise BadUserInput(
                f"{where} has speed {segment.speed:g}: use {MIN_SPEED:g} to {MAX_SPEED:g}"
            )
        previous_end = segment.end
    return list(segments)


@dataclass(frozen=True)
class AnalysisRecord:
    """What a worker found in a job's input, as it records it."""

    duration_s: float
    detector: str
    threshold_db: float | None
    noise_floor_db: float | None
    speech_db: float | None
    silences: list[tuple[float, float]]
    #: The planned keep list.
    segments: list[KeptSegment]
    #: Where the waveform peaks JSON was stored.
    peaks_key: str


async def store_analysis(session: AsyncSession, job_id: str, analysis: AnalysisRecord) -> None:
    """Record the job's analysis, replacing an earlier one; inside the caller's transaction."""
    await session.execute(delete(JobAnalysis).where(JobAnalysis.job_id == job_id))
    session.add(
        JobAnalysis(
            job_id=job_id,
            duration_s=analysis.duration_s,
            detector=analysis.detector[:200],
            threshold_db=analysis.threshold_db,
            noise_floor_db=analysis.noise_floor_db,
            speech_db=analysis.speech_db,
            silences=[[start, end] for start, end in analysis.silences],
            segments=[segment.to_json() for segment in analysis.segments],
            peaks_key=analysis.peaks_key,
        )
    )
    await session.flush()


async def store_timeline(
    session: AsyncSession, job_id: str, segments: Sequence[KeptSegment]
) -> None:
    """Record the segments the job renders, replacing earlier ones (caller's transaction)."""
    await session.execute(delete(JobTimeline).where(JobTimeline.job_id == job_id))
    session.add(JobTimeline(job_id=job_id, segments=[segment.to_json() for segment in segments]))
    await session.flush()


async def record_analysis(
    session: AsyncSession,
    job_id: str,
    worker_id: str,
    analysis: AnalysisRecord,
    exports: Mapping[str, str],
    review_ttl: timedelta,
) -> VideoJob:
    """A job confirmed with review was analyzed: PROCESSING -> REVIEW, with its analysis
    and exports, waiting for ``render_job`` until ``review_ttl`` from now.

    Conflict if the worker lost its lease or the job was canceled meanwhile.
    """
    async with transaction(session):
        reviewed = await end_run(
            session,
            job_id,
            worker_id,
            Move.ANALYZED,
            {
                "stage": "review",
                "progress": 1.0,
                "input_duration_s": analysis.duration_s,
                "exports": dict(exports),
                "review_expires_at": utcnow() + review_ttl,
                "error": None,
            },
        )
        await store_analysis(session, job_id, analysis)
        return reviewed


async def render_job(
    session: AsyncSession,
    actor: Actor,
    job_id: str,
    segments: Sequence[KeptSegment] | None,
    options: Mapping[str, Any] | None,
    *,
    input_kept: bool,
) -> VideoJob:
    """Queue the job to render ``segments`` (None: the plan as analyzed), no detection.

    From REVIEW it is free (the confirmation paid for it); from COMPLETED it is a
    re-edit, charged one credit for the new run (InsufficientCredits leaves the job
    COMPLETED). ``options``, when given, replace the job's options (already accepted by
    the options port) and its requirements, so it goes to a worker that can render them.
    ``input_kept`` says whether storage still holds the job's input (Conflict if not).
    """
    await get_job(session, actor, job_id)
    async with transaction(session):
        job = await lock_job(session, job_id)
        if not Move.RENDER.allows(job.status):
            raise refusal(job, Move.RENDER)
        if not input_kept:
            raise Conflict("the job's input is no longer stored: upload the file again")
        analysis = await session.get(JobAnalysis, job_id, populate_existing=True)
        rendered = await session.get(JobTimeline, job_id, populate_existing=True)
        if segments is None:
            planned = analysis.segments if analysis is not None else None
            if planned is None and rendered is not None:
                planned = rendered.segments
            if planned is None:
                raise Conflict("the job has no analysis to render from")
            kept = segments_from_json(planned)
        else:
            duration = analysis.duration_s if analysis is not None else job.input_duration_s
            if duration is None:
                raise Conflict("the job has no analysis to check the segments against")
            kept = check_segments(segments, duration)
        re_edit = job.status is JobStatus.COMPLETED
        values: dict[str, Any] = {
            "attempts": 0,
            "stage": None,
            "progress": 0.0,
            "error": None,
            "output_key": None,
            "output_duration_s": None,
            "exports": {},
            "review_expires_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "queued_at": utcnow(),
            "started_at": None,
            "finished_at": None,
        }
        if re_edit:
            values["charges"] = VideoJob.charges + 1
        if options is not None:
            values["options"] = dict(options)
        queued = await transition(
            session, job_id, Move.RENDER, when=[VideoJob.status == job.status], values=values
        )
        if queued is None:
            raise refusal(job, Move.RENDER)
        if options is not None:
            await session.execute(delete(JobRequirement).where(JobRequirement.job_id == job_id))
            session.add_all(
                JobRequirement(job_id=job_id, capability=needed)
                for needed in sorted(required_capabilities(options))
            )
        await store_timeline(session, job_id, kept)
        if re_edit:
            await charge(session, queued)
        return queued


REVIEW_EXPIRED_MESSAGE = (
    "the review was not finished in time: the job was canceled and its credit refunded"
)


async def expire_reviews(
    session: AsyncSession, storage: Storage, *, now: datetime | None = None, limit: int = 100
) -> list[VideoJob]:
    """Cancel and refund jobs left in REVIEW past their deadline, and delete their inputs.

    Idempotent and safe to run in several processes at once: each job is canceled by
    one conditional UPDATE that applies only while it is still REVIEW and expired, and
    only the caller whose UPDATE applied refunds it (the ledger key would refuse a
    second refund anyway) and deletes its input. Returns the jobs this call canceled
    (at most ``limit``), for their events. An input whose deletion fails is left to the
    retention sweeps; the job stays canceled and refunded.
    """
    now = now or utcnow()
    candidates = list(
        (
            await session.scalars(
                select(VideoJob.id)
                .where(VideoJob.status == JobStatus.REVIEW, VideoJob.review_expires_at <= now)
                .order_by(VideoJob.review_expires_at)
                .limit(limit)
            )
        ).all()
    )
    await end_read(session)
    expired: list[VideoJob] = []
    for job_id in candidates:
        async with transaction(session):
            canceled = await transition(
                session,
                job_id,
                Move.CANCEL,
                when=[VideoJob.status == JobStatus.REVIEW, VideoJob.review_expires_at <= now],
                values={
                    "error": REVIEW_EXPIRED_MESSAGE,
                    "review_expires_at": None,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "finished_at": now,
                },
            )
            if canceled is None:
                continue  # rendered, canceled or expired by someone else meanwhile
            await refund(session, canceled)
        expired.append(canceled)
        try:
            await storage.delete(canceled.input_key)
        except ServiceError as exc:
            log.warning("job %s: review expired but its input stays for now: %s", job_id, exc)
        log.info("job %s: review expired; canceled, refunded, input deleted", job_id)
    return expired


# --- reads -------------------------------------------------------------------------------


def _reachable_jobs(actor: Actor, job_ids: Iterable[str]) -> Any:
    """Ids among ``job_ids`` of jobs in workspaces the actor reaches (a subquery)."""
    query = (
        select(VideoJob.id)
        .join(
            Membership,
            (Membership.workspace_id == VideoJob.workspace_id)
            & (Membership.user_id == actor.user_id),
        )
        .where(VideoJob.id.in_(list(dict.fromkeys(job_ids))))
    )
    if actor.workspace_id is not None:
        query = query.where(VideoJob.workspace_id == actor.workspace_id)
    return query


async def analyses_by_job(
    session: AsyncSession, actor: Actor, job_ids: Iterable[str]
) -> dict[str, JobAnalysis]:
    """The analysis of each of ``job_ids`` the actor reaches and that has one, in one query."""
    rows = await session.scalars(
        select(JobAnalysis)
        .where(JobAnalysis.job_id.in_(_reachable_jobs(actor, job_ids)))
        .execution_options(populate_existing=True)
    )
    found = {row.job_id: row for row in rows.all()}
    await end_read(session)
    return found


async def timelines_by_job(
    session: AsyncSession, actor: Actor, job_ids: Iterable[str]
) -> dict[str, list[KeptSegment]]:
    """The segments each of ``job_ids`` the actor reaches renders (or rendered), in one query."""
    rows = await session.execute(
        select(JobTimeline.job_id, JobTimeline.segments).where(
            JobTimeline.job_id.in_(_reachable_jobs(actor, job_ids))
        )
    )
    found = {job_id: segments_from_json(segments) for job_id, segments in rows.all()}
    await end_read(session)
    return found


async def load_timeline(session: AsyncSession, job_id: str) -> list[KeptSegment] | None:
    """The segments a job renders, for its worker (no permission check); None if unset."""
    segments = await session.scalar(
        select(JobTimeline.segments).where(JobTimeline.job_id == job_id)
    )
    await end_read(session)
    return None if segments is None else segments_from_json(segments)

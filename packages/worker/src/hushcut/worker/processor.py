"""Processing one job end to end: claim, download, analyze, render, upload, complete, notify
— crash-safely.

What a run does depends on the job: a job with a timeline (queued by ``render_job``, or
retried after one) renders exactly that timeline, with no detection; any other job is
analyzed (detection, plan and waveform peaks in one decode) and then, unless it was
confirmed with review, rendered from the plan. Analyses and renders also store the
timeline's exports (JSON, and the editor formats the worker's exporters write).

The database is the truth. A worker runs a job only while it holds the job's lease
(``claim_job`` sets it atomically, a heartbeat renews it); the moment a renewal fails —
the job was canceled, or the lease expired and another worker reclaimed it — the
pipeline is stopped through its progress callback and nothing more is written. Every
side effect is idempotent per job: the charge and refund go through the ledger with
unique references, the completion email carries an idempotency key, and the output key
is fixed per job, so a job that runs again after a crash never charges, emails or
uploads twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hushcut.core.errors import Conflict, NotFound, ServiceError, StorageUnavailable
from hushcut.core.events import JobEvent
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.services import emails
from hushcut.core.services import jobs as job_service
from hushcut.core.services.jobs import AnalysisRecord, KeptSegment
from hushcut.pipeline import (
    Analysis,
    CanceledError,
    CutResult,
    MediaError,
    MediaInfo,
    OptionsError,
    PipelineError,
    ProgressCallback,
    Segment,
    Timeline,
)
from hushcut.worker import metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Shortest time between two progress writes/events of one job.
PROGRESS_INTERVAL_S = 0.25
#: The lease heartbeat never waits longer than this, so a cancel stops a job within it.
MAX_HEARTBEAT_S = 2.0
#: First pause before retrying a transient error; doubled each time.
RETRY_BASE_DELAY_S = 1.0
#: Longest pause between two tries while storage is away.
MAX_STORAGE_RETRY_DELAY_S = 15.0

#: Share of the job's progress bar the pipeline covers (download before, upload after).
PIPELINE_START = 0.05
PIPELINE_SHARE = 0.9
#: Of that share, what the analysis covers in a run that also renders.
ANALYSIS_SHARE = 0.2

STORAGE_MESSAGE = "storage unavailable, retry later"
INPUT_MISSING_MESSAGE = "the uploaded file is no longer in storage; upload it again"
INPUT_REPLACED_MESSAGE = (
    "the uploaded file was replaced after its upload was confirmed; upload it again as a new job"
)
INTERNAL_MESSAGE = "processing failed because of an internal error; retry the job"


class Cutter(Protocol):
    """How the worker renders: ``hushcut.pipeline.cut`` with its plugins bound. The
    worker always passes the ``timeline`` to render (it analyzed the input first, or a
    person edited the segments), so nothing is detected twice."""

    def __call__(
        self,
        source: Path,
        target: Path,
        options: Mapping[str, Any],
        *,
        progress: ProgressCallback,
        timeline: Timeline | None = None,
    ) -> CutResult: ...


class Analyzer(Protocol):
    """How the worker analyzes: ``hushcut.pipeline.analyze`` with its plugins bound."""

    def __call__(
        self, source: Path, options: Mapping[str, Any], *, progress: ProgressCallback
    ) -> Analysis: ...


class TimelineExporter(Protocol):
    """``hushcut.pipeline.export_timeline`` with its plugins bound: the file's bytes."""

    def __call__(
        self, timeline: Timeline, exporter: str, media: MediaInfo, options: Mapping[str, Any]
    ) -> bytes: ...


class MediaProber(Protocol):
    """``hushcut.pipeline.probe``: what the input holds (its duration, a render's exports)."""

    def __call__(
        self, path: Path, *, keyframes: bool = ..., audio_track: int | None = ...
    ) -> MediaInfo: ...


@dataclass(frozen=True)
class ExportFormat:
    """An exporter this worker has: the file it writes."""

    name: str
    extension: str
    media_type: str


@dataclass(frozen=True)
class JobPipeline:
    """The pipeline steps a worker runs for jobs, its plugins bound to each.

    ``exports`` are the exporters whose files every analyzed or rendered job gets.
    """

    cut: Cutter
    analyze: Analyzer
    export: TimelineExporter
    probe: MediaProber
    exports: tuple[ExportFormat, ...] = ()


class InputMissing(Exception):
    """The job's upload is no longer in storage."""


class AbortJob(Exception):
    """Raised in the worker to stop a job it must no longer run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _RunningJob:
    """Book-keeping of one job this worker is running."""

    job_id: str
    #: Set (with a reason) to stop the pipeline at its next progress report.
    abort: threading.Event = field(default_factory=threading.Event)
    abort_reason: str = ""
    #: What a cancel must remove from storage: the keys this run writes (a render keeps
    #: the analysis it renders from), or None for everything under the job's output.
    writes: list[str] | None = None
    started: float = field(default_factory=time.monotonic)
    #: The processing time the job may take (from its input's duration), once known.
    budget_s: float | None = None
    #: Time spent waiting for storage to come back, which the budget does not count.
    paused_s: float = 0.0
    over_budget: bool = False

    def stop(self, reason: str) -> None:
        if not self.abort.is_set():
            self.abort_reason = reason
            self.abort.set()

    def check_budget(self) -> None:
        """Stop the job if it ran past its time budget."""
        if self.budget_s is None or self.over_budget:
            return
        if time.monotonic() - self.started - self.paused_s > self.budget_s:
            self.over_budget = True
            self.stop("over its time budget")


class JobProcessor:
    """Runs jobs for one worker process: at most ``concurrency`` at a time.

    ``runtime`` is a started core :class:`~hushcut.core.runtime.Runtime`. ``pipeline``
    holds the steps it runs. ``offered`` are the capabilities this worker offers (see
    :mod:`hushcut.core.capabilities`): it claims only jobs needing nothing else (None:
    any job).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        worker_id: str,
        pipeline: JobPipeline,
        concurrency: int,
        offered: Collection[str] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.worker_id = worker_id
        self.pipeline = pipeline
        self.concurrency = concurrency
        self.offered = None if offered is None else frozenset(offered)
        self.lease_s = float(self.settings.job_lease_s)
        self.heartbeat_s = min(self.lease_s / 3, MAX_HEARTBEAT_S)
        self.draining = False
        #: False once storage failed, until it answers again: no new job is claimed
        #: meanwhile (queued jobs wait rather than fail).
        self.storage_answers = True
        self._running: dict[str, _RunningJob] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # --- capacity ------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def free_slots(self) -> int:
        return 0 if self.draining else max(0, self.concurrency - self.running)

    def drain(self) -> None:
        """Take no new job; running ones finish (see :meth:`release_all`)."""
        self.draining = True

    def release_all(self, reason: str = "worker shutting down") -> None:
        """Stop every running job; each is handed back to the queue (``release_job``)."""
        for running in self._running.values():
            running.stop(reason)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs here; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- entry point ---------------------------------------------------------------------
    async def handle_hint(self, job_id: str) -> None:
        """Claim and run the best job available (preferring ``job_id``), then keep going.

        Holding a queue slot, the worker runs jobs back to back while claimable ones
        exist, so jobs a message could not start (workspace cap reached) start as soon
        as a slot frees, in priority and fair-share order.
        """
        job = await self.claim_next(prefer=job_id)
        metrics.HINTS.labels(outcome="claimed" if job else "skipped").inc()
        while job is not None:
            await self.run(job)
            job = await self.claim_next()

    async def claim_next(self, prefer: str | None = None) -> VideoJob | None:
        """Claim the best claimable job, or None (nothing to do, or draining)."""
        if self.draining or self.running >= self.concurrency:
            return None
        if not await self._storage_is_back():
            return None
        now = datetime.now(UTC)
        async with self.runtime.sessionmaker() as session:
            candidates = await job_service.claimable_job_ids(
                session,
                now=now,
                workspace_max_running=self.settings.workspace_max_running,
                limit=10,
                offered=self.offered,
            )
        if prefer is not None and prefer not in candidates:
            candidates.append(prefer)
        for candidate in candidates:
            job = await self._claim(candidate)
            if job is not None:
                return job
        return None

    async def _storage_is_back(self) -> bool:
        """Whether storage answers (asked only after it failed)."""
        if self.storage_answers:
            return True
        try:
            await self.runtime.storage.check()
        except StorageUnavailable:
            return False
        self.storage_answers = True
        logger.info("worker %s: storage answers again; taking jobs", self.worker_id)
        return True

    async def _claim(self, job_id: str) -> VideoJob | None:
        async with self.runtime.sessionmaker() as session:
            job: VideoJob | None = await job_service.claim_job(
                session,
                job_id,
                worker_id=self.worker_id,
                lease_s=self.lease_s,
                workspace_max_running=self.settings.workspace_max_running,
                max_attempts=self.settings.job_max_attempts,
                offered=self.offered,
            )
        if job is None:
            await self._after_refused_claim(job_id)
            return None
        self._running[job.id] = _RunningJob(job.id)
        self._idle.clear()
        metrics.RUNNING.inc()
        if job.attempts == 1 and job.queued_at is not None and job.started_at is not None:
            metrics.QUEUE_LATENCY_SECONDS.observe(
                max(0.0, (job.started_at - job.queued_at).total_seconds())
            )
        return job

    async def _after_refused_claim(self, job_id: str) -> None:
        # claim_job fails a job whose lease expired max_attempts times (it kept killing
        # its workers) instead of handing it out again; its owner still gets the email.
        # Repeated calls are harmless: the email is keyed per job run.
        job = await self._load(job_id)
        if (
            job is not None
            and job.status == JobStatus.FAILED
            and job.attempts >= self.settings.job_max_attempts
            and job.finished_at is not None
            and (datetime.now(UTC) - job.finished_at).total_seconds() < 60
        ):
            await self._publish(job)
            await self._notify(job)

    # --- one job -------------------------------------------------------------------------
    async def run(self, job: VideoJob) -> None:
        """Run a job this worker has claimed, through to a final state or a release."""
        running = self._running[job.id]
        started = time.monotonic()
        heartbeat_done = asyncio.Event()
        heartbeat = asyncio.create_task(
            self._heartbeat(running, heartbeat_done), name=f"lease:{job.id}"
        )
        outcome = "internal"
        try:
            outcome = await self._process(job, running)
        except asyncio.CancelledError:
            # The worker's event loop is being torn down (shutdown without grace): hand
            # the job back so another worker takes it now rather than after the lease.
            running.stop("worker shutting down")
            await asyncio.shield(self._release(job))
            outcome = "released"
            raise
        except Exception:
            # Recording the outcome failed (database unreachable): the lease runs out and
            # another worker, or this one, takes the job again.
            logger.exception("job %s: could not record its outcome", job.id)
            outcome = "error"
        finally:
            heartbeat_done.set()
            await wind_down(heartbeat)
            del self._running[job.id]
            if not self._running:
                self._idle.set()
            metrics.RUNNING.dec()
            metrics.JOBS.labels(outcome=outcome).inc()
            metrics.PROCESSING_SECONDS.observe(time.monotonic() - started)
            logger.info(
                "job %s: %s after %.1fs (attempt %d)",
                job.id,
                outcome,
                time.monotonic() - started,
                job.attempts,
            )

    async def _process(self, job: VideoJob, running: _RunningJob) -> str:
        reporter = _ProgressReporter(self, job.id, running)
        reporter.start()
        try:
            async with self.runtime.sessionmaker() as session:
                edit = await job_service.load_timeline(session, job.id)
            with tempfile.TemporaryDirectory(prefix="hushcut-job-") as tmp:
                # The input keeps the uploaded name, so pipeline messages name the user's
                # file ("talk.mov has no audio track"), not a temporary one.
                work = Path(tmp)
                source = work / "input" / job_service.sanitise_filename(job.filename)
                reporter.set("download", 0.0)
                await self._retrying("download", running, lambda: self._download(job, source))
                media = await self._probe(source, job)
                running.budget_s = self._time_budget(job, media.duration if media else None)
                if edit is not None:
                    running.writes = self._render_keys(job)
                    done = await self._render_edit(job, running, reporter, source, edit, media)
                elif job.review:
                    done = await self._analyze_for_review(job, running, reporter, source)
                else:
                    done = await self._analyze_and_render(job, running, reporter, source)
                await self._publish(done)
                await self._notify(done)
                return "completed" if done.status is JobStatus.COMPLETED else "review"
        except (AbortJob, CanceledError, Conflict, NotFound) as exc:
            if running.over_budget:
                await self._remove_partial(job.id, running)
                return await self._fail(job, self._over_budget_message(running), kind="budget")
            reason = exc.reason if isinstance(exc, AbortJob) else running.abort_reason or str(exc)
            return await self._stopped(job, reason)
        except InputMissing as exc:
            return await self._fail(job, str(exc), kind="input")
        except StorageUnavailable as exc:
            logger.warning("job %s: storage unavailable: %s", job.id, exc)
            return await self._fail(job, STORAGE_MESSAGE, kind="storage")
        except PipelineError as exc:
            kind = "options" if isinstance(exc, OptionsError) else "media"
            if not isinstance(exc, MediaError | OptionsError) and exc.transient:
                kind = "transient"
            return await self._fail(job, str(exc) or type(exc).__name__, kind=kind)
        except ServiceError as exc:
            logger.warning("job %s: %s", job.id, exc)
            return await self._fail(job, str(exc), kind="internal")
        except Exception:
            logger.exception("job %s: unexpected error", job.id)
            return await self._fail(job, INTERNAL_MESSAGE, kind="internal")
        finally:
            await reporter.close()

    # --- what a run does -------------------------------------------------------------------
    async def _analyze(
        self, job: VideoJob, running: _RunningJob, progress: ProgressCallback, source: Path
    ) -> tuple[Analysis, AnalysisRecord]:
        """Analyze the input and store its waveform peaks; the analysis and its record."""
        analysis = await self._retrying(
            "analyze",
            running,
            lambda: asyncio.to_thread(
                self.pipeline.analyze, source, job.options or {}, progress=progress
            ),
        )
        self._check(running)
        key = job_service.peaks_key(job.id)
        peaks = source.parent.parent / "peaks.json"
        peaks.write_bytes(analysis.peaks.to_bytes())
        await self._retrying(
            "upload", running, lambda: self.runtime.storage.upload_file(peaks, key, JSON_TYPE)
        )
        detection = analysis.detection
        record = AnalysisRecord(
            duration_s=float(detection.duration),
            detector=detection.detector,
            threshold_db=detection.threshold_db,
            noise_floor_db=detection.noise_floor_db,
            speech_db=detection.speech_db,
            silences=[(float(a), float(b)) for a, b in detection.silences],
            segments=kept_segments(analysis.timeline),
            peaks_key=key,
        )
        return analysis, record

    async def _analyze_for_review(
        self, job: VideoJob, running: _RunningJob, reporter: _ProgressReporter, source: Path
    ) -> VideoJob:
        """A job confirmed with review: analyze, export the plan, wait in REVIEW."""
        analysis, record = await self._analyze(
            job, running, reporter.span(PIPELINE_START, PIPELINE_SHARE, "analyze"), source
        )
        reporter.set("export", PIPELINE_START + PIPELINE_SHARE)
        exports = await self._export(job, running, analysis.timeline, analysis.media, source)
        self._check(running)
        await reporter.close()
        async with self.runtime.sessionmaker() as session:
            return await job_service.record_analysis(
                session,
                job.id,
                worker_id=self.worker_id,
                analysis=record,
                exports=exports,
                review_ttl=timedelta(hours=self.settings.review_ttl_hours),
            )

    async def _analyze_and_render(
        self, job: VideoJob, running: _RunningJob, reporter: _ProgressReporter, source: Path
    ) -> VideoJob:
        """Analyze the input, then render its plan (the analysis is kept for re-edits)."""
        analyzed = PIPELINE_SHARE * ANALYSIS_SHARE
        analysis, record = await self._analyze(
            job, running, reporter.span(PIPELINE_START, analyzed, "analyze"), source
        )
        return await self._render(
            job,
            running,
            reporter,
            source,
            analysis.timeline,
            reporter.span(PIPELINE_START + analyzed, PIPELINE_SHARE - analyzed),
            media=analysis.media,
            analysis=record,
        )

    async def _render_edit(
        self,
        job: VideoJob,
        running: _RunningJob,
        reporter: _ProgressReporter,
        source: Path,
        edit: Sequence[KeptSegment],
        media: MediaInfo | None,
    ) -> VideoJob:
        """Render exactly the segments a person chose (or the plan they accepted);
        ``media`` is the input's probe, if it succeeded, for the exports."""
        timeline = Timeline(
            source_duration=job.input_duration_s or max(segment.end for segment in edit),
            segments=[Segment(s.start, s.end, s.speed) for s in edit],
            source=source.name,
        )
        return await self._render(
            job,
            running,
            reporter,
            source,
            timeline,
            reporter.span(PIPELINE_START, PIPELINE_SHARE),
            media=media,
            analysis=None,
        )

    async def _render(
        self,
        job: VideoJob,
        running: _RunningJob,
        reporter: _ProgressReporter,
        source: Path,
        timeline: Timeline,
        progress: ProgressCallback,
        *,
        media: MediaInfo | None,
        analysis: AnalysisRecord | None,
    ) -> VideoJob:
        output_key = job_service.output_key(job.id, job.filename)
        target = source.parent.parent / "output" / "result.mp4"
        target.parent.mkdir(exist_ok=True)
        result = await self._retrying(
            "cut",
            running,
            lambda: asyncio.to_thread(
                self.pipeline.cut,
                source,
                target,
                job.options or {},
                progress=progress,
                timeline=timeline,
            ),
        )
        self._check(running)
        reporter.set("upload", PIPELINE_START + PIPELINE_SHARE)
        await self._retrying("upload", running, lambda: self._upload(target, output_key))
        if media is None:
            media = await asyncio.to_thread(self._media, source, job)
        exports = await self._export(job, running, result.timeline, media, source)
        self._check(running)
        await reporter.close()
        async with self.runtime.sessionmaker() as session:
            return await job_service.complete_job(
                session,
                job.id,
                worker_id=self.worker_id,
                output_key=output_key,
                input_duration_s=float(result.input_duration),
                output_duration_s=float(result.output_duration),
                timeline=kept_segments(result.timeline),
                analysis=analysis,
                exports=exports,
            )

    async def _export(
        self,
        job: VideoJob,
        running: _RunningJob,
        timeline: Timeline,
        media: MediaInfo,
        source: Path,
    ) -> dict[str, str]:
        """Store the timeline in every export format this worker has; ``{name: key}``.

        Exports name the file the person uploaded (its editor relinks to it), not the
        worker's copy. A broken exporter costs its format, never the job.
        """
        if not self.pipeline.exports:
            return {}
        uploaded_as = re.split(r"[/\\]", job.filename)[-1] or source.name
        named = replace(timeline, source=uploaded_as)
        media = replace(media, path=Path(uploaded_as))
        folder = source.parent.parent / "exports"
        folder.mkdir(exist_ok=True)

        def write_all() -> dict[str, tuple[Path, ExportFormat]]:
            files: dict[str, tuple[Path, ExportFormat]] = {}
            for export in self.pipeline.exports:
                try:
                    content = self.pipeline.export(named, export.name, media, job.options or {})
                except PipelineError as exc:
                    logger.warning("job %s: no %s export: %s", job.id, export.name, exc)
                    continue
                path = folder / f"{export.name}{export.extension}"
                path.write_bytes(content)
                files[export.name] = (path, export)
            return files

        files = await asyncio.to_thread(write_all)
        exports: dict[str, str] = {}
        for name, (path, export) in files.items():
            key = job_service.export_key(job.id, job.filename, export.extension)
            upload = functools.partial(
                self.runtime.storage.upload_file, path, key, export.media_type
            )
            await self._retrying("upload", running, upload)
            exports[name] = key
        return exports

    def _render_keys(self, job: VideoJob) -> list[str]:
        """What a render writes: the output and the exports (not the analysis)."""
        return [
            job_service.output_key(job.id, job.filename),
            *(
                job_service.export_key(job.id, job.filename, export.extension)
                for export in self.pipeline.exports
            ),
        ]

    async def _stopped(self, job: VideoJob, reason: str) -> str:
        """The job must not go on here: find out why and leave things tidy."""
        current = await self._load(job.id)
        if current is None:
            # Deleted with its workspace while it ran: nothing may stay of this attempt.
            await self._remove_made_for(job.id)
            logger.info("job %s deleted while it ran; its output removed", job.id)
            return "canceled"
        if current.status == JobStatus.CANCELED:
            # Canceled by its owner: remove whatever this attempt put in storage (a
            # render keeps the analysis it was rendering from, for a retry).
            await self._remove_partial(job.id, self._running.get(job.id))
            logger.info("job %s canceled; partial output removed", job.id)
            return "canceled"
        if current.lease_owner == self.worker_id and current.status == JobStatus.PROCESSING:
            await self._release(job)
            return "released"
        # Another worker reclaimed it (our lease lapsed): its output key is the same, so
        # leave storage alone; the other worker owns the job now.
        logger.warning("job %s: lease lost (%s); leaving it to its new owner", job.id, reason)
        return "lease_lost"

    async def _remove_partial(self, job_id: str, running: _RunningJob | None) -> None:
        """Remove what a stopped attempt put in storage (a render keeps the analysis it
        was rendering from, for a retry)."""
        if running is not None and running.writes is not None:
            with contextlib.suppress(ServiceError):
                for key in running.writes:
                    await self.runtime.storage.delete(key)
        else:
            await self._remove_made_for(job_id)

    async def _remove_made_for(self, job_id: str) -> None:
        """Delete everything a run made for the job (output and derived objects; not the
        input); a storage failure leaves it to the retention sweeps."""
        with contextlib.suppress(ServiceError):
            for prefix in (job_service.output_prefix(job_id), job_service.derived_prefix(job_id)):
                await self.runtime.storage.delete_prefix(prefix)

    async def _fail(self, job: VideoJob, message: str, *, kind: str) -> str:
        async with self.runtime.sessionmaker() as session:
            try:
                failed = await job_service.fail_job(
                    session, job.id, worker_id=self.worker_id, message=message
                )
            except Conflict:
                # Canceled or reclaimed meanwhile: the job is not ours to fail.
                return "lease_lost"
            except NotFound:
                return await self._stopped(job, "job deleted")
        metrics.FAILURES.labels(kind=kind).inc()
        await self._publish(failed)
        await self._notify(failed)
        return "failed"

    async def _release(self, job: VideoJob) -> None:
        async with self.runtime.sessionmaker() as session:
            if not await job_service.release_job(session, job.id, worker_id=self.worker_id):
                return
            released = await job_service.load_job(session, job.id)
        await self._publish(released)

    async def _load(self, job_id: str) -> VideoJob | None:
        async with self.runtime.sessionmaker() as session:
            job: VideoJob | None = await session.get(VideoJob, job_id)
            return job

    # --- lease ---------------------------------------------------------------------------
    async def _heartbeat(self, running: _RunningJob, done: asyncio.Event) -> None:
        """Renew the lease until ``done``; stop the job if renewal is refused."""
        deadline = time.monotonic() + self.lease_s
        while not await wait_event(done, self.heartbeat_s):
            try:
                async with self.runtime.sessionmaker() as session:
                    renewed = await job_service.renew_lease(
                        session, running.job_id, worker_id=self.worker_id, lease_s=self.lease_s
                    )
            except Exception as exc:
                # The database is briefly unreachable: keep running while the lease
                # still covers us, stop before it could be reclaimed by someone else.
                logger.warning("job %s: lease renewal failed (%s)", running.job_id, exc)
                if time.monotonic() + self.heartbeat_s >= deadline:
                    running.stop("lease could not be renewed")
                    return
                continue
            if not renewed:
                running.stop("job canceled or lease lost")
                return
            deadline = time.monotonic() + self.lease_s
            running.check_budget()

    def _check(self, running: _RunningJob) -> None:
        if running.abort.is_set():
            raise AbortJob(running.abort_reason)

    # --- storage -------------------------------------------------------------------------
    async def _download(self, job: VideoJob, path: Path) -> None:
        """Fetch the job's input, if it is still the object confirmed (its size and the
        ETag recorded then): a presigned PUT stays valid until it expires, and S3 cannot
        refuse it, so a replaced input is found here and the job fails (refunded)."""
        storage = self.runtime.storage
        found = await storage.head(job.input_key)
        if found is None:
            raise InputMissing(INPUT_MISSING_MESSAGE)
        if found.size != job.size_bytes or (
            job.input_etag is not None and found.etag != job.input_etag
        ):
            raise InputMissing(INPUT_REPLACED_MESSAGE)
        try:
            await storage.download_file(job.input_key, path)
        except StorageUnavailable:
            # Storage answers but the object is gone: retrying cannot help.
            if await storage.head(job.input_key) is None:
                raise InputMissing(INPUT_MISSING_MESSAGE) from None
            raise

    async def _upload(self, path: Path, key: str) -> None:
        await self.runtime.storage.upload_file(path, key, "video/mp4")

    async def _retrying(
        self, operation: str, running: _RunningJob, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``call``, retrying what may pass: storage errors with backoff for as long
        as STORAGE_OUTAGE_BUDGET_S allows (the wait does not count against the job's time
        budget), other transient errors up to job_max_attempts tries."""
        attempts = self.settings.job_max_attempts
        outage_since: float | None = None
        attempt = 0
        while True:
            attempt += 1
            self._check(running)
            try:
                result = await call()
            except StorageUnavailable as exc:
                self.storage_answers = False
                now = time.monotonic()
                outage_since = now if outage_since is None else outage_since
                left = self.settings.storage_outage_budget_s - (now - outage_since)
                if left <= 0:
                    raise
                delay = min(RETRY_BASE_DELAY_S * 2 ** (attempt - 1), MAX_STORAGE_RETRY_DELAY_S)
                delay = min(delay, left)
                reason: Exception = exc
                tries = f"waiting up to {left:.0f}s more for storage"
            except PipelineError as exc:
                transient = exc.transient and not isinstance(exc, CanceledError)
                if not transient or attempt >= attempts:
                    raise
                delay = RETRY_BASE_DELAY_S * 2 ** (attempt - 1)
                reason = exc
                tries = f"retry {attempt}/{attempts - 1}"
            else:
                if outage_since is not None:
                    logger.info(
                        "job %s: %s went through after %.0fs of storage outage",
                        running.job_id,
                        operation,
                        time.monotonic() - outage_since,
                    )
                return result
            metrics.RETRIES.labels(operation=operation).inc()
            logger.warning(
                "job %s: %s failed (%s); %s, next try in %.0fs",
                running.job_id,
                operation,
                reason,
                tries,
                delay,
            )
            paused = time.monotonic()
            try:
                await self._sleep_unless_aborted(running, delay)
            finally:
                if isinstance(reason, StorageUnavailable):
                    running.paused_s += time.monotonic() - paused

    # --- time budget ---------------------------------------------------------------------
    async def _probe(self, source: Path, job: VideoJob) -> MediaInfo | None:
        """The input as its container's header describes it, for its duration (the time
        budget) and a render's exports (None if it cannot be read: the pipeline's own
        probe then reports what is wrong)."""
        try:
            return await asyncio.to_thread(self._media, source, job)
        except PipelineError:
            return None

    def _media(self, source: Path, job: VideoJob) -> MediaInfo:
        """The probe of ``source`` with the audio track the job analyses (exports describe
        that track, as the pipeline's own render does)."""
        track = (job.options or {}).get("audio_track")
        return self.pipeline.probe(
            source, keyframes=False, audio_track=track if isinstance(track, int) else None
        )

    def _time_budget(self, job: VideoJob, duration: float | None) -> float:
        """The processing time the job may take; MediaError if its input is too long."""
        longest = self.settings.max_input_duration_s
        if duration is not None and duration > longest:
            raise MediaError(
                f"{job.filename} is {clock(duration)} long; the longest input accepted is "
                f"{clock(longest)}"
            )
        factor = self.settings.job_time_budget_factor
        return max(self.settings.job_time_budget_min_s, factor * (duration or longest))

    @staticmethod
    def _over_budget_message(running: _RunningJob) -> str:
        allowed = clock(running.budget_s or 0.0)
        return (
            f"processing took longer than the {allowed} allowed for this file, and was "
            "stopped; retry the job, and contact support if it keeps happening"
        )

    async def _sleep_unless_aborted(self, running: _RunningJob, delay: float) -> None:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            self._check(running)
            await asyncio.sleep(min(0.2, deadline - time.monotonic()))

    # --- notifications -------------------------------------------------------------------
    async def _publish(self, job: VideoJob | None) -> None:
        if job is None:
            return
        try:
            await self.runtime.events.publish(JobEvent.from_job(job))
        except Exception as exc:
            # Live events are a convenience; the job's state is already committed.
            logger.warning("job %s: could not publish event: %s", job.id, exc)

    async def _notify(self, job: VideoJob) -> None:
        """Email the job's owner about its outcome; the key makes it once per job run."""
        try:
            async with self.runtime.sessionmaker() as session:
                await emails.notify_job_finished(
                    session, self.runtime.email, job.id, self.settings.app_url
                )
        except Exception as exc:
            logger.warning("job %s: could not send the notification email: %s", job.id, exc)


class _ProgressReporter:
    """Turns the pipeline's progress calls (from its thread) into throttled writes/events.

    The pipeline calls :meth:`report` from its thread; the latest value is handed to the
    event loop, which writes the latest value at most once per ``PROGRESS_INTERVAL_S``
    within a stage; a new stage is written at once, and every stage reported is written
    (with its last value) even when it begins and ends within one interval. Raising
    ``CanceledError`` from :meth:`report` is how a job is stopped mid-pipeline.
    """

    def __init__(self, processor: JobProcessor, job_id: str, running: _RunningJob) -> None:
        self.processor = processor
        self.job_id = job_id
        self.running = running
        self.loop = asyncio.get_running_loop()
        # Values not yet written, in order: the latest of each stage, so a stage that
        # starts and ends within one throttle interval is still written (and published).
        self._pending: list[tuple[str, float]] = []
        self._last_stage: str | None = None
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a new stage or closing ends the throttle wait
        self._closing = asyncio.Event()
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name=f"progress:{self.job_id}")

    def span(self, start: float, share: float, stage: str | None = None) -> ProgressCallback:
        """A pipeline callback whose overall fraction covers ``start`` to ``start + share``
        of the job, under the pipeline's stage names or ``stage`` for all of them."""

        def report(reported: str, fraction: float) -> None:
            if self.running.abort.is_set():
                raise CanceledError(self.running.abort_reason or "job stopped")
            self.set(stage or reported, start + share * min(1.0, max(0.0, float(fraction))))

        return report

    def set(self, stage: str, progress: float) -> None:
        progress = round(progress, 4)  # 0.05 + 0.9 * 1.0 is 0.9500000000000001
        with self._lock:
            new_stage = stage != self._last_stage
            self._last_stage = stage
            if new_stage or not self._pending:
                self._pending.append((stage, progress))
            else:
                self._pending[-1] = (stage, progress)
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self.loop.call_soon_threadsafe(self._signal, new_stage)

    def _signal(self, new_stage: bool) -> None:
        self._wake.set()
        if new_stage:
            self._hurry.set()

    async def _pump(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            self._hurry.clear()
            if await self._write_pending():
                # At most one write per interval within a stage; a new stage goes at once.
                await wait_event(self._hurry, PROGRESS_INTERVAL_S)
        # Whatever was reported last before closing is written too.
        await self._write_pending()

    async def _write_pending(self) -> bool:
        with self._lock:
            pending, self._pending = self._pending, []
        for stage, fraction in pending:
            if not await self._write(stage, fraction):
                break
        return bool(pending)

    async def _write(self, stage: str, fraction: float) -> bool:
        """Write one value and publish it; False once the job is no longer ours."""
        try:
            async with self.processor.runtime.sessionmaker() as session:
                job = await job_service.update_progress(
                    session,
                    self.job_id,
                    worker_id=self.processor.worker_id,
                    stage=stage,
                    progress=fraction,
                )
            if job is None:
                self.running.stop("job canceled or lease lost")
                return False
            await self.processor._publish(job)
        except Exception as exc:
            logger.warning("job %s: progress update failed: %s", self.job_id, exc)
        return True

    async def close(self) -> None:
        """Write the last reported value and stop (without cancelling a database call)."""
        self._closing.set()
        self._hurry.set()
        self._wake.set()
        if self._task is not None:
            await wind_down(self._task)


JSON_TYPE = "application/json"


def kept_segments(timeline: Timeline) -> list[KeptSegment]:
    return [KeptSegment(float(s.start), float(s.end), float(s.speed)) for s in timeline.segments]


def clock(seconds: float) -> str:
    """A duration for people: 4h 00m, 12m 05s, 42s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; True if it is set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def wind_down(task: asyncio.Task[None], timeout: float = 30.0) -> None:
    """Wait for a helper task that was asked to stop; cancel it only if it hangs.

    Helpers are stopped by an event rather than cancelled: cancelling a task inside a
    database call can leave the call's cleanup (and whoever awaits the task) stuck.
    """
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        logger.warning("%s did not stop within %.0fs; cancelling it", task.get_name(), timeout)
        task.cancel()
        return
    if not task.cancelled() and task.exception() is not None:
        logger.warning("%s failed: %r", task.get_name(), task.exception())

"""The scheduled sweeps, on taskiq's scheduler: retention, abandoned uploads, purges.

A :class:`TaskiqScheduler` with one schedule source (:class:`SweepSchedule`: every sweep
every ``SWEEP_INTERVAL_S``) drives taskiq's own ``SchedulerLoop``. Its broker is an
in-memory one, so each scheduled sweep runs in the scheduler's process: sweeps need the
database and storage only, never the media pipeline, and they do not take job slots
from workers. Production runs one ``hushcut scheduler`` process; ``hushcut up`` runs
the same :class:`SweepScheduler` inside its own process.

Every sweep is idempotent and safe to run twice at once (a second scheduler during a
deploy, a manual ``hushcut scheduler --once``): see :mod:`hushcut.core.services.retention`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from taskiq import InMemoryBroker, ScheduleSource, TaskiqDepends, TaskiqScheduler, TaskiqState
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.scheduler.scheduled_task import ScheduledTask

from hushcut.core.clock import Clock, SystemClock
from hushcut.core.events import publish_changes
from hushcut.core.metrics import SWEEP_LAST_SUCCESS, SWEEPS
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services import retention
from hushcut.core.services.retention import RetentionPolicy, SweepReport

log = logging.getLogger(__name__)

Sweep = Callable[[Runtime, RetentionPolicy, datetime], Awaitable[SweepReport]]
TASK_PREFIX = "hushcut.sweep."
#: Seconds a stopping scheduler lets a running sweep finish before cancelling it.
STOP_GRACE_S = 10.0


async def _abandoned_uploads(
    runtime: Runtime, policy: RetentionPolicy, now: datetime
) -> SweepReport:
    """Uploads nobody will confirm: a single PUT an hour after its URL expired, an upload
    in parts MULTIPART_UPLOAD_TTL_S after it started (its part URLs are signed again on
    demand, so their expiry says nothing) or once its job ended otherwise."""
    async with runtime.session() as session:
        return await retention.sweep_abandoned_uploads(
            session, runtime.storage, policy, now, runtime.events
        )


async def _inputs(runtime: Runtime, policy: RetentionPolicy, now: datetime) -> SweepReport:
    async with runtime.session() as session:
        return await retention.sweep_inputs(session, runtime.storage, policy, now)


async def _outputs(runtime: Runtime, policy: RetentionPolicy, now: datetime) -> SweepReport:
    async with runtime.session() as session:
        return await retention.sweep_outputs(session, runtime.storage, policy, now)


async def _purges(runtime: Runtime, policy: RetentionPolicy, now: datetime) -> SweepReport:
    async with runtime.session() as session:
        return await retention.run_purges(session, runtime.storage, now)


async def _reviews(runtime: Runtime, policy: RetentionPolicy, now: datetime) -> SweepReport:
    """Jobs left in REVIEW past REVIEW_TTL_HOURS: canceled, refunded, input deleted."""
    async with runtime.session() as session:
        expired = await job_service.expire_reviews(session, runtime.storage, now=now)
    await publish_changes(runtime.events, expired, "expiry")
    return SweepReport("reviews", handled=len(expired), canceled=[job.id for job in expired])


#: Every scheduled sweep by name; adding one is one line here.
SWEEPS_BY_NAME: dict[str, Sweep] = {
    "abandoned_uploads": _abandoned_uploads,
    "reviews": _reviews,
    "inputs": _inputs,
    "outputs": _outputs,
    "purges": _purges,
}


class Sweeper:
    """Runs sweeps on a runtime at the time its clock tells, with logs and metrics.

    A sweep already running in this process is not started again beside itself (two
    processes may still run it at once, which the sweeps are built for).
    """

    def __init__(self, runtime: Runtime, clock: Clock | None = None) -> None:
        self.runtime = runtime
        self.clock: Clock = clock or SystemClock()
        self.policy = RetentionPolicy.from_settings(runtime.settings)
        self._running: dict[str, asyncio.Task[SweepReport | None]] = {}

    async def run(self, name: str) -> SweepReport | None:
        """Run sweep ``name`` once; None when it failed (logged) or was already running."""
        if name in self._running:
            log.info("sweep %s still running; this run is skipped", name)
            return None
        task = asyncio.create_task(self._run(name), name=f"sweep:{name}")
        self._running[name] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._running.pop(name, None)
            else:
                task.add_done_callback(lambda _: self._running.pop(name, None))

    async def _run(self, name: str) -> SweepReport | None:
        sweep = SWEEPS_BY_NAME[name]
        started = time.monotonic()
        try:
            report = await sweep(self.runtime, self.policy, self.clock.now())
        except Exception as exc:
            SWEEPS.labels(sweep=name, outcome="error").inc()
            log.warning("sweep %s failed (it runs again next time): %s", name, exc)
            return None
        SWEEPS.labels(sweep=name, outcome="ok").inc()
        SWEEP_LAST_SUCCESS.labels(sweep=name).set(time.time())
        if report.handled:
            log.info(
                "sweep %s: %d handled, %d objects deleted in %.1fs",
                name,
                report.handled,
                report.objects,
                time.monotonic() - started,
            )
        return report

    async def run_all(self) -> dict[str, SweepReport | None]:
        """Every sweep once, one after the other (``hushcut scheduler --once``, tests)."""
        return {name: await self.run(name) for name in SWEEPS_BY_NAME}

    async def wait_idle(self, timeout: float) -> None:
        """Let running sweeps finish within ``timeout`` seconds, then cancel them."""
        running = list(self._running.values())
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task


class SweepSchedule(ScheduleSource):
    """The schedule: every sweep every ``interval`` (the first run at start)."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval

    async def get_schedules(self) -> list[ScheduledTask]:
        return [
            ScheduledTask(
                task_name=TASK_PREFIX + name,
                labels={},
                args=[name],
                kwargs={},
                schedule_id=name,
                interval=self.interval,
            )
            for name in SWEEPS_BY_NAME
        ]


async def _sweep_task(name: str, state: TaskiqState = TaskiqDepends()) -> None:
    sweeper: Sweeper = state.sweeper
    await sweeper.run(name)


def build_scheduler(sweeper: Sweeper, interval: timedelta) -> TaskiqScheduler:
    """A taskiq scheduler whose every scheduled sweep runs on ``sweeper``, in process."""
    # await_inplace: the scheduler's send lasts as long as the sweep, so taskiq's loop
    # does not start the same schedule again before the previous run finished.
    broker = InMemoryBroker(await_inplace=True, propagate_exceptions=False)
    broker.state.sweeper = sweeper
    for name in SWEEPS_BY_NAME:
        broker.register_task(_sweep_task, task_name=TASK_PREFIX + name)
    return TaskiqScheduler(broker, [SweepSchedule(interval)])


class SweepScheduler:
    """Runs the sweeps on schedule in the background of an asyncio program.

    ``hushcut scheduler`` runs one until SIGTERM; ``hushcut up`` runs one beside its API
    and worker. ``clock`` is what the sweeps take as now (tests pass a ManualClock).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Clock | None = None,
        interval: timedelta | None = None,
    ) -> None:
        self.sweeper = Sweeper(runtime, clock)
        self.interval = interval or timedelta(seconds=runtime.settings.sweep_interval_s)
        self.scheduler = build_scheduler(self.sweeper, self.interval)
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the schedule (every sweep runs at once, then every interval)."""
        if self._loop_task is not None:
            raise RuntimeError("scheduler already started")
        for source in self.scheduler.sources:
            await source.startup()
        await self.scheduler.startup()
        loop = SchedulerLoop(self.scheduler)
        self._loop_task = asyncio.create_task(
            loop.run(update_interval=timedelta(hours=1), loop_interval=timedelta(seconds=1)),
            name="hushcut-scheduler",
        )
        log.info(
            "scheduler started: sweeps %s every %ss",
            ", ".join(SWEEPS_BY_NAME),
            int(self.interval.total_seconds()),
        )

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop scheduling; running sweeps get ``grace_s`` to finish. Safe to call twice."""
        task, self._loop_task = self._loop_task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.sweeper.wait_idle(grace_s)
        await self.scheduler.shutdown()
        for source in self.scheduler.sources:
            await source.shutdown()
        log.info("scheduler stopped")

    async def __aenter__(self) -> SweepScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

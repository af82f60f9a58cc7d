"""A worker you can start and stop inside any asyncio program (``hushcut worker``, ``hushcut up``).

:class:`WorkerRunner` loads the plugins, advertises what they offer in the database
(kept alive by a heartbeat), and wires the broker, a taskiq ``Receiver`` (at most
``concurrency`` jobs at once) and the reconciler. The reconciler is the backstop that
makes the database the truth: every few seconds an idle worker looks for jobs nobody
holds that it can run — QUEUED jobs whose hint was lost (Redis restarted empty, enqueue
failed, or the hint reached a worker without the job's plugins) and PROCESSING jobs
whose lease expired (their worker was killed) — and sends hints for them, at most one
per free slot, so hints never pile up while workers are busy. (Reviews left past
``REVIEW_TTL_HOURS`` are expired by the sweeps of :mod:`hushcut.core.scheduler`, not here.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime

from taskiq import AsyncBroker
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from hushcut.core.capabilities import WorkerOffer
from hushcut.core.queue import (
    DEFAULT_REDELIVERY_S,
    REDIS_DOWN_ERRORS,
    HushcutRedisBroker,
    send_hint,
)
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services import workers as worker_registry
from hushcut.core.settings import Settings
from hushcut.worker import tasks  # noqa: F401  (registers the process_job task)
from hushcut.worker.broker import make_broker
from hushcut.worker.plugins import build_offer, build_pipeline, load_available_plugins
from hushcut.worker.processor import Analyzer, Cutter, JobProcessor, wait_event, wind_down

logger = logging.getLogger(__name__)

#: Seconds between two reconciler passes.
DEFAULT_RECONCILE_S = 2.0
#: Seconds a stopping worker lets running jobs finish before handing them back.
DEFAULT_SHUTDOWN_GRACE_S = 5.0
#: Longest time between two renewals of the worker's row in the database.
HEARTBEAT_S = 5.0


def new_worker_id() -> str:
    """A name unique to this worker instance: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerRunner:
    """One worker: receives job hints and processes jobs until :meth:`stop`.

    ``source`` is a started core ``Runtime`` (shared with the API in ``hushcut up``) or
    :class:`~hushcut.core.settings.Settings`, in which case the runner starts and closes
    its own runtime. ``cut`` and ``analyze`` replace ``hushcut.pipeline.cut`` and
    ``analyze`` (same signatures), for embedders that wrap the pipeline; without them,
    jobs use the plugins that loaded at start (a broken installed plugin is left out:
    see :mod:`hushcut.worker.plugins`).

    A runner is also a :class:`~hushcut.core.ports.JobDispatcher`: :meth:`enqueue` puts a
    hint on its own broker, which is how the API of ``hushcut up`` reaches it.
    """

    def __init__(
        self,
        source: Settings | Runtime,
        *,
        concurrency: int | None = None,
        worker_id: str | None = None,
        reconcile_s: float = DEFAULT_RECONCILE_S,
        redelivery_s: float = DEFAULT_REDELIVERY_S,
        shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S,
        cut: Cutter | None = None,
        analyze: Analyzer | None = None,
    ) -> None:
        self._source = source
        self._cut = cut
        self._analyze = analyze
        self.settings: Settings = source if isinstance(source, Settings) else source.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        self.worker_id = worker_id or new_worker_id()
        self.reconcile_s = reconcile_s
        self.redelivery_s = redelivery_s
        self.shutdown_grace_s = shutdown_grace_s
        #: How often the worker's row in the database is renewed (it lives job_lease_s).
        self.heartbeat_s = min(self.settings.job_lease_s / 3, HEARTBEAT_S)
        self._runtime: Runtime | None = None
        self._owns_runtime = False
        self.broker: AsyncBroker | None = None
        self.processor: JobProcessor | None = None
        self.offer: WorkerOffer | None = None
        self._finish = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the worker is not started")
        return self._runtime

    async def start(self) -> None:
        """Connect, then receive and reconcile in background tasks; returns at once."""
        if self._tasks:
            raise RuntimeError("worker already started")
        if isinstance(self._source, Settings):
            self._runtime = await Runtime.start(self._source)
            self._owns_runtime = True
        else:
            self._runtime = self._source
        try:
            await self._start_receiving()
        except BaseException:
            if self._owns_runtime:
                await self.runtime.close()
                self._runtime = None
            raise

    async def _start_receiving(self) -> None:
        # Load (and check) every installed plugin before the first job, not during it. A
        # broken one is left out, not fatal: this worker just does not offer it.
        plugin_manager, unavailable = await asyncio.to_thread(load_available_plugins)
        for name, reason in unavailable.items():
            logger.error("%s; this worker leaves jobs that select %r to others", reason, name)
        self.offer = build_offer(plugin_manager, unavailable)
        self.processor = JobProcessor(
            self.runtime,
            worker_id=self.worker_id,
            pipeline=build_pipeline(plugin_manager, cut=self._cut, analyze=self._analyze),
            concurrency=self.concurrency,
            offered=self.offer.capabilities,
        )
        broker = make_broker(self.settings, redelivery_s=self.redelivery_s)
        broker.is_worker_process = True
        broker.state.processor = self.processor
        await broker.startup()
        self.broker = broker
        try:
            await self._advertise()
        except BaseException:
            await broker.shutdown()
            self.broker = None
            raise
        self._finish = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._receive(), name=f"receive:{self.worker_id}"),
            asyncio.create_task(self._reconcile(), name=f"reconcile:{self.worker_id}"),
            asyncio.create_task(self._heartbeat(), name=f"heartbeat:{self.worker_id}"),
        ]
        logger.info(
            "worker %s started: concurrency %d, queue %s",
            self.worker_id,
            self.concurrency,
            "redis" if self.settings.redis_url else "in-process",
        )
        logger.info(
            "worker %s offers %s", self.worker_id, ", ".join(sorted(self.offer.capabilities))
        )

    async def _advertise(self) -> None:
        assert self.offer is not None
        async with self.runtime.sessionmaker() as session:
            await worker_registry.register_worker(
                session, self.worker_id, self.offer, self.settings.job_lease_s
            )

    # --- the dispatcher side (hushcut up) --------------------------------------------------
    async def startup(self) -> None:
        """Nothing to do: :meth:`start` starts the worker (JobDispatcher protocol)."""

    async def enqueue(self, job_id: str) -> bool:
        """Hint this worker (and, on Redis, any worker) that ``job_id`` was queued."""
        if self.broker is None:
            return False
        return await send_hint(self.broker, job_id)

    async def shutdown(self) -> None:
        """Nothing to do: :meth:`stop` stops the worker (JobDispatcher protocol)."""

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop taking jobs; let running ones finish within ``grace_s``, release the rest."""
        if not self._tasks or self.processor is None:
            return
        grace = self.shutdown_grace_s if grace_s is None else grace_s
        processor = self.processor
        processor.drain()
        self._finish.set()
        if not await processor.wait_idle(grace):
            logger.info(
                "worker %s: handing back %d running job(s)", self.worker_id, processor.running
            )
            processor.release_all()
            await processor.wait_idle(max(10.0, self.settings.job_lease_s))
        # Both loops end on their own once _finish is set (the receiver after its running
        # tasks, the reconciler after its current pass).
        for task in self._tasks:
            await wind_down(task)
        self._tasks = []
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.shutdown()
            self.broker = None
        with contextlib.suppress(Exception):
            async with self.runtime.sessionmaker() as session:
                await worker_registry.retire_worker(session, self.worker_id)
        if self._owns_runtime and self._runtime is not None:
            await self._runtime.close()
            self._runtime = None
        logger.info("worker %s stopped", self.worker_id)

    async def __aenter__(self) -> WorkerRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- background tasks ----------------------------------------------------------------
    async def _receive(self) -> None:
        assert self.broker is not None
        backoff = 0.5
        while not self._finish.is_set():
            receiver = Receiver(
                broker=self.broker,
                max_async_tasks=self.concurrency,
                run_startup=False,
                # Hints are acknowledged once handled; one that is redelivered after a
                # crash only meets a claim that fails, so nothing runs twice.
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                propagate_exceptions=False,
                wait_tasks_timeout=None,
            )
            try:
                await receiver.listen(self._finish)
            except Exception as exc:
                logger.warning("worker %s: listener failed (%s); restarting", self.worker_id, exc)
                await wait_event(self._finish, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _reconcile(self) -> None:
        assert self.broker is not None
        assert self.processor is not None
        # At start, at once: jobs queued while no worker ran wait for nobody's hint.
        min_age = 0.0
        while True:
            try:
                await self.reconcile_once(min_queued_age_s=min_age)
            except Exception as exc:
                logger.warning("worker %s: reconcile failed: %s", self.worker_id, exc)
            min_age = self.reconcile_s
            if await wait_event(self._finish, self.reconcile_s):
                return

    async def _heartbeat(self) -> None:
        """Keep this worker's offer alive in the database (re-register if it vanished),
        and the queue's consumer group in Redis (recreated if a restart lost it)."""
        while not await wait_event(self._finish, self.heartbeat_s):
            try:
                async with self.runtime.sessionmaker() as session:
                    alive = await worker_registry.renew_worker(
                        session, self.worker_id, self.settings.job_lease_s
                    )
                if not alive:
                    await self._advertise()
            except Exception as exc:
                logger.warning("worker %s: heartbeat failed: %s", self.worker_id, exc)
            if isinstance(self.broker, HushcutRedisBroker):
                try:
                    await self.broker.ensure_consumer_group()
                except REDIS_DOWN_ERRORS as exc:
                    logger.debug("worker %s: Redis unreachable: %s", self.worker_id, exc)

    async def reconcile_once(self, *, min_queued_age_s: float | None = None) -> int:
        """Send a hint for each job nobody holds that this worker can run, up to its free
        slots; jobs queued less than ``min_queued_age_s`` ago (default: the reconcile
        interval) are left to their own hint."""
        assert self.broker is not None
        assert self.processor is not None
        free = self.processor.free_slots
        if free <= 0:
            return 0
        async with self.runtime.sessionmaker() as session:
            job_ids = await job_service.claimable_job_ids(
                session,
                now=datetime.now(UTC),
                workspace_max_running=self.settings.workspace_max_running,
                limit=free,
                offered=self.processor.offered,
                min_queued_age_s=(
                    self.reconcile_s if min_queued_age_s is None else min_queued_age_s
                ),
            )
        sent = 0
        for job_id in job_ids:
            if not await send_hint(self.broker, job_id):
                break
            sent += 1
        if sent:
            logger.info("worker %s: requeued %d job(s) nobody held", self.worker_id, sent)
        return sent

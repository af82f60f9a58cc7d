"""The composition root of ``hushcut up``: the API, a worker and the scheduled sweeps
wired together in one process.

The API and the worker never import each other; they meet through core's ports. Here,
the worker (which loads the media pipeline) is started on the API's runtime and
serves as the API's :class:`~hushcut.core.ports.JobDispatcher`, so a confirmed upload
reaches it in-process, and jobs, live events and storage are shared. The sweeps
(retention, abandoned uploads, storage purges) run on taskiq's scheduler beside them,
as ``hushcut scheduler`` runs them in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from hushcut.api.app import create_app
from hushcut.core.ports import JobDispatcher
from hushcut.core.runtime import Runtime
from hushcut.core.scheduler import SweepScheduler
from hushcut.core.settings import Settings
from hushcut.worker.runner import WorkerRunner

__all__ = ["create_platform_app", "in_process_platform", "in_process_worker"]


@asynccontextmanager
async def in_process_worker(runtime: Runtime) -> AsyncIterator[JobDispatcher]:
    """A worker running on ``runtime`` for as long as the block, as the API's dispatcher."""
    worker = WorkerRunner(runtime)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@asynccontextmanager
async def in_process_platform(runtime: Runtime) -> AsyncIterator[JobDispatcher]:
    """A worker and the sweep scheduler on ``runtime``; the worker is the dispatcher."""
    async with SweepScheduler(runtime), in_process_worker(runtime) as worker:
        yield worker


def create_platform_app(settings: Settings, *, migrate: bool | None = True) -> Litestar:
    """The API with a worker and the scheduled sweeps in the same process (``hushcut up``)."""
    return create_app(settings, dispatcher=in_process_platform, migrate=migrate)

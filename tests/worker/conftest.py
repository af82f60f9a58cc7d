"""Fixtures for worker tests: a platform (runtime + dispatcher) per test, clips, job helpers."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hushcut.core.models import (
    CreditLedgerEntry,
    EmailOutbox,
    JobStatus,
    LedgerReason,
    VideoJob,
    Workspace,
)
from hushcut.core.ports import JobDispatcher
from hushcut.core.queue import RedisDispatcher
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services.auth import Actor
from hushcut.core.settings import Settings
from hushcut.pipeline import cut as pipeline_cut
from hushcut.pipeline.testing import SampleMedia
from hushcut.worker.runner import WorkerRunner
from tests.conftest import Services
from tests.platform import make_settings, new_member, wait_until
from tests.worker.media import TALK_CLIP

#: Worker settings that make crash recovery observable within a test's budget.
FAST_WORKER = {"job_lease_s": 3.0, "job_max_attempts": 3}


@pytest.fixture(scope="session")
def talk_clip(sample_media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """talk.mp4: six seconds of talk at 320x180 holding over 2 s of pauses."""
    target = tmp_path_factory.mktemp("clips") / "talk.mp4"
    shutil.copy(sample_media("talk", **TALK_CLIP), target)
    return target


@pytest.fixture(scope="session")
def silent_movie(sample_media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """silent-movie.mp4: the talk clip's picture alone, with no audio track at all."""
    target = tmp_path_factory.mktemp("clips") / "silent-movie.mp4"
    shutil.copy(sample_media("talk", **TALK_CLIP, audio=None), target)
    return target


class Gate:
    """Holds every job at the render stage until opened, while still reporting progress.

    Wraps ``hushcut.pipeline.cut``: in the render stage the wrapper keeps calling the
    worker's progress callback until :meth:`open`, like a long render would — so the
    worker's cancel/lease/shutdown logic (which acts through that callback) is exercised
    without depending on how fast the machine renders.
    """

    def __init__(self) -> None:
        self._open = threading.Event()
        self.holding: set[str] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        self._open.set()

    def cut(
        self, source: Path, target: Path, options: Any, progress: Any, timeline: Any = None
    ) -> Any:
        def gated(stage: str, fraction: float) -> None:
            progress(stage, fraction)
            if stage != "render":
                return
            with self._lock:
                self.holding.add(str(source))
            while not self._open.wait(0.05):
                progress(stage, fraction)

        return pipeline_cut(source, target, options, progress=gated, timeline=timeline)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self.holding)


class InProcessWorkers:
    """The API's dispatcher on the embedded backend: hints go to the first in-process
    worker started, as in ``hushcut up`` (none started yet: its reconciler finds the job)."""

    def __init__(self, workers: list[WorkerRunner]) -> None:
        self.workers = workers

    async def startup(self) -> None:
        return None

    async def enqueue(self, job_id: str) -> bool:
        return await self.workers[0].enqueue(job_id) if self.workers else False

    async def shutdown(self) -> None:
        return None


@dataclass
class Platform:
    """One test's platform: settings, a started runtime, a job dispatcher, and workers."""

    settings: Settings
    runtime: Runtime
    queue: JobDispatcher
    workers: list[WorkerRunner] = field(default_factory=list)

    async def workspace(self, credits: int = 5, priority: int = 0) -> tuple[Actor, str]:
        """A new user owning a new workspace with ``credits`` credits and ``priority``."""
        actor, workspace_id = await new_member(self.runtime, credits=credits)
        if priority:
            async with self.runtime.sessionmaker() as session:
                await session.execute(
                    update(Workspace).where(Workspace.id == workspace_id).values(priority=priority)
                )
                await session.commit()
        return actor, workspace_id

    async def submit(
        self,
        actor: Actor,
        workspace_id: str,
        path: Path,
        *,
        filename: str | None = None,
        options: dict[str, Any] | None = None,
        enqueue: bool = True,
        review: bool = False,
    ) -> str:
        """Create a job, upload ``path`` as its input, confirm it (charge; ``review``:
        to be analyzed only) and enqueue it."""
        name = filename or path.name
        async with self.runtime.sessionmaker() as session:
            job = await job_service.create_job(
                session,
                actor,
                workspace_id,
                name,
                path.stat().st_size,
                "video/mp4",
                {"mode": "reencode", "preset": "ultrafast", **(options or {})},
            )
        await self.runtime.storage.upload_file(path, job.input_key, "video/mp4")
        stored = await self.runtime.storage.seal(job.input_key)  # as confirmUpload does
        assert stored is not None
        async with self.runtime.sessionmaker() as session:
            await job_service.confirm_upload(
                session, actor, job.id, stored.size, etag=stored.etag, review=review
            )
        if enqueue:
            await self.queue.enqueue(job.id)
        return job.id

    async def job(self, job_id: str) -> VideoJob:
        async with self.runtime.sessionmaker() as session:
            return await job_service.load_job(session, job_id)

    async def wait_for(
        self,
        job_id: str,
        condition: Callable[[VideoJob], bool] | set[JobStatus],
        timeout: float = 60.0,
    ) -> VideoJob:
        """Poll the job until ``condition`` (or one of the statuses) holds."""
        test = (lambda job: job.status in condition) if isinstance(condition, set) else condition
        seen: list[VideoJob] = []

        async def holds() -> bool:
            seen[:] = [await self.job(job_id)]
            return test(seen[0])

        try:
            await wait_until(holds, timeout, f"job {job_id}'s awaited state")
        except AssertionError:
            job = seen[0]
            raise AssertionError(
                f"job {job_id} still {job.status} ({job.stage} {job.progress:.2f}, "
                f"error {job.error!r}) after {timeout}s"
            ) from None
        return seen[0]

    async def worker(self, **kwargs: Any) -> WorkerRunner:
        """A started worker on this platform's runtime (stopped at teardown)."""
        kwargs.setdefault("reconcile_s", 0.5)
        runner = WorkerRunner(self.runtime, **kwargs)
        await runner.start()
        self.workers.append(runner)
        return runner

    async def ledger(self, job_id: str) -> dict[LedgerReason, int]:
        """How many charges and refunds the ledger holds for this job (all its runs)."""
        async with self.runtime.sessionmaker() as session:
            rows = await session.execute(
                select(CreditLedgerEntry.reason, func.count())
                .where(CreditLedgerEntry.reference.like(f"{job_id}:%"))
                .group_by(CreditLedgerEntry.reason)
            )
            return {reason: count for reason, count in rows.all()}

    async def sent_emails(self, job_id: str, expected: int) -> list[EmailOutbox]:
        """The job's emails once ``expected`` were sent (they follow the final state)."""

        async def enough() -> bool:
            return len(await self.emails(job_id)) >= expected

        await wait_until(enough, timeout=10, message=f"{expected} email(s) for {job_id}")
        return await self.emails(job_id)

    async def emails(self, job_id: str) -> list[EmailOutbox]:
        async with self.runtime.sessionmaker() as session:
            rows = await session.scalars(
                select(EmailOutbox).where(EmailOutbox.idempotency_key.like(f"job-{job_id}-%"))
            )
            return list(rows.all())

    async def outputs(self, job_id: str) -> list[str]:
        """Keys under ``output/<jobId>/`` and ``derived/<jobId>/`` in storage."""
        found = await list_keys(self.runtime, job_service.output_prefix(job_id))
        found += await list_keys(self.runtime, job_service.derived_prefix(job_id))
        return sorted(found)

    @staticmethod
    def written_for(job: VideoJob) -> list[str]:
        """What a completed job's run leaves in storage besides its input: the output, the
        waveform peaks and the timeline exports it records (nothing else)."""
        keys = [job_service.peaks_key(job.id), *(job.exports or {}).values()]
        if job.output_key:
            keys.append(job.output_key)
        return sorted(keys)


async def list_keys(runtime: Runtime, prefix: str) -> list[str]:
    storage: Any = runtime.storage
    if hasattr(storage, "client"):
        response = await asyncio.to_thread(
            storage.client.list_objects_v2, Bucket=storage.bucket, Prefix=prefix
        )
        return sorted(item["Key"] for item in response.get("Contents", []))
    root = storage.root / "objects"
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix().startswith(prefix)
    )


def own_redis_database(services: Services, number: int) -> str:
    """A Redis URL on the session's server but in database ``number``.

    Workers of every platform on one Redis database share one job stream. The API
    tests' session server (`hushcut up`, database 0) is still running during these
    tests and would take their hints (then find nothing to claim in its own database),
    so worker tests use a database of their own.
    """
    return services.redis.url.rsplit("/", 1)[0] + f"/{number}"


@pytest.fixture
def worker_settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    if backend != "services":
        return make_settings(tmp_path, backend, None, **FAST_WORKER)
    services = request.getfixturevalue("services")
    return make_settings(
        tmp_path, backend, services, redis_url=own_redis_database(services, 1), **FAST_WORKER
    )


@asynccontextmanager
async def started_platform(settings: Settings) -> AsyncIterator[Platform]:
    """A platform on ``settings``: its runtime and dispatcher started, its workers stopped
    on exit."""
    runtime = await Runtime.start(settings, upgrade=False)
    workers: list[WorkerRunner] = []
    queue: JobDispatcher = (
        RedisDispatcher(settings.redis_url) if settings.redis_url else InProcessWorkers(workers)
    )
    await queue.startup()
    platform = Platform(settings, runtime, queue, workers)
    try:
        yield platform
    finally:
        for runner in platform.workers:
            await runner.stop(grace_s=0)
        await queue.shutdown()
        await runtime.close()


@pytest.fixture
async def platform(worker_settings: Settings) -> AsyncIterator[Platform]:
    async with started_platform(worker_settings) as started:
        yield started


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.open()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test on a stack of server processes reports their errors and logs."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("chaos_stack")
    if report.failed and call.when == "call" and stack is not None:
        for api in stack.apis:
            errors = [line for line in api.output.splitlines() if '"level": "error"' in line]
            report.sections.append((f"errors of the API at {api.url}", "\n".join(errors[-5:])))
        for worker in stack.workers:
            report.sections.append((f"log of {worker.name}", worker.log()))
    return report

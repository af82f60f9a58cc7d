"""The sweeps on taskiq's scheduler: in process on a clock the test moves, `hushcut
scheduler --once`, and the `hushcut scheduler` process as production runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from click.testing import CliRunner
from sqlalchemy import update

from hushcut.core.cli import scheduler
from hushcut.core.clock import ManualClock
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.scheduler import Sweeper, SweepScheduler
from hushcut.core.services import jobs
from hushcut.core.settings import Settings
from tests.core.test_retention import counted, current, make_job, uploading_in_parts
from tests.platform import new_member, run_sync, settings_env, stored_keys, wait_until
from tests.servers import free_port

HUSHCUT = Path(sys.executable).with_name("hushcut")


async def abandoned_upload(runtime: Runtime, hours_ago: float = 2) -> VideoJob:
    """A PENDING job whose upload URL expired ``hours_ago`` hours ago, object uploaded."""
    actor, workspace_id = await new_member(runtime)
    job = await make_job(runtime, actor, workspace_id, "pending")
    created = job.created_at - timedelta(hours=hours_ago, seconds=runtime.settings.upload_url_ttl_s)
    async with runtime.session() as session:
        await session.execute(
            update(VideoJob).where(VideoJob.id == job.id).values(created_at=created)
        )
        await session.commit()
    return job


async def status(runtime: Runtime, job_id: str) -> JobStatus:
    return (await current(runtime, job_id)).status


async def test_sweeps_run_on_the_schedule_at_the_clocks_time(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    done = await make_job(runtime, actor, workspace_id, "completed")
    clock = ManualClock()
    runs = counted("hushcut_sweeps_total", sweep="outputs", outcome="ok")
    async with SweepScheduler(runtime, clock=clock, interval=timedelta(seconds=1)) as running:
        # The first runs happen at start and find nothing due.
        await wait_until(
            lambda: counted("hushcut_sweeps_total", sweep="outputs", outcome="ok") > runs, 10
        )
        assert len(await stored_keys(runtime, f"input/{done.id}/")) == 1
        assert len(await stored_keys(runtime, f"output/{done.id}/")) == 1
        clock.advance(days=31)

        async def gone() -> bool:
            return await stored_keys(runtime, f"output/{done.id}/") == []

        await wait_until(gone, 15, "the result deleted by a scheduled sweep")
        await wait_until(
            lambda: _input_gone(runtime, done.id), 15, "the upload deleted by a scheduled sweep"
        )
    # Stopped: stopping again is harmless.
    await running.stop()


async def _input_gone(runtime: Runtime, job_id: str) -> bool:
    return await stored_keys(runtime, f"input/{job_id}/") == []


def test_scheduler_once(settings: Settings) -> None:
    async def prepare() -> str:
        started = await Runtime.start(settings, upgrade=False)
        try:
            return (await abandoned_upload(started)).id
        finally:
            await started.close()

    job_id = run_sync(prepare())
    env = settings_env(settings)
    result = CliRunner().invoke(scheduler, ["--once"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "abandoned_uploads: 1 handled, 1 objects deleted",
        "reviews: 0 handled, 0 objects deleted",
        "inputs: 0 handled, 0 objects deleted",
        "outputs: 0 handled, 0 objects deleted",
        "purges: 0 handled, 0 objects deleted",
    ]

    async def check() -> JobStatus:
        started = await Runtime.start(settings, upgrade=False)
        try:
            return await status(started, job_id)
        finally:
            await started.close()

    assert run_sync(check()) is JobStatus.CANCELED


async def test_the_scheduler_process(runtime: Runtime, tmp_path: Path) -> None:
    """`hushcut scheduler` as deployed: sweeps on its interval, metrics, clean SIGTERM."""
    first = await abandoned_upload(runtime)
    port = free_port()
    env = {
        **os.environ,
        **settings_env(runtime.settings),
        "SWEEP_INTERVAL_S": "1",
        "SCHEDULER_METRICS_PORT": str(port),
    }
    env.pop("HUSHCUT_TEST_BACKEND", None)
    log = (tmp_path / "scheduler.log").open("wb")
    process = subprocess.Popen([str(HUSHCUT), "scheduler"], env=env, stdout=log, stderr=log)
    try:

        async def canceled(job_id: str) -> bool:
            return await status(runtime, job_id) is JobStatus.CANCELED

        await wait_until(lambda: canceled(first.id), 60, "the first abandoned upload canceled")
        # It keeps sweeping: a job abandoned later goes at a later run.
        second = await abandoned_upload(runtime)
        await wait_until(lambda: canceled(second.id), 30, "the second abandoned upload canceled")
        assert await stored_keys(runtime, f"input/{second.id}/") == []

        def scraped() -> bool:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return False
            return 'hushcut_deletions_total{kind="upload_abandoned"} 2.0' in text

        await wait_until(scraped, 10, "the deletions counted in the scheduler's metrics")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        log.close()
    output = (tmp_path / "scheduler.log").read_text()
    assert code == 0, output
    assert "scheduler stopped" in output


async def test_an_upload_in_parts_has_its_own_time_limit(runtime: Runtime) -> None:
    """A big file's parts may take hours to send (their URLs are signed again on demand):
    the abandoned-uploads sweep leaves its job alone until MULTIPART_UPLOAD_TTL_S, then
    aborts its parts and cancels it; a single PUT is given up an hour after its URL."""
    single = await abandoned_upload(runtime, hours_ago=2)
    actor, workspace_id = await new_member(runtime, credits=1)
    job = await uploading_in_parts(runtime, actor, workspace_id, timedelta(hours=3))
    clock = ManualClock()
    sweeper = Sweeper(runtime, clock=clock)

    report = await sweeper.run("abandoned_uploads")
    assert report is not None
    assert report.canceled == [single.id]
    assert await status(runtime, job.id) is JobStatus.PENDING
    open_uploads = await runtime.storage.list_multipart_uploads("input/")
    assert job.upload_id in [u.upload_id for u in open_uploads]

    clock.advance(seconds=runtime.settings.multipart_upload_ttl_s)
    report = await sweeper.run("abandoned_uploads")
    assert report is not None
    assert report.canceled == [job.id]
    gone = await current(runtime, job.id)
    assert (gone.status, gone.error, gone.upload_id) == (
        JobStatus.CANCELED,
        jobs.ABANDONED_MESSAGE,
        None,
    )
    open_uploads = await runtime.storage.list_multipart_uploads("input/")
    assert job.upload_id not in [u.upload_id for u in open_uploads]

"""Workers with different plugins: each job runs on a worker that offers what it needs.

Two real `hushcut worker` processes share PostgreSQL, Redis and S3 but have different
plugins installed: each sees one throwaway plugin distribution (a dist-info directory on
its own PYTHONPATH), ``left`` or ``right``, which declares an option. A job setting
``left`` options can only run on the first worker, one setting ``right`` options only
on the second, a plain job on either; the API's check refuses what no worker offers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hushcut.core.errors import BadUserInput
from hushcut.core.models import JobStatus
from hushcut.core.services import workers as worker_registry
from hushcut.core.services.workers import OfferedOptions
from tests.platform import wait_until
from tests.worker.conftest import Platform
from tests.worker.processes import WorkerProcess, worker_env

pytestmark = pytest.mark.services

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}
PLUGIN = """\
from hushcut.pipeline import OptionSpec, hookimpl


@hookimpl
def hushcut_options():
    return [OptionSpec({name!r}, "strength", int, 1, "How much (a test option).")]
"""


def install(site: Path, name: str) -> Path:
    """A site directory holding distribution ``hushcut-{name}`` with plugin ``name``."""
    site.mkdir()
    module = f"hushcut_routing_test_{name}"
    (site / f"{module}.py").write_text(PLUGIN.format(name=name))
    info = site / f"hushcut_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hushcut-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[hushcut.pipeline]\n{name} = {module}\n")
    return site


@pytest.fixture
def workers(platform: Platform, tmp_path: Path) -> Iterator[dict[str, WorkerProcess]]:
    started: dict[str, WorkerProcess] = {}
    for name in ("left", "right"):
        site = install(tmp_path / f"site-{name}", name)
        path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        env = worker_env(platform.settings, PYTHONPATH=path, JOB_LEASE_S="10")
        started[name] = WorkerProcess(env, f"worker-{name}", "--concurrency", "1")
    yield started
    for process in started.values():
        process.stop()


def ran_on(process: WorkerProcess, job_id: str) -> bool:
    return any(f"job {job_id}: completed" in line for line in process.lines)


async def test_each_job_runs_on_a_worker_that_offers_its_plugins(
    platform: Platform, talk_clip: Path, workers: dict[str, WorkerProcess]
) -> None:
    for process in workers.values():
        assert await asyncio.to_thread(process.ready.wait, 60), process.log()

    async def both_advertised() -> bool:
        async with platform.runtime.sessionmaker() as session:
            return len(await worker_registry.running_workers(session)) == 2

    await wait_until(both_advertised, timeout=10, message="two worker offers")
    options = OfferedOptions(platform.runtime.sessionmaker)
    await options.validate({"plugins": {"left": {"strength": 2}}})
    await options.validate({"plugins": {"right": {"strength": 3}}})
    with pytest.raises(BadUserInput, match="no single worker offers all of"):
        await options.validate({"plugins": {"left": {}, "right": {}}})
    with pytest.raises(BadUserInput, match="unknown plugin 'middle'"):
        await options.validate({"plugins": {"middle": {}}})
    with pytest.raises(BadUserInput, match=r"option 'left\.strength'"):
        await options.validate({"plugins": {"left": {"strength": "a lot"}}})

    actor, workspace = await platform.workspace(credits=10)
    submitted: dict[str, list[str]] = {"left": [], "right": [], "either": []}
    for _ in range(3):
        for side in ("left", "right"):
            job_id = await platform.submit(
                actor, workspace, talk_clip, options={"plugins": {side: {"strength": 2}}}
            )
            submitted[side].append(job_id)
    submitted["either"] = [await platform.submit(actor, workspace, talk_clip) for _ in range(2)]

    every = [job_id for ids in submitted.values() for job_id in ids]
    done = await asyncio.gather(*(platform.wait_for(j, FINAL, timeout=120) for j in every))
    assert all(job.status is JobStatus.COMPLETED for job in done), [j.error for j in done]
    assert all(job.attempts == 1 for job in done)

    async def logged() -> bool:
        return all(any(ran_on(p, j) for p in workers.values()) for j in every)

    await wait_until(logged, timeout=10, message="completion lines in the workers' logs")
    for side in ("left", "right"):
        other = "right" if side == "left" else "left"
        for job_id in submitted[side]:
            assert ran_on(workers[side], job_id), f"{side} job {job_id}\n{workers[side].log()}"
            assert not ran_on(workers[other], job_id)

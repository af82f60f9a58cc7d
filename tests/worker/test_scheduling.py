"""Throughput and fairness: per-workspace cap, fair share between workspaces, priority."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.settings import Settings
from tests.worker.conftest import FAST_WORKER, Platform

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


def overlaps(jobs: list[VideoJob]) -> int:
    """How many jobs ran at the same time, at most (from their start/finish times)."""
    edges: list[tuple[float, int]] = []
    for job in jobs:
        assert job.started_at is not None
        assert job.finished_at is not None
        edges += [(job.started_at.timestamp(), 1), (job.finished_at.timestamp(), -1)]
    running = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture
def worker_settings(worker_settings: Settings) -> Settings:
    """One job per workspace at a time, so the cap decides what runs next."""
    return worker_settings.model_copy(update={"workspace_max_running": 1, **FAST_WORKER})


async def test_a_busy_workspace_does_not_starve_another(
    platform: Platform, talk_clip: Path
) -> None:
    busy_actor, busy = await platform.workspace(credits=10)
    other_actor, other = await platform.workspace(credits=10)
    busy_jobs = [await platform.submit(busy_actor, busy, talk_clip) for _ in range(4)]
    other_job = await platform.submit(other_actor, other, talk_clip)

    await platform.worker(concurrency=2)
    done = await asyncio.gather(
        *(platform.wait_for(job_id, FINAL, timeout=90) for job_id in [*busy_jobs, other_job])
    )
    assert all(job.status is JobStatus.COMPLETED for job in done), [j.error for j in done]
    busy_done = done[:-1]

    assert overlaps(busy_done) == 1, "the cap: one job of a workspace at a time"
    order = [job.id for job in sorted(done, key=lambda job: job.started_at or 0)]
    assert order.index(other_job) <= 1, (
        "the other workspace's job starts next to or right after the busy workspace's "
        "first job, not behind its backlog"
    )


async def test_a_higher_priority_workspace_goes_first_then_workspaces_take_turns(
    platform: Platform, talk_clip: Path
) -> None:
    normal_actor, normal = await platform.workspace(credits=10)
    vip_actor, vip = await platform.workspace(credits=10, priority=10)
    normal_jobs = [await platform.submit(normal_actor, normal, talk_clip) for _ in range(2)]
    third_actor, third = await platform.workspace(credits=10)
    normal_jobs.append(await platform.submit(third_actor, third, talk_clip))
    vip_job = await platform.submit(vip_actor, vip, talk_clip)  # queued last

    await platform.worker(concurrency=1)
    done = await asyncio.gather(
        *(platform.wait_for(job_id, FINAL, timeout=90) for job_id in [*normal_jobs, vip_job])
    )
    assert all(job.status is JobStatus.COMPLETED for job in done)
    order = [job.id for job in sorted(done, key=lambda job: job.started_at or 0)]
    assert overlaps(done) == 1, "concurrency 1: one job at a time"
    # Priority first; then round robin between equal workspaces, oldest job first.
    assert order == [vip_job, normal_jobs[0], normal_jobs[2], normal_jobs[1]]

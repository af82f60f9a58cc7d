"""Acceptance: `hushcut api`, two `hushcut worker` processes, PostgreSQL, Redis and S3;
ten jobs submitted through GraphQL, each processed exactly once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hushcut.core.models import CreditLedgerEntry, EmailOutbox, LedgerReason, VideoJob
from hushcut.core.runtime import Runtime
from tests.api.conftest import (
    ApiServer,
    Fakes,
    balance,
    fakes,
    follow_job,
    graphql,
    new_account,
    platform_settings,
    settings_env,
)
from tests.api.test_flow import CONFIRM, JOB, upload
from tests.servers import free_port
from tests.worker.conftest import own_redis_database
from tests.worker.media import media_duration
from tests.worker.processes import WorkerProcess

pytestmark = pytest.mark.services
__all__ = ["fakes"]  # the API tests' session fixture: fake Google and Stripe servers

JOBS_PER_ACCOUNT = 5


@dataclass
class Stack:
    api: ApiServer
    workers: list[WorkerProcess]


@pytest.fixture
def stack(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, fakes: Fakes
) -> Iterator[Stack]:
    settings = platform_settings(
        tmp_path,
        backend,
        request,
        fakes,
        log_level="INFO",
        redis_url=own_redis_database(request.getfixturevalue("services"), 2),
    )
    api = ApiServer(settings, "api").start()
    env = {**os.environ, **settings_env(settings), "HUSHCUT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    workers = [
        WorkerProcess(env, f"worker-{n}", "--concurrency", "2", "--metrics-port", str(free_port()))
        for n in range(2)
    ]
    try:
        yield Stack(api, workers)
    finally:
        for worker in workers:
            worker.stop()
        api.stop()


async def test_ten_jobs_through_graphql_on_two_workers_are_each_processed_once(
    stack: Stack, talk_clip: Path, tmp_path: Path
) -> None:
    for worker in stack.workers:
        assert await asyncio.to_thread(worker.ready.wait, 60), worker.log()
    runtime = await Runtime.start(stack.api.settings, upgrade=False)
    try:
        await _run(stack, runtime, talk_clip, tmp_path)
    finally:
        await runtime.close()


async def _run(stack: Stack, runtime: Runtime, clip: Path, tmp_path: Path) -> None:
    accounts = [await new_account(runtime, credits=JOBS_PER_ACCOUNT + 1) for _ in range(2)]
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=30) as client:
        submitted: list[tuple[Any, str]] = []
        for account in accounts:
            for _ in range(JOBS_PER_ACCOUNT):
                ticket = await upload(client, account.headers, account.workspace_id, clip)
                submitted.append((account, ticket["job"]["id"]))

        followers: list[asyncio.Task[list[dict[str, Any]]]] = []
        for account, job_id in submitted:
            subscribed = asyncio.Event()
            followers.append(
                asyncio.create_task(follow_job(stack.api, account.token, job_id, subscribed))
            )
            await asyncio.wait_for(subscribed.wait(), 15)
        for account, job_id in submitted:
            confirmed = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
            assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED", confirmed

        histories = await asyncio.wait_for(asyncio.gather(*followers), 120)
        for (account, job_id), history in zip(submitted, histories, strict=True):
            statuses = [event["status"] for event in history]
            assert statuses[-1] == "COMPLETED", (job_id, history)
            progress = [event["progress"] for event in history if event["status"] == "PROCESSING"]
            assert any(0 < value < 1 for value in progress), "subscribers see progress"

            job = (await graphql(client, JOB, {"id": job_id}, account.headers))["data"]["job"]
            download = await client.get(job["downloadUrl"])
            assert download.status_code == 200
            result = tmp_path / f"{job_id}.mp4"
            result.write_bytes(download.content)
            assert media_duration(result) < media_duration(clip) - 1.5

    async with runtime.session() as session:
        ids = [job_id for _, job_id in submitted]
        jobs = list((await session.scalars(select(VideoJob).where(VideoJob.id.in_(ids)))).all())
        ledger = list(
            (
                await session.execute(
                    select(CreditLedgerEntry.reason, CreditLedgerEntry.reference).where(
                        CreditLedgerEntry.reason.in_(
                            [LedgerReason.JOB_CHARGE, LedgerReason.JOB_REFUND]
                        )
                    )
                )
            ).all()
        )
        emails = list((await session.scalars(select(EmailOutbox.idempotency_key))).all())
    assert [job.attempts for job in jobs] == [1] * len(ids), "each job ran exactly once"
    assert sorted(reference for _, reference in ledger) == sorted(f"{i}:1" for i in ids)
    assert {reason for reason, _ in ledger} == {LedgerReason.JOB_CHARGE}
    for account in accounts:
        assert await balance(runtime, account.workspace_id) == 1
    assert sorted(emails) == sorted(f"job-{i}-run-1-completed" for i in ids)

    # Any number of workers share one queue: both took part, as their metrics show.
    completed = 0.0
    async with httpx.AsyncClient(timeout=10) as client:
        for worker in stack.workers:
            port = worker.args[worker.args.index("--metrics-port") + 1]
            page = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            done = _sample(page, 'hushcut_worker_jobs_total{outcome="completed"}')
            assert done >= 1, worker.log()
            completed += done
    assert completed == len(ids)


def _sample(page: str, name: str) -> float:
    """The value of one sample in a Prometheus text page (0 if absent)."""
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0

"""Worker benchmark: jobs per minute for one and two `hushcut worker` processes, queue latency.

Runs on the production stack, each part a real process: PostgreSQL, Redis and an S3
endpoint (moto) started on free ports, and `hushcut worker` subprocesses sharing them.
Jobs are short clips (6 s of talk1.mp4 at 320x180, REENCODE, preset ultrafast), so the
figures are about the queue and the job machinery more than about rendering.

- Throughput: ``--jobs`` jobs are uploaded first, then confirmed and enqueued at once
  (what ``confirmUpload`` does); jobs per minute = jobs / (last finish − first queue).
- Queue latency: with every worker idle, one job at a time is confirmed; latency is the
  job's ``started_at − queued_at`` (both stamped on this host's clock by the service
  layer: confirm_upload in this process, claim_job in the worker). Target p95 < 1 s.

Results are printed and written to bench/results/worker.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
MEDIA = ROOT.parent / "shared" / "media"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def clip() -> Path:
    from tests.worker.media import make_clip

    target = CACHE / "worker-clip-6s.mp4"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / "worker-clip-6s.partial.mp4"
        make_clip(MEDIA / "talk1.mp4", partial, 14.5, 20.5)
        partial.replace(target)
    return target


class Bench:
    """One configuration: a fresh database and bucket, ``workers`` worker processes."""

    def __init__(self, services: Any, workers: int, concurrency: int, source: Path) -> None:
        self.services = services
        self.workers = workers
        self.concurrency = concurrency
        self.source = source
        self.tmp = Path(tempfile.mkdtemp(prefix="hushcut-bench-worker-"))

    async def run(self, jobs: int, samples: int) -> dict[str, Any]:
        from hushcut.core.queue import RedisDispatcher
        from hushcut.core.runtime import Runtime
        from tests.platform import make_settings, new_member
        from tests.worker.processes import WorkerProcess, worker_env

        settings = make_settings(self.tmp, "services", self.services, workspace_max_running=1000)
        runtime = await Runtime.start(settings, upgrade=False)
        assert settings.redis_url is not None
        queue = RedisDispatcher(settings.redis_url)
        await queue.startup()
        env = worker_env(
            settings,
            WORKER_CONCURRENCY=str(self.concurrency),
            WORKSPACE_MAX_RUNNING="1000",
            JOB_LEASE_S="30",
            LOG_LEVEL="WARNING",
        )
        processes = [WorkerProcess(env, f"worker-{n}") for n in range(self.workers)]
        try:
            for process in processes:
                if not await asyncio.to_thread(process.ready.wait, 120):
                    raise RuntimeError(f"{process.name} did not start:\n{process.log()}")
            self.runtime, self.queue = runtime, queue
            self.actor, self.workspace = await new_member(
                runtime, credits=jobs + samples + 10 * self.workers
            )
            # Warm-up: each worker's first job pays for imports and plugin loading.
            await self.wait_all([await self.submit() for _ in range(self.workers * 2)])
            throughput = await self.throughput(jobs)
            latency = await self.latency(samples)
        finally:
            for process in processes:
                if process.process.poll() is None:
                    process.process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    await asyncio.to_thread(process.process.wait, 30)
                except Exception:
                    process.stop()
            await queue.shutdown()
            await runtime.close()
        return {
            "workers": self.workers,
            "concurrency_per_worker": self.concurrency,
            **throughput,
            **latency,
        }

    async def upload(self) -> str:
        from hushcut.core.services import jobs as job_service

        async with self.runtime.sessionmaker() as session:
            job = await job_service.create_job(
                session,
                self.actor,
                self.workspace,
                "talk.mp4",
                self.source.stat().st_size,
                "video/mp4",
                {"mode": "reencode", "preset": "ultrafast"},
            )
        await self.runtime.storage.upload_file(self.source, job.input_key, "video/mp4")
        return job.id

    async def confirm(self, job_id: str) -> None:
        from hushcut.core.services import jobs as job_service

        async with self.runtime.sessionmaker() as session:
            await job_service.confirm_upload(
                session, self.actor, job_id, self.source.stat().st_size
            )
        await self.queue.enqueue(job_id)

    async def submit(self) -> str:
        job_id = await self.upload()
        await self.confirm(job_id)
        return job_id

    async def wait_all(self, job_ids: list[str], *, started: bool = False) -> list[Any]:
        from sqlalchemy import select

        from hushcut.core.models import FINAL_STATUSES, JobStatus, VideoJob

        deadline = time.monotonic() + 600
        while True:
            async with self.runtime.sessionmaker() as session:
                rows = list(
                    (
                        await session.scalars(
                            select(VideoJob)
                            .where(VideoJob.id.in_(job_ids))
                            .execution_options(populate_existing=True)
                        )
                    ).all()
                )
            if started:
                done = all(job.started_at is not None for job in rows)
            else:
                done = all(job.status in FINAL_STATUSES for job in rows)
            if done and len(rows) == len(job_ids):
                if not started:
                    failed = [job.error for job in rows if job.status is not JobStatus.COMPLETED]
                    if failed:
                        raise RuntimeError(f"{len(failed)} job(s) did not complete: {failed[:3]}")
                return rows
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not finish within 10 minutes")
            await asyncio.sleep(0.01 if started else 0.1)

    async def throughput(self, jobs: int) -> dict[str, Any]:
        job_ids = [await self.upload() for _ in range(jobs)]
        await asyncio.gather(*(self.confirm(job_id) for job_id in job_ids))
        rows = await self.wait_all(job_ids)
        first = min(job.queued_at for job in rows)
        last = max(job.finished_at for job in rows)
        elapsed = (last - first).total_seconds()
        per_job = [(job.finished_at - job.started_at).total_seconds() for job in rows]
        return {
            "jobs": jobs,
            "elapsed_s": round(elapsed, 2),
            "jobs_per_minute": round(jobs / elapsed * 60, 1),
            "job_seconds_median": round(statistics.median(per_job), 2),
        }

    async def latency(self, samples: int) -> dict[str, Any]:
        values: list[float] = []
        for _ in range(samples):
            job_id = await self.submit()
            (job,) = await self.wait_all([job_id], started=True)
            values.append((job.started_at - job.queued_at).total_seconds())
            await self.wait_all([job_id])
        return {
            "latency_samples": samples,
            "latency_p50_s": round(percentile(values, 0.5), 3),
            "latency_p95_s": round(percentile(values, 0.95), 3),
            "latency_max_s": round(max(values), 3),
        }


def start_services() -> Any:
    from tests.conftest import Services
    from tests.servers import MotoServer, PostgresServer, RedisServer

    started: list[Any] = []
    try:
        for server in (PostgresServer(), RedisServer(), MotoServer()):
            started.append(server.start())
    except Exception:
        for server in started:
            server.stop()
        raise
    return Services(postgres=started[0], redis=started[1], s3=started[2])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the throughput run")
    parser.add_argument("--samples", type=int, default=20, help="queue latency samples")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="jobs each worker process runs at once"
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker process counts to measure, comma-separated"
    )
    args = parser.parse_args(argv)
    source = clip()
    services = start_services()
    results: list[dict[str, Any]] = []
    try:
        for count in (int(n) for n in args.workers.split(",")):
            print(f"  {count} worker process(es) x concurrency {args.concurrency} ...", flush=True)
            bench = Bench(services, count, args.concurrency, source)
            result = asyncio.run(bench.run(args.jobs, args.samples))
            results.append(result)
            print(
                f"  {count} worker(s): {result['jobs_per_minute']:6.1f} jobs/min "
                f"({result['jobs']} jobs in {result['elapsed_s']:.1f} s, "
                f"median job {result['job_seconds_median']:.2f} s); queue latency "
                f"p50 {result['latency_p50_s'] * 1000:.0f} ms, "
                f"p95 {result['latency_p95_s'] * 1000:.0f} ms, "
                f"max {result['latency_max_s'] * 1000:.0f} ms",
                flush=True,
            )
    finally:
        for server in (services.s3, services.redis, services.postgres):
            server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "worker",
        "input": "6 s of talk1.mp4 at 320x180, reencode, preset ultrafast",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    (RESULTS / "worker.json").write_text(json.dumps(report, indent=2) + "\n")
    worst_p95 = max(result["latency_p95_s"] for result in results)
    print(f"  queue latency p95 target < 1 s: {'met' if worst_p95 < 1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`hushcut worker` as a user runs it: one-line errors, jobs found from the database, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from hushcut.core.models import JobStatus
from tests.worker.conftest import Platform
from tests.worker.processes import WorkerProcess, worker_env

HUSHCUT = str(Path(sys.executable).with_name("hushcut"))


def test_bad_configuration_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "HUSHCUT_DATA_DIR": str(tmp_path), "WORKER_CONCURRENCY": "0"}
    result = subprocess.run(
        [HUSHCUT, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Error: invalid configuration: WORKER_CONCURRENCY: "
        "Input should be greater than or equal to 1"
    )


async def test_a_worker_process_finds_queued_jobs_in_the_database_and_stops_on_sigterm(
    platform: Platform, talk_clip: Path
) -> None:
    # The hint goes to this process's queue, which nobody reads: the worker process
    # (on the embedded backend, sharing only the data directory) finds the job through
    # its reconciler; on the services backend through Redis.
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    worker = WorkerProcess(worker_env(platform.settings), "worker", "--concurrency", "1")
    try:
        job = await platform.wait_for(job_id, {JobStatus.COMPLETED, JobStatus.FAILED}, timeout=90)
        assert job.status is JobStatus.COMPLETED, f"{job.error}\n{worker.log()}"
        worker.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.process.wait, 30)
        assert code == 0, worker.log()
        assert any("stopped" in line for line in worker.lines), worker.log()
    finally:
        worker.stop()

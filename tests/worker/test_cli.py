"""`hushcut worker` as a user runs it: one-line errors, jobs found from the database, SIGTERM."""

from __future__ import annotations

import asyncio
import json
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
        "error: invalid configuration: WORKER_CONCURRENCY: "
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


#: Secret values a worker's environment holds; none may ever reach its output.
SECRETS = {
    "RESEND_API_KEY": "re_worker_log_test_resend_secret",
    "S3_SECRET_ACCESS_KEY": "worker-log-test-s3-secret",
    "SESSION_SECRET": "worker-log-test-session-secret",
}


def _json_lines(lines: list[str]) -> list[dict[str, object]]:
    """Every line parsed as JSON (failing on any that is not), for LOG_JSON=1 output."""
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    return entries


def test_log_json_makes_startup_failures_json_lines_without_secrets(tmp_path: Path) -> None:
    password = "worker-log-test-db-password"
    env = {
        **os.environ,
        **SECRETS,
        "HUSHCUT_DATA_DIR": str(tmp_path),
        "LOG_JSON": "1",
        "LOG_LEVEL": "DEBUG",
        # Nothing listens on port 1: the worker cannot start and says so in one line.
        "DATABASE_URL": f"postgresql+asyncpg://hushcut:{password}@127.0.0.1:1/hushcut",
    }
    result = subprocess.run(
        [HUSHCUT, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    *logs, error = result.stderr.strip().splitlines()
    assert error.startswith("error: could not run the worker: "), result.stderr
    entries = _json_lines(logs)
    # LOG_LEVEL=DEBUG is honoured: asyncio's debug line about its selector is there.
    assert any(entry["level"] == "debug" for entry in entries), result.stderr
    assert all({"ts", "level", "logger", "message"} <= entry.keys() for entry in entries)
    for secret in [password, *SECRETS.values()]:
        assert secret not in result.stderr + result.stdout


def test_log_json_worker_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **SECRETS,
        "HUSHCUT_DATA_DIR": str(tmp_path),
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET"):
        env.pop(name, None)
    worker = WorkerProcess(env, "worker", "--concurrency", "1")
    try:
        assert worker.ready.wait(60), worker.log()
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(30) == 0, worker.log()
        worker._reader.join(10)
    finally:
        worker.stop()
    # The readiness notice is the CLI's own message to a person, not a log line.
    lines = [line for line in worker.lines if "running; Ctrl+C or SIGTERM" not in line]
    entries = _json_lines(lines)
    messages = [(entry["logger"], str(entry["message"])) for entry in entries]
    assert any(
        logger == "hushcut.worker.runner"
        and message.endswith("started: concurrency 1, queue in-process")
        for logger, message in messages
    ), messages
    assert any(
        logger == "hushcut.worker.runner" and message.endswith("stopped")
        for logger, message in messages
    ), messages
    assert not any(entry["level"] == "debug" for entry in entries), "LOG_LEVEL=INFO is honoured"
    output = "\n".join(worker.lines)
    for secret in SECRETS.values():
        assert secret not in output

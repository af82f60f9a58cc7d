"""Real `hushcut worker` processes for chaos tests, end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from hushcut.core.settings import Settings


class WorkerProcess:
    """A `hushcut worker` subprocess whose log is collected in the background."""

    def __init__(self, env: dict[str, str], name: str, *args: str) -> None:
        command = Path(sys.executable).with_name("hushcut")
        self.name = name
        self.args = args
        self.lines: deque[str] = deque(maxlen=500)
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [str(command), "worker", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            if "running; Ctrl+C or SIGTERM" in line:
                self.ready.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return "\n".join(list(self.lines)[-40:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process that shares ``settings``' services."""
    secret = settings.s3_secret_access_key
    env = {
        **os.environ,
        "HUSHCUT_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "S3_BUCKET": settings.s3_bucket or "",
        "S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "S3_REGION": settings.s3_region,
        "S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
        "SESSION_SECRET": "worker-test-secret",
        "JOB_LEASE_S": "2",
        "JOB_MAX_ATTEMPTS": "3",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    return env

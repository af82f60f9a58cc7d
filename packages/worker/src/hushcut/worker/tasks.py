"""taskiq tasks of the worker: small functions that hand a job hint to the processor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskiq import TaskiqDepends, TaskiqState
from taskiq.brokers.shared_broker import async_shared_broker

from hushcut.core.queue import PROCESS_JOB

if TYPE_CHECKING:
    from hushcut.worker.processor import JobProcessor


@async_shared_broker.task(task_name=PROCESS_JOB)
async def process_job(job_id: str, state: TaskiqState = TaskiqDepends()) -> None:
    """Process job ``job_id`` if this worker can claim it; otherwise do nothing.

    Idempotent per job id: the claim is one conditional update in the database, so a
    duplicate or late message (Redis redelivery, reconciler) finds the job held or
    final and returns without charging, uploading or emailing anything.
    """
    processor: JobProcessor = state.processor
    await processor.handle_hint(job_id)

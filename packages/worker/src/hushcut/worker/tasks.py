"""taskiq tasks of the worker: small functions that hand a job hint to the processor."""

from __future__ import annotations

import logging

from taskiq import AsyncBroker, TaskiqDepends, TaskiqState
from taskiq.brokers.shared_broker import async_shared_broker
from taskiq.exceptions import SendTaskError

from hushcut.worker.broker import REDIS_DOWN_ERRORS

logger = logging.getLogger(__name__)

#: Registered by name on every broker (shared task), so the API can send it without
#: importing the worker's runtime.
PROCESS_JOB = "hushcut.process_job"


@async_shared_broker.task(task_name=PROCESS_JOB)
async def process_job(job_id: str, state: TaskiqState = TaskiqDepends()) -> None:
    """Process job ``job_id`` if this worker can claim it; otherwise do nothing.

    Idempotent per job id: the claim is one conditional update in the database, so a
    duplicate or late message (Redis redelivery, reconciler) finds the job held or
    final and returns without charging, uploading or emailing anything.
    """
    await state.processor.handle_hint(job_id)


async def send_hint(broker: AsyncBroker, job_id: str) -> bool:
    """Send a ``process_job`` message; False (logged) if the queue is unreachable.

    Never raises for an outage: the job is QUEUED in the database already, and the
    reconciler of any idle worker finds it within seconds of the queue coming back.
    """
    try:
        await process_job.kicker().with_broker(broker).kiq(job_id)
    except SendTaskError as exc:
        if not isinstance(exc.__cause__, REDIS_DOWN_ERRORS):
            raise
        logger.warning("queue unreachable, hint for job %s not sent: %s", job_id, exc.__cause__)
        return False
    return True

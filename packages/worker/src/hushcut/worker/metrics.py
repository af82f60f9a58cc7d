"""Prometheus metrics of the worker: jobs processed, processing time, failures, queue latency.

Metrics live in prometheus_client's default registry. In ``hushcut up`` the worker runs
inside the API process, so the API's ``/metrics`` shows them. A separate ``hushcut
worker`` process either serves its own endpoint (``hushcut worker --metrics-port``) or,
when ``PROMETHEUS_MULTIPROC_DIR`` is set for every process, writes to the shared
directory that the API's ``/metrics`` aggregates (prometheus_client multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter(
    "hushcut_worker_jobs",
    "Jobs a worker finished handling, by outcome "
    "(completed, review, failed, canceled, released, lease_lost, error).",
    ["outcome"],
)
FAILURES = Counter(
    "hushcut_worker_job_failures",
    "Jobs marked FAILED, by kind (media, options, input, storage, transient, internal).",
    ["kind"],
)
RETRIES = Counter(
    "hushcut_worker_retries",
    "Transient errors retried within a job attempt, by operation.",
    ["operation"],
)
HINTS = Counter(
    "hushcut_worker_hints",
    "Queue messages received, by what they led to (claimed, skipped).",
    ["outcome"],
)
PROCESSING_SECONDS = Histogram(
    "hushcut_worker_processing_seconds",
    "Wall time from claim to final state of a job attempt.",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
)
QUEUE_LATENCY_SECONDS = Histogram(
    "hushcut_worker_queue_latency_seconds",
    "Time from QUEUED to claimed (PROCESSING) for a job's first attempt.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RUNNING = Gauge(
    "hushcut_worker_running_jobs",
    "Jobs this worker is running right now.",
    multiprocess_mode="livesum",
)

"""Prometheus metrics of what core does on its own: deleting data and running sweeps.

They live in prometheus_client's default registry, which ``/metrics`` of the API shows
(``hushcut up`` runs the sweeps in the API's process). A separate ``hushcut scheduler``
serves them itself (``--metrics-port``) or, with ``PROMETHEUS_MULTIPROC_DIR`` set for
every process, writes them where the API's ``/metrics`` aggregates them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELETIONS = Counter(
    "hushcut_deletions",
    "Deletions of data, by kind: input_expired, output_expired, upload_abandoned "
    "(retention sweeps), job_deleted, workspace_deleted, account_deleted (people).",
    ["kind"],
)
DELETED_OBJECTS = Counter(
    "hushcut_deleted_objects",
    "Storage objects and unfinished uploads removed, by why they went.",
    ["reason"],
)
SWEEPS = Counter(
    "hushcut_sweeps",
    "Runs of each scheduled sweep, by outcome (ok, error).",
    ["sweep", "outcome"],
)
SWEEP_LAST_SUCCESS = Gauge(
    "hushcut_sweep_last_success_timestamp_seconds",
    "When each sweep last finished without error (Unix time): alert when it lags.",
    ["sweep"],
    multiprocess_mode="max",
)

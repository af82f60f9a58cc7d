"""Prometheus metrics: request latency, GraphQL errors, and job figures read from the database."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from hushcut.core.models import JobStatus, VideoJob

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PROCESSING_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    if dialect == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(func.extract("epoch", end - start), Float)


class JobFigures(Collector):
    """Job counts by status, queue depth and processing times, refreshed before each scrape.

    The database is the source of truth for jobs, so every API instance reports the same
    figures whichever process ran the jobs.
    """

    def __init__(self) -> None:
        self.by_status: dict[str, int] = {}
        self.processing: list[int] = [0] * len(PROCESSING_BUCKETS)
        self.processing_count = 0
        self.processing_sum = 0.0

    async def refresh(self, session: AsyncSession) -> None:
        rows = await session.execute(
            select(VideoJob.status, func.count()).group_by(VideoJob.status)
        )
        counts = {status.value: 0 for status in JobStatus}
        for status, count in rows:
            counts[status.value if isinstance(status, JobStatus) else str(status)] = count
        self.by_status = counts
        dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
        duration = _seconds_between(VideoJob.started_at, VideoJob.finished_at, dialect)
        completed = VideoJob.status == JobStatus.COMPLETED
        columns = [func.count(case((duration <= bound, 1))) for bound in PROCESSING_BUCKETS]
        result = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(duration), 0.0), *columns).where(
                    completed, VideoJob.started_at.is_not(None), VideoJob.finished_at.is_not(None)
                )
            )
        ).one()
        self.processing_count = int(result[0])
        self.processing_sum = float(result[1])
        self.processing = [int(value) for value in result[2:]]

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("hushcut_jobs", "Jobs by status.", labels=["status"])
        for status, count in sorted(self.by_status.items()):
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "hushcut_queue_depth",
            "Jobs waiting for a worker (QUEUED).",
            value=self.by_status.get(JobStatus.QUEUED.value, 0),
        )
        yield GaugeMetricFamily(
            "hushcut_jobs_failed",
            "Jobs that ended FAILED.",
            value=self.by_status.get(JobStatus.FAILED.value, 0),
        )
        buckets = [
            (str(bound), float(count))
            for bound, count in zip(PROCESSING_BUCKETS, self.processing, strict=True)
        ]
        buckets.append(("+Inf", float(self.processing_count)))
        yield HistogramMetricFamily(
            "hushcut_job_processing_seconds",
            "Time from a worker starting a job to its completion.",
            buckets=buckets,
            sum_value=self.processing_sum,
        )


class ApiMetrics:
    """The metrics of one app, in a registry of its own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "hushcut_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "hushcut_graphql_errors",
            "GraphQL errors returned, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.subscribers = Gauge(
            "hushcut_job_event_subscribers",
            "Live jobUpdates subscriptions held by this process.",
            registry=self.registry,
        )
        self.jobs = JobFigures()
        self.registry.register(self.jobs)

    def watch_subscribers(self, count: Callable[[], int]) -> None:
        """Report how many live job-event subscriptions this process holds."""
        self.subscribers.set_function(count)

    def render(self) -> bytes:
        """This app's metrics plus the process-wide ones (the embedded worker's included)."""
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            shared = CollectorRegistry()
            multiprocess.MultiProcessCollector(shared)  # type: ignore[no-untyped-call, unused-ignore]
        else:
            shared = REGISTRY
        return generate_latest(self.registry) + generate_latest(shared)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Times every HTTP request, labelled by route template so labels stay few."""
        observe = self.request_seconds

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                route = scope.get("path_template") or "unmatched"
                observe.labels(scope.get("method", "GET"), route, str(status)).observe(
                    time.perf_counter() - started
                )

        return timed

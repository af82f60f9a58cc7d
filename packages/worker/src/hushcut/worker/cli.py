"""`hushcut worker`: run a worker process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from hushcut.core.cli import (
    cli_settings,
    data_dir_option,
    metrics_port_option,
    process_metrics,
    stop_on_signals,
)
from hushcut.core.db import SchemaOutdated
from hushcut.core.errors import ServiceError
from hushcut.core.logging_setup import configure_logging
from hushcut.core.settings import Settings
from hushcut.pipeline import PipelineError

logger = logging.getLogger("hushcut.worker")


async def serve(
    settings: Settings,
    *,
    concurrency: int | None,
    metrics_port: int | None,
    shutdown_grace_s: float,
) -> None:
    """Run one worker until the process is asked to stop, then stop it cleanly."""
    from hushcut.worker.runner import WorkerRunner

    stop = stop_on_signals()
    with process_metrics(metrics_port, settings.host, "worker"):
        runner = WorkerRunner(settings, concurrency=concurrency, shutdown_grace_s=shutdown_grace_s)
        await runner.start()
        click.echo(
            f"hushcut worker {runner.worker_id} running; Ctrl+C or SIGTERM to stop", err=True
        )
        try:
            await stop.wait()
        finally:
            await runner.stop()


@click.command("worker")
@data_dir_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs this worker runs at once (default: WORKER_CONCURRENCY, 2).",
)
@metrics_port_option("WORKER_METRICS_PORT", "this worker")
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds running jobs may take to finish on SIGTERM before they are handed back.",
)
def worker(
    data_dir: Path | None, concurrency: int | None, metrics_port: int | None, shutdown_grace: float
) -> None:
    """Process queued jobs until SIGTERM or SIGINT (then finish or hand back running jobs)."""
    settings = cli_settings(data_dir)
    configure_logging(settings.log_level, settings.log_json)
    try:
        asyncio.run(
            serve(
                settings,
                concurrency=concurrency,
                metrics_port=metrics_port,
                shutdown_grace_s=shutdown_grace,
            )
        )
    except (OSError, SchemaOutdated, ServiceError, PipelineError) as exc:
        # Cannot reach a service, schema not upgraded, a plugin that fails to load...
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"could not run the worker: {message}") from None

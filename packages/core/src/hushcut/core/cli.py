"""`hushcut db`, `token`, `storage` and `scheduler`: the platform's shell commands that need
core only (schema upgrades, API tokens, bucket set-up, the scheduled sweeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from hushcut.core.errors import ServiceError
from hushcut.core.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HUSHCUT_DATA_DIR",
    default=None,
    help="Directory of the embedded state (default: $HUSHCUT_DATA_DIR or ./.hushcut).",
)


def cli_settings(data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings for a command: the environment, then its options; a bad value is one line
    naming its environment variable (``invalid configuration: PORT: ...``)."""
    try:
        return load_settings(data_dir, **overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        variables = Settings.environment_variables()
        where = variables.get(field, ".".join(str(part) for part in error["loc"]) or "settings")
        raise click.ClickException(f"invalid configuration: {where}: {error['msg']}") from None
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {_first_line(exc)}") from None


def _settings(data_dir: Path | None) -> Settings:
    return cli_settings(data_dir)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _database_errors() -> tuple[type[BaseException], ...]:
    import asyncpg
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _database_failure(exc: BaseException) -> click.ClickException:
    # SQLAlchemy wraps driver errors as "(driver.Error) message" plus SQL and a link;
    # the first line is what a person needs.
    message = _first_line(getattr(exc, "orig", None) or exc)
    if message.startswith("relation ") or "no such table" in message:
        message += " (is the schema up to date? run `hushcut db upgrade`)"
    return click.ClickException(f"database error: {message}")


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: Path | None) -> None:
    """Apply every pending migration (the release step of a deployment)."""
    from hushcut.core.db import current_revision, upgrade_database

    settings = _settings(data_dir)

    async def run() -> str | None:
        await upgrade_database(settings)
        return await current_revision(settings)

    try:
        revision = asyncio.run(run())
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {_first_line(exc)}") from None
    except _database_errors() as exc:
        raise _database_failure(exc) from None
    click.echo(f"database at revision {revision}")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the schema change does.")
@data_dir_option
def db_revision(message: str, data_dir: Path | None) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    from hushcut.core.db import run_alembic, upgrade_database

    settings = _settings(data_dir)

    async def run() -> None:
        await upgrade_database(settings)
        await run_alembic(settings, command.revision, message=message, autogenerate=True)

    asyncio.run(run())


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--email", required=True, help="The token's user; created if new.")
@click.option(
    "--workspace",
    "workspace_name",
    default=None,
    help="Workspace name; created if the user has none by that name (default: Personal).",
)
@click.option(
    "--credits",
    type=click.IntRange(min=0),
    default=None,
    help="Set the workspace's balance to this many credits (a ledger adjustment).",
)
@click.option("--name", "token_name", default="cli", show_default=True, help="Token label.")
@data_dir_option
def token_create(
    email: str,
    workspace_name: str | None,
    credits: int | None,
    token_name: str,
    data_dir: Path | None,
) -> None:
    """Create an API token, with its user and workspace if needed.

    The token is printed alone on the last line; it is shown only this once.
    """
    settings = _settings(data_dir)
    try:
        workspace, balance, plaintext = asyncio.run(
            _create_token(settings, email, workspace_name or "Personal", credits, token_name)
        )
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {_first_line(exc)}") from None
    except _database_errors() as exc:
        raise _database_failure(exc) from None
    click.echo(f"workspace: {workspace} ({balance} credits)")
    click.echo(plaintext)


async def _create_token(
    settings: Settings,
    email: str,
    workspace_name: str,
    credits: int | None,
    token_name: str,
) -> tuple[str, int, str]:
    from hushcut.core.db import create_engine, create_sessionmaker, upgrade_database
    from hushcut.core.services import credits as credit_service
    from hushcut.core.services import tokens, workspaces
    from hushcut.core.services.auth import Actor

    if settings.is_sqlite:
        await upgrade_database(settings)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await workspaces.get_or_create_user(session, email)
            actor = Actor(user.id)
            workspace = await workspaces.find_workspace_by_name(session, actor, workspace_name)
            if workspace is None:
                workspace = await workspaces.create_workspace(
                    session, actor, workspace_name, starter_credits=settings.starter_credits
                )
            if credits is not None:
                await credit_service.set_credits(
                    session, workspace.id, credits, note="set by hushcut token create"
                )
            balance = await credit_service.get_balance(session, workspace.id)
            _row, plaintext = await tokens.create_api_token(
                session, actor, workspace.id, token_name
            )
            return f"{workspace.name} {workspace.id}", balance, plaintext
    finally:
        await engine.dispose()


# --- storage ------------------------------------------------------------------------------


@click.group()
def storage() -> None:
    """Object storage set-up: the bucket's CORS rule, and a check of the whole set-up."""


def _origins(settings: Settings, origins: tuple[str, ...]) -> list[str]:
    from hushcut.core.storage_setup import origin_of

    try:
        return [origin_of(origin) for origin in origins or (settings.app_url,)]
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None


@storage.command("cors")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="Origin browsers upload from (repeatable; default: APP_URL).",
)
@data_dir_option
def storage_cors(origins: tuple[str, ...], data_dir: Path | None) -> None:
    """Let browsers PUT and GET the bucket's objects from the web app (PutBucketCors).

    Replaces Hushcut's own rule and keeps any other rule the bucket has.
    """
    from hushcut.core.storage import create_storage
    from hushcut.core.storage_setup import set_cors

    settings = _settings(data_dir)
    allowed = _origins(settings, origins)

    async def run() -> dict[str, Any]:
        bucket = create_storage(settings)
        try:
            return await set_cors(bucket, allowed)
        finally:
            await bucket.close()

    try:
        rule = asyncio.run(run())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    except Exception as exc:
        raise click.ClickException(f"could not set the CORS rule: {_storage_error(exc)}") from None
    click.echo(
        f"bucket {settings.s3_bucket}: {', '.join(rule['AllowedOrigins'])} may "
        f"{', '.join(rule['AllowedMethods'])} objects"
    )


@storage.command("check")
@click.option(
    "--origin",
    default=None,
    metavar="URL",
    help="Origin the web app is served from (default: APP_URL).",
)
@data_dir_option
def storage_check(origin: str | None, data_dir: Path | None) -> None:
    """Check storage for Hushcut, one line per check: credentials, bucket, CORS, and a
    presigned PUT/GET round trip. Exit status 1 if any check fails."""
    from hushcut.core.storage import create_storage
    from hushcut.core.storage_setup import check_storage

    settings = _settings(data_dir)
    browser_origin = _origins(settings, (origin,) if origin else ())[0]

    async def run() -> bool:
        bucket = create_storage(settings)
        passed = True
        try:
            async for check in check_storage(bucket, browser_origin):
                click.echo(check.line())
                passed = passed and check.ok
        finally:
            await bucket.close()
        return passed

    try:
        passed = asyncio.run(run())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    if not passed:
        raise SystemExit(1)


def _storage_error(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "refused")
    return _first_line(exc)


# --- long-running processes -------------------------------------------------------------


def metrics_port_option(envvar: str, what: str) -> Callable[[F], F]:
    """The ``--metrics-port`` option of a long-running command (also from ``envvar``)."""
    return click.option(
        "--metrics-port",
        type=click.IntRange(min=1, max=65535),
        envvar=envvar,
        default=None,
        help=f"Serve Prometheus metrics of {what} on this port (env {envvar}).",
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a process that runs until asked to stop."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


@contextmanager
def process_metrics(port: int | None, host: str, what: str) -> Iterator[None]:
    """Serve this process's metrics on ``port`` (when given) while the block runs.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, the process's live gauges stop counting when
    the block ends (the API's ``/metrics`` aggregates every process's files).
    """
    import logging
    import os

    if port is not None:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)
        logging.getLogger("hushcut").info("%s metrics on http://%s:%d/metrics", what, host, port)
    try:
        yield
    finally:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@click.command("scheduler")
@data_dir_option
@click.option("--once", is_flag=True, help="Run every sweep once, print what each did, exit.")
@metrics_port_option("SCHEDULER_METRICS_PORT", "the sweeps")
def scheduler(data_dir: Path | None, once: bool, metrics_port: int | None) -> None:
    """Run the scheduled sweeps (retention, abandoned uploads, storage purges) until
    SIGTERM or SIGINT: one such process per deployment (two are harmless)."""
    from hushcut.core.db import SchemaOutdated
    from hushcut.core.logging_setup import configure_logging

    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_json)
    try:
        ok = asyncio.run(_run_scheduler(settings, once=once, metrics_port=metrics_port))
    except (OSError, SchemaOutdated, ServiceError) as exc:
        raise click.ClickException(f"could not run the scheduler: {_first_line(exc)}") from None
    except _database_errors() as exc:
        raise _database_failure(exc) from None
    if not ok:
        raise SystemExit(1)


async def _run_scheduler(settings: Settings, *, once: bool, metrics_port: int | None) -> bool:
    from hushcut.core.runtime import Runtime
    from hushcut.core.scheduler import Sweeper, SweepScheduler

    runtime = await Runtime.start(settings)
    try:
        if once:
            reports = await Sweeper(runtime).run_all()
            for name, report in reports.items():
                if report is None:
                    click.echo(f"{name}: failed (see the log)")
                else:
                    click.echo(
                        f"{name}: {report.handled} handled, {report.objects} objects deleted"
                    )
            return all(report is not None for report in reports.values())
        stop = stop_on_signals()
        with process_metrics(metrics_port, settings.host, "scheduler"):
            async with SweepScheduler(runtime):
                click.echo(
                    f"hushcut scheduler running: sweeps every {settings.sweep_interval_s}s; "
                    "Ctrl+C or SIGTERM to stop",
                    err=True,
                )
                await stop.wait()
        return True
    finally:
        await runtime.close()

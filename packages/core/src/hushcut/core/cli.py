"""`hushcut db` and `hushcut token`: schema upgrades and API tokens from the shell."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from hushcut.core.errors import ServiceError
from hushcut.core.settings import Settings, load_settings

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

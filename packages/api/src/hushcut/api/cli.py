"""`hushcut api`: the HTTP API alone (``hushcut up``, API plus a worker, is hushcut.platform's)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hushcut.core.cli import cli_settings, data_dir_option
from hushcut.core.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

logger = logging.getLogger("hushcut.api")

host_option = click.option(
    "--host", default=None, help="Address to listen on (default: HOST, 127.0.0.1)."
)
port_option = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: PORT, 8000).",
)


def server_settings(data_dir: Path | None, host: str | None, port: int | None) -> Settings:
    """Settings of a server process: the environment, then the command's options."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = cli_settings(data_dir, **overrides)
    if "app_url" not in settings.model_fields_set:
        # Without APP_URL the server's own address is its public one, which local
        # storage URLs and OAuth redirects are built from.
        shown = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host
        settings.app_url = f"http://{shown}:{settings.port}"
    return settings


def serve(settings: Settings, app: Litestar, *, announce: bool) -> None:
    """Run uvicorn with ``app`` until SIGINT/SIGTERM (uvicorn handles the signals)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
        ws_ping_interval=20.0,
        # X-Forwarded-For is believed only from TRUSTED_PROXIES, by the rate-limit
        # middleware; uvicorn's own handling trusts loopback (or FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if announce:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            if server.started:
                for line in welcome(settings):
                    click.echo(line)
                sys.stdout.flush()

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl+C, then raises it again; that is a normal stop.
        if server.started:
            click.echo("Hushcut stopped.")
            return
        raise
    if not server.started:
        raise click.ClickException(f"could not start the server on {settings.host}:{settings.port}")


def welcome(settings: Settings) -> list[str]:
    """What the server says once it answers: where to go, and how to get in."""
    lines = [
        f"Hushcut is running at {settings.app_url}  (Ctrl+C to stop)",
        f"  Open {settings.app_url} in your browser to sign in, upload and download.",
    ]
    if settings.google_client_id is None:
        default_dir = settings.data_dir == Path(".hushcut")
        data_dir = "" if default_dir else f" --data-dir {settings.data_dir}"
        lines.append(
            "  Sign in with an API token, made in another terminal by:"
            f" uv run hushcut token create --email you@example.com{data_dir}"
        )
    lines.append(f"  GraphQL API (GraphiQL in a browser): {settings.app_url}/graphql")
    return lines


@click.group("api", invoke_without_command=True)
@host_option
@port_option
@data_dir_option
@click.option(
    "--migrate",
    is_flag=True,
    default=False,
    help="Upgrade the database schema before serving (always done for SQLite).",
)
@click.pass_context
def api(
    ctx: click.Context, host: str | None, port: int | None, data_dir: Path | None, migrate: bool
) -> None:
    """Serve the GraphQL API (with uvicorn); `hushcut api schema` prints its SDL."""
    if ctx.invoked_subcommand is not None:
        return
    from hushcut.api.app import create_app

    settings = server_settings(data_dir, host, port)
    serve(settings, create_app(settings, migrate=migrate or None), announce=True)


@api.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the SDL to this file instead of stdout.",
)
def schema_command(output: Path | None) -> None:
    """Print the GraphQL schema (SDL) that docs/schema.graphql must match."""
    from hushcut.api.schema_export import export_sdl

    sdl = export_sdl()
    if output is None:
        click.echo(sdl, nl=False)
    else:
        output.write_text(sdl)

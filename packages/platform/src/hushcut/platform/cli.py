"""`hushcut up`: the whole platform in one process (API plus a worker) on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import click

from hushcut.api.cli import host_option, port_option, serve, server_settings
from hushcut.core.cli import data_dir_option


@click.command("up")
@host_option
@port_option
@data_dir_option
def up(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the whole platform in one process: API plus a worker, on embedded defaults."""
    from hushcut.platform import create_platform_app

    settings = server_settings(data_dir, host, port)
    serve(settings, create_platform_app(settings), announce=True)

"""Command line of the pipeline library: `hushcut cut`, `hushcut detect`, `hushcut plugins`."""

from __future__ import annotations

import click

from hushcut.pipeline.commands import HushcutGroup


@click.group(cls=HushcutGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hushcut-pipeline", prog_name="hushcut")
def main() -> None:
    """Hushcut removes silences from talking videos."""

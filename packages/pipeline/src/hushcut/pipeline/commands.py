"""The one `hushcut` command: its own subcommands plus those other distributions register."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

COMMANDS_GROUP = "hushcut.commands"


class HushcutGroup(click.Group):
    """A click group that also offers the commands of installed Hushcut distributions.

    Platform packages (core, api, worker) register click commands in the
    ``hushcut.commands`` entry-point group, so ``hushcut cut`` works with
    ``hushcut-pipeline`` alone and ``hushcut up`` appears once the platform is
    installed. Entry points are loaded only when a command is looked up, which
    keeps ``hushcut cut`` from importing the web stack.
    """

    def _entry_points(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        loaded = ep.load()  # type: ignore[attr-defined]
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {cmd_name!r} is not a click command")
        return loaded

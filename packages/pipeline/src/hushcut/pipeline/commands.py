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
        try:
            loaded = ep.load()  # type: ignore[attr-defined]
        except Exception as exc:
            # A broken platform install must not take `hushcut --help` or `hushcut cut`
            # down with it: the command stays listed and says why it cannot run.
            return unavailable_command(cmd_name, f"{type(exc).__name__}: {exc}")
        if not isinstance(loaded, click.Command):
            return unavailable_command(cmd_name, f"entry point {ep.value} is not a click command")  # type: ignore[attr-defined]
        return loaded


def unavailable_command(name: str, reason: str) -> click.Command:
    """A stand-in for a command that failed to load: listed in help, fails in one line."""
    reason = " ".join(reason.split())

    def explain() -> None:
        click.echo(f"error: the {name!r} command is unavailable: {reason}", err=True)
        raise SystemExit(1)

    return click.Command(
        name,
        callback=explain,
        help=f"Unavailable: {reason}",
        short_help=f"(unavailable: {reason})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )

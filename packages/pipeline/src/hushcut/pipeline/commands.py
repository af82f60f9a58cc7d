"""The one `hushcut` command: its own subcommands plus those other distributions register."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, NoReturn

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

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Run the command; a usage error (click's own included: an unknown option, a bad
        value, a missing argument) is one ``error:`` line on stderr and exit status 1."""
        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            usage_error("interrupted", code=130)
        except click.exceptions.NoArgsIsHelpError as exc:
            # `hushcut` alone asks for help rather than making a mistake.
            click.echo(exc.ctx.get_help() if exc.ctx else "")
            sys.exit(0)
        except click.ClickException as exc:
            usage_error(exc.format_message())
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)

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


def usage_error(message: str, code: int = 1) -> NoReturn:
    """``error: <message>`` on one line (click's messages may span several), then exit."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


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

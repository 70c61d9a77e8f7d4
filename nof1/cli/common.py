"""Shared pieces of the CLI: error translation, the trial option, passphrase reading."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from nof1.errors import Nof1Error


class Nof1Group(click.Group):
    """A click group that turns library errors into one ``Error: ...`` line, exit 1.

    Library code raises ``Nof1Error`` subclasses and never prints; this is the one place
    where they meet the user. Unexpected exceptions keep their traceback (they are bugs).

    Commands load lazily: ``lazy_commands`` maps a command name to the module of
    ``nof1.cli`` that defines it (and registers it on this group when imported).
    """

    lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(f"nof1.cli.{self.lazy_commands[cmd_name]}")
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Nof1Error as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted: nothing was saved for the command in progress.", err=True)
            sys.exit(130)


def trial_option():
    """The ``--trial DIR`` option (default: the current folder)."""
    return click.option(
        "--trial",
        "trial",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        show_default=True,
        help="The trial folder.",
    )


def read_passphrase(path: Path | None, confirm: bool = False) -> str:
    """Read the helper's passphrase from the first line of a file, or ask for it hidden."""
    if path is None:
        return click.prompt(
            "Helper's passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read passphrase file {path}: {exc.strerror}") from None
    lines = text.splitlines()
    phrase = lines[0].strip() if lines else ""
    if not phrase:
        raise click.ClickException(f"passphrase file {path} is empty")
    return phrase


def passphrase_option():
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="File whose first line is the helper's passphrase (asked for, hidden, if omitted).",
    )

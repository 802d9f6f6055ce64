"""Check a ``creditpay ...`` command line against the real command tree (the click command
Typer builds): every sub-command and every ``--option`` it names must exist."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from typer.main import get_command

from creditpay.cli import app


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A group's sub-commands by name (None for a command). Duck-typed: Typer builds its
    commands on a click of its own, not always the installed ``click`` package's classes."""
    commands = getattr(command, "commands", None)
    return commands if isinstance(commands, dict) else None


def unknown_parts(args: Sequence[str]) -> list[str]:
    """The parts of ``creditpay ARGS`` the CLI does not have (empty: the command exists and
    takes every option given)."""
    command: Any = get_command(app)
    rest = list(args)
    while rest and _subcommands(command) is not None and not rest[0].startswith("-"):
        sub = _subcommands(command).get(rest[0])  # type: ignore[union-attr]
        if sub is None:
            return [rest[0]]
        command = sub
        rest.pop(0)
    if _subcommands(command) is not None:
        return ["(a command group, not a command)"]
    options = {opt for param in command.params
               for opt in (*param.opts, *getattr(param, "secondary_opts", ()))}
    return [arg.split("=", 1)[0] for arg in rest
            if arg.startswith("--") and arg.split("=", 1)[0] not in options]


def split(line: str) -> list[str]:
    """``creditpay a b --c`` as the arguments after ``creditpay``."""
    words = shlex.split(line)
    assert words and words[0] == "creditpay", line
    return words[1:]

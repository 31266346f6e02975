"""The Typer app behind `durasumi`: a root group that imports each command when it runs.

:data:`durasumi.cli.main.COMMANDS` says where each command lives; ``--help`` output has no
Python type names (metavars everywhere, see :func:`plain_help`).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from durasumi.cli.main import ABOUT, ADDRESS, COMMANDS, NAMESPACE

__all__ = ["HELP_OPTIONS", "LazyGroup", "app", "command_group", "load_command", "plain_help"]

HELP_OPTIONS = ["-h", "--help"]


class LazyGroup(TyperGroup):
    """The root command: subcommands are imported when they run, not to be listed."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, in :data:`COMMANDS` order."""
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, imported now."""
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The root help, listing the commands from :data:`COMMANDS` (see cli/help.py)."""
        from durasumi.cli.help import print_root_help

        print_root_help()

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Completions: command names from :data:`COMMANDS`, then the root's options."""
        from typer.core import CompletionItem

        names = [
            CompletionItem(name, help=entry.help)
            for name, entry in COMMANDS.items()
            if name.startswith(incomplete)
        ]
        return names + TyperCommand.shell_complete(self, ctx, incomplete)


def load_command(name: str) -> Any:
    """Import command ``name`` and build its click command (a group for ``keys`` etc.)."""
    module_name, attribute = COMMANDS[name].target.split(":")
    target = getattr(importlib.import_module(f"durasumi.cli.{module_name}"), attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand (db)
        command.name = name
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    plain_help(command)
    return command


def plain_help(command: Any) -> None:
    """Help without Python type names: metavars for every value, none for flags.

    Typer shows an option's or argument's Python type (``<str>``, ``<list[str]>``,
    ``--help <bool>``) unless it has a metavar; the commands set meaningful ones
    (``JOB_ID``, ``KEY=VALUE``), this fills in the rest.
    """
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_OPTIONS))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _metavar(param)
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper() if param.name else "VALUE"
            # An argument's type column ignores its metavar: leave it empty.
            param.display_type_rich = _no_type  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


def _no_type(ctx: Any) -> str | None:
    return None


def _metavar(param: TyperOption) -> str:
    described = param.type_descriptor
    if described.is_choice and described.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in described.choices) + "]"
    names = {int: "INTEGER", float: "NUMBER", bool: "BOOLEAN"}
    kind = described.annotation
    if described.is_path:
        return "PATH"
    return names.get(kind, "TEXT") if isinstance(kind, type) else "TEXT"


app = typer.Typer(
    name="durasumi",
    cls=LazyGroup,
    help=ABOUT,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)


@app.callback()
def _root(
    ctx: typer.Context,
    address: Annotated[
        str | None,
        typer.Option(ADDRESS.long, metavar=ADDRESS.metavar, help=ADDRESS.help),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            NAMESPACE.long, NAMESPACE.short, metavar=NAMESPACE.metavar, help=NAMESPACE.help
        ),
    ] = None,
) -> None:
    """Keep the global options; the settings are read by the first command that needs them."""
    from durasumi.cli.context import Ctx

    if ctx.resilient_parsing:
        return
    ctx.obj = Ctx(address=address, namespace=namespace)


def command_group() -> Any:
    """The root click command, help made plain."""
    command = typer.main.get_command(app)
    plain_help(command)
    return command

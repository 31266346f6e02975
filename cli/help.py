"""`durasumi --help`, drawn as Typer draws it, without importing Typer.

Typer itself takes ~90 ms to import and its help module (``typer.rich_utils``, which
loads rich's Markdown and Traceback) another ~70 ms, half the root help's 300 ms budget.
This draws the same panels with the same styles from :data:`durasumi.cli.main.ROOT_OPTIONS`
and :data:`~durasumi.cli.main.COMMANDS`; ``tests/test_cli_help.py`` checks that the output
is identical to Typer's help of the real root command, in colour and without. Every
subcommand keeps Typer's own help.
"""

from __future__ import annotations

import inspect
import os
from typing import Literal

from rich.align import Align
from rich.columns import Columns
from rich.console import Console, Group
from rich.highlighter import RegexHighlighter
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from durasumi.cli.main import ABOUT, COMMANDS, ROOT_OPTIONS

__all__ = ["print_root_help"]

# typer.rich_utils' styles and strings, as of typer 0.29.
_THEME = {
    "option": "bold cyan",
    "switch": "bold green",
    "negative_option": "bold magenta",
    "negative_switch": "bold red",
    "types": "bold yellow",
    "types_sep": "dim",
    "usage": "yellow",
}
_PANEL_BORDER = "dim"
_ALIGN: Literal["left"] = "left"
_FIRST_COLUMN = "bold cyan"
_TYPES = "bold yellow"
USAGE = "Usage: durasumi [OPTIONS] COMMAND [ARGS]..."


class _Options(RegexHighlighter):
    highlights = [
        r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
        r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
        r"(?P<types>\<[^\>]+\>)",
        r"(?P<usage>Usage: )",
    ]


class _Negative(RegexHighlighter):
    highlights = [
        r"(^|\W)(?P<negative_switch>\-\w+)(?![a-zA-Z0-9])",
        r"(^|\W)(?P<negative_option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
    ]


class _Types(RegexHighlighter):
    highlights = [
        r"^(?P<types_sep>(\[|<))",
        r"(?P<types_sep>\|)",
        r"(?P<types_sep>(\]|>))(\.\.\.)?$",
    ]


_highlight = _Options()
_negative = _Negative()
_types = _Types()


def _console() -> Console:
    force = True if os.getenv("GITHUB_ACTIONS") or os.getenv("FORCE_COLOR") else None
    force = True if os.getenv("PY_COLORS") else force
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    width = os.getenv("TERMINAL_WIDTH")
    return Console(
        theme=Theme(_THEME),
        highlighter=_highlight,
        color_system="auto",
        force_terminal=force,
        width=int(width) if width else None,
    )


def _text(text: str, style: str = "") -> Text:
    return _highlight(Text.from_markup(inspect.cleandoc(text), style=style))


def print_root_help() -> None:
    """Print the root command's help: usage, options, then the commands by panel."""
    console = _console()
    console.print(Padding(_highlight(USAGE), 1), style="bold")
    console.print(Padding(Align(Group(_text(ABOUT)), pad=False), (0, 1, 1, 1)))
    options = _table(highlight=True)
    for option in ROOT_OPTIONS:
        options.add_row(
            _highlight(option.long),
            _highlight(option.short),
            _negative(""),
            _negative(""),
            _types(Text(option.metavar, style=_TYPES, overflow="fold")),
            Columns([_text(option.help)]),
        )
    console.print(Panel(options, border_style=_PANEL_BORDER, title="Options", title_align=_ALIGN))
    panels: dict[str, list[tuple[str, str]]] = {}
    for name, entry in COMMANDS.items():
        panels.setdefault(entry.panel, []).append((name, entry.help))
    width = max(len(name) for name in COMMANDS)
    for title, rows in panels.items():
        table = _table(highlight=False)
        table.add_column(style=_FIRST_COLUMN, no_wrap=True, width=width)
        table.add_column("Description", justify="left", no_wrap=False, ratio=10)
        for name, text in rows:
            table.add_row(Text(name), _text(text))
        console.print(Panel(table, border_style=_PANEL_BORDER, title=title, title_align=_ALIGN))


def _table(*, highlight: bool) -> Table:
    return Table(
        highlight=highlight,
        show_header=False,
        expand=True,
        box=None,
        show_lines=False,
        leading=0,
        row_styles=None,
        border_style=None,
        pad_edge=False,
        padding=(0, 1),
    )

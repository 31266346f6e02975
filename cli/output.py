"""Terminal output: results to stdout, errors as one line to stderr, exit codes.

Exit codes: 0 success, 1 a failure (unreachable server, failed job), 2 usage or bad input.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console

__all__ = ["BAD_INPUT", "FAILURE", "console", "err_console", "fail", "print_json"]

BAD_INPUT = 2
FAILURE = 1

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = FAILURE, details: list[str] | None = None) -> NoReturn:
    """Print ``error: message`` (and indented details) to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    for line in details or []:
        err_console.print(f"  {line}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    """Print ``value`` (a model, a list of models or plain data) as JSON on stdout."""
    console.print_json(json.dumps(_plain(value), default=str))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

"""Terminal output: results to stdout, errors as one line to stderr, exit codes.

Exit codes: 0 success, 1 a failure (unreachable server, failed job), 2 usage or bad input.
Under ``--json`` an error is one JSON object on stderr, ``{"error": code, "message": ...}``
(plus ``details`` when there are any), with the same exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

__all__ = [
    "BAD_INPUT",
    "FAILURE",
    "console",
    "err_console",
    "fail",
    "json_errors",
    "print_error",
    "print_json",
    "status_text",
]

BAD_INPUT = 2
FAILURE = 1

console = Console()
err_console = Console(stderr=True)

# Job statuses (JobStatus values) and how they look; unknown values print plain.
STATUS_STYLE = {
    "awaiting_payment": "yellow",
    "awaiting_input": "bold magenta",
    "running": "cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "red",
}

_json_errors = False


def json_errors(on: bool = True) -> None:
    """Print errors as JSON from now on (a command was given ``--json``)."""
    global _json_errors
    _json_errors = on


def print_error(
    message: str,
    code: int = FAILURE,
    details: list[str] | None = None,
    *,
    error: str | None = None,
) -> None:
    """Print an error to stderr: ``error: message`` plus details, or one JSON object."""
    if _json_errors:
        body: dict[str, Any] = {
            "error": error or ("bad_input" if code == BAD_INPUT else "failure"),
            "message": message,
        }
        if details:
            body["details"] = details
        sys.stderr.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    for line in details or []:
        err_console.print(f"  {line}", highlight=False, soft_wrap=True)


def fail(
    message: str,
    code: int = FAILURE,
    details: list[str] | None = None,
    *,
    error: str | None = None,
) -> NoReturn:
    """Print the error (see :func:`print_error`) and exit with ``code``.

    Args:
        message: One line for a human.
        code: The exit code: ``FAILURE`` (1) or ``BAD_INPUT`` (2).
        details: Further lines (a refused form's field errors).
        error: A short machine-readable code for ``--json`` (default from ``code``).
    """
    print_error(message, code, details, error=error)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    """Print ``value`` (a model, a list of models or plain data) as JSON on stdout."""
    console.print_json(json.dumps(_plain(value), default=str))


def status_text(status: str) -> str:
    """A job status as rich markup, in its colour."""
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):  # a pydantic model (pydantic is not imported for this)
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

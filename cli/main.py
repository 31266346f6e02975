"""The `durasumi` command line: one Typer app (cli/app.py), one module per group of commands.

Commands load when they run. The command list lives here, in :data:`COMMANDS`, so that
``durasumi --help`` prints it without importing Typer's app or a single command module
(cli/help.py), and each command module imports what it needs (the Temporal SDK, the app
database, FastAPI) inside its functions: a command pays only for itself (docs/benchmarks.md,
"CLI start-up").
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

__all__ = ["ABOUT", "COMMANDS", "ROOT_OPTIONS", "Entry", "RootOption", "main"]

ABOUT = "Durable, paid, interactive AI agents on Temporal."


class Entry(NamedTuple):
    """Where a command lives, and its one line for ``durasumi --help``."""

    target: str  # module:attribute under durasumi.cli (a function, or a Typer of subcommands)
    help: str
    panel: str


class RootOption(NamedTuple):
    """An option of the root command as ``durasumi --help`` lists it."""

    long: str
    short: str
    metavar: str
    help: str


ADDRESS = RootOption(
    "--address",
    "",
    "HOST:PORT",
    "Temporal's frontend; overrides DURASUMI_TEMPORAL_ADDRESS and the profile.",
)
NAMESPACE = RootOption(
    "--namespace",
    "-n",
    "NAME",
    "Temporal namespace; overrides DURASUMI_TEMPORAL_NAMESPACE and the profile.",
)
# The root's options in help order: ours, then Typer's own (tests/test_cli_help.py checks
# that this help is drawn exactly as Typer draws the real root command's).
ROOT_OPTIONS = (
    ADDRESS,
    NAMESPACE,
    RootOption("--install-completion", "", "", "Install completion for the current shell."),
    RootOption(
        "--show-completion",
        "",
        "",
        "Show completion for the current shell, to copy it or customize the installation.",
    ),
    RootOption("--help", "-h", "", "Show this message and exit."),
)

_JOBS, _AGENTS, _RUN, _ADMIN = "Jobs", "Agents and payments", "Running the platform", "Admin"

# The first line of each command's docstring (tests/test_cli_help.py keeps them equal).
COMMANDS: dict[str, Entry] = {
    "start": Entry(
        "jobs:start",
        "Start a job for AGENT with input as JSON, a file or --field KEY=VALUE.",
        _JOBS,
    ),
    "signal": Entry(
        "jobs:signal",
        "Submit the pending form of JOB_ID; refused submissions print their field errors.",
        _JOBS,
    ),
    "status": Entry("jobs:status", "The short form of inspect: one line of status.", _JOBS),
    "result": Entry(
        "jobs:result",
        "Print a finished job's result; exit 1 if it failed or has not ended, 2 if unknown.",
        _JOBS,
    ),
    "inspect": Entry(
        "jobs:inspect",
        "Everything about one job: status, pending form, events so far, result.",
        _JOBS,
    ),
    "watch": Entry(
        "jobs:watch", "Follow a job's events live until it ends; exit 1 unless it completed.", _JOBS
    ),
    "list": Entry("jobs:list_", "List jobs, newest first, from Temporal visibility.", _JOBS),
    "cancel": Entry(
        "jobs:cancel",
        "Cancel a job: the agent stops and the buyer is refunded where money moved.",
        _JOBS,
    ),
    "agents": Entry(
        "agents:agents", "List registered agents and whether a worker is serving each.", _AGENTS
    ),
    "add-remote": Entry(
        "remote:add_remote",
        "Register a remote MIP-003 agent: its jobs run durably behind this platform.",
        _AGENTS,
    ),
    "escrow": Entry(
        "escrow:escrow", "Show JOB_ID's escrow: state, deadlines and every transaction.", _AGENTS
    ),
    "pay": Entry(
        "escrow:pay",
        "Pay JOB_ID as the dev buyer: lock its price in escrow on the offline ledger.",
        _AGENTS,
    ),
    "dev": Entry(
        "dev:dev",
        "Start Temporal (dev server + Web UI), the platform worker and the example agents.",
        _RUN,
    ),
    "worker": Entry(
        "worker:worker",
        "Run workers: the platform's (--platform) and/or agents' (--agent module:Class).",
        _RUN,
    ),
    "api": Entry(
        "serve:api", "Serve the HTTP facade (MIP-003 per agent, jobs, agents) with uvicorn.", _RUN
    ),
    "keys": Entry("keys:app", "API keys for the HTTP facade (stored hashed).", _ADMIN),
    "deploy": Entry(
        "deploy:app", "Worker versions: switch new jobs to a version, watch old ones drain.", _ADMIN
    ),
    "db": Entry("db:app", "The app database (agents registry, API keys).", _ADMIN),
}


def main() -> None:
    """Console-script entry point.

    ``--json`` anywhere before ``--`` makes errors JSON on stderr, usage errors included.
    Ends with ``os._exit`` once output is flushed: the Temporal client's Rust threads can
    outlive the event loop and abort a normal interpreter shutdown (temporalio/sdk-python
    issue 300), which would turn a finished command into exit code 134.
    """
    args = sys.argv[1:]
    if args in ([], ["--help"], ["-h"]):  # the root help needs neither Typer's app nor a command
        from durasumi.cli.help import print_root_help

        print_root_help()
        _exit(0 if args else 2)  # no arguments: help, as a usage error (Typer's exit code)
    import typer

    from durasumi._extras import MissingExtra
    from durasumi.cli.app import command_group
    from durasumi.cli.output import BAD_INPUT, json_errors, print_error

    as_json = "--json" in (args[: args.index("--")] if "--" in args else args)
    json_errors(as_json)
    code: int = 0
    try:
        result = command_group().main(args, prog_name="durasumi", standalone_mode=not as_json)
        code = result if isinstance(result, int) else 0
    except MissingExtra as err:  # a platform command on a vendor-only install
        print_error(str(err), BAD_INPUT, error="missing_extra")
        code = BAD_INPUT
    except typer.Abort:
        print_error("aborted", 1, error="aborted")
        code = 1
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as err:  # a usage error under --json (standalone mode prints its own)
        exit_code = getattr(err, "exit_code", None)
        if not as_json or not isinstance(exit_code, int):
            raise
        print_error(_usage_message(err), exit_code, error="usage")
        code = exit_code
    _exit(code)


def _exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _usage_message(err: Exception) -> str:
    formatted = getattr(err, "format_message", None)
    return str(formatted() if callable(formatted) else err)


if __name__ == "__main__":
    main()

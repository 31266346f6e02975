"""The `durasumi` command line: one Typer app, one module per group of commands."""

from __future__ import annotations

import os
import sys

import typer

from durasumi._extras import MissingExtra
from durasumi.cli import db, deploy, jobs, keys
from durasumi.cli.agents import agents
from durasumi.cli.context import get_ctx
from durasumi.cli.dev import dev
from durasumi.cli.escrow import escrow, pay
from durasumi.cli.output import BAD_INPUT, err_console
from durasumi.cli.serve import api
from durasumi.cli.worker import worker

app = typer.Typer(
    name="durasumi",
    help="Durable, paid, interactive AI agents on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Read the settings once, at the edge."""
    if ctx.resilient_parsing:
        return
    get_ctx(ctx)


app.command()(jobs.start)
app.command()(jobs.signal)
app.command()(jobs.inspect)
app.command()(jobs.status)
app.command()(jobs.watch)
app.command("list")(jobs.list_)
app.command()(jobs.cancel)
app.command()(agents)
app.command()(worker)
app.command()(dev)
app.command()(escrow)
app.command()(pay)
app.command()(api)
app.add_typer(keys.app, name="keys")
app.add_typer(deploy.app, name="deploy")
app.add_typer(db.app, name="db")


def main() -> None:
    """Console-script entry point.

    Ends with ``os._exit`` once output is flushed: the Temporal client's Rust threads can
    outlive the event loop and abort a normal interpreter shutdown (temporalio/sdk-python
    issue 300), which would turn a finished command into exit code 134.
    """
    code: int = 0
    try:
        app()
    except MissingExtra as err:  # a platform command on a vendor-only install
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        code = BAD_INPUT
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

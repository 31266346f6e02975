"""The agents command: registered agents and whether a worker serves each right now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import console, print_json
from durasumi.client.jobs import agent_pollers


def agents(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered agents and whether a worker is serving each."""
    c = get_ctx(ctx)
    records = c.registry.all()

    @run
    async def go() -> None:
        client = await c.client()
        live = [await agent_pollers(client, r.task_queue) for r in records]
        if as_json:
            print_json(
                [
                    {**r.model_dump(mode="json"), "workers": n, "available": n > 0}
                    for r, n in zip(records, live, strict=True)
                ]
            )
            return
        table = Table("agent", "available", "task queue", "vendor", "description")
        for r, n in zip(records, live, strict=True):
            state = f"[green]yes ({n} worker(s))[/]" if n else "[red]no worker[/]"
            table.add_row(r.name, state, r.task_queue, r.vendor, r.description)
        console.print(table)

    go()

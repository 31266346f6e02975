"""The agents command: registered agents and whether a worker serves each right now."""

from __future__ import annotations

from typing import Annotated

import typer

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import console, print_json


def agents(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered agents and whether a worker is serving each."""
    from durasumi.client.availability import availability

    c = get_ctx(ctx)
    records = c.registry.all()

    @run
    async def go() -> None:
        client = await c.client()
        live = [await availability(client, r) for r in records]
        if as_json:
            print_json(
                [
                    {
                        **r.model_dump(mode="json"),
                        "available": now.available,
                        "unavailable_reason": now.reason,
                    }
                    for r, now in zip(records, live, strict=True)
                ]
            )
            return
        from rich.table import Table

        table = Table("agent", "available", "task queue", "vendor", "description")
        for r, now in zip(records, live, strict=True):
            state = "[green]yes[/]" if now.available else f"[red]no[/]: {now.reason}"
            table.add_row(r.name, state, r.task_queue, r.vendor, r.description)
        console.print(table)

    go()

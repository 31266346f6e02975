"""The agents command: registered agents and whether a worker serves each right now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli.context import get_ctx, run
from cli.output import console, print_json


async def pollers(client: Client, task_queue: str) -> int:
    """How many workers poll ``task_queue`` for workflow tasks now."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(resp.pollers)


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
        live = [await pollers(client, r.task_queue) for r in records]
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

"""The escrow command: a job's escrow state and its transactions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.context import get_ctx, run
from cli.output import BAD_INPUT, console, fail, print_json
from workers import jobs


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def escrow(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id (printed by start and list).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    """Show JOB_ID's escrow: state, deadlines and every transaction."""
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        view = await jobs.job_view(await c.client(), job_id)
        if view.escrow is None:
            fail(f"job {job_id} is not paid through escrow", BAD_INPUT)
        e = view.escrow
        if as_json:
            print_json(e)
            return
        console.print(
            f"[bold]{job_id}[/]: job {view.status.value}, escrow [bold]{e.state.value}[/]"
        )
        console.print(f"  price          {e.price_lovelace / 1_000_000:.6f} ada")
        console.print(f"  identifier     {e.blockchain_identifier[:32]}...")
        console.print(f"  payByTime      {_when(e.times.pay_by_time)}")
        console.print(f"  submitResult   {_when(e.times.submit_result_time)}")
        console.print(f"  unlock         {_when(e.times.unlock_time)}")
        console.print(f"  dispute unlock {_when(e.times.external_dispute_unlock_time)}")
        if e.result_hash:
            console.print(f"  result hash    {e.result_hash}")
        table = Table("action", "transaction", "at")
        for tx in e.transactions:
            table.add_row(tx.action.value, tx.tx_id, _when(tx.at_ms))
        console.print(table)

    go()

"""The escrow commands: a job's escrow state and transactions, and paying as the dev buyer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import BAD_INPUT, FAILURE, console, fail, print_json

if TYPE_CHECKING:
    from durasumi.workers.settings import Settings
    from durasumi.workflows.escrow_models import EscrowView, PaymentRequest
    from durasumi.workflows.models import JobView

JobArg = Annotated[
    str, typer.Argument(metavar="JOB_ID", help="The job id (printed by start and list).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def escrow_unavailable(settings: Settings) -> str | None:
    """Why paid jobs cannot be started from here, or None when they can.

    The platform worker runs the escrow; the CLI only sees its own settings. A backend in
    them counts, and so does the offline ledger that ``durasumi dev``'s worker keeps in
    HOME/escrow (dev turns the escrow on in its own process only).
    """
    if settings.escrow_backend != "off" or _dev_ledger(settings):
        return None
    return (
        "the escrow is off: run `durasumi dev` (offline Cardano ledger), or set "
        "DURASUMI_ESCROW_BACKEND=offline|blockfrost|masumi for the platform worker and here"
    )


def _dev_ledger(settings: Settings) -> bool:
    return (settings.home / "escrow" / "deployment.json").exists()


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def escrow(ctx: typer.Context, job_id: JobArg, as_json: JsonOpt = False) -> None:
    """Show JOB_ID's escrow: state, deadlines and every transaction."""
    from rich.table import Table

    from durasumi.client import jobs

    c = get_ctx(ctx)

    @run
    async def go() -> None:
        view = await jobs.job_view(await c.client(), job_id)
        e = _escrow_of(view)
        if as_json:
            print_json(e)
            return
        console.print(
            f"[bold]{job_id}[/]: job {view.status.value}, escrow [bold]{e.state.value}[/]"
        )
        console.print(f"  price          {', '.join(a.label() for a in e.price())}")
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


def pay(ctx: typer.Context, job_id: JobArg, as_json: JsonOpt = False) -> None:
    """Pay JOB_ID as the dev buyer: lock its price in escrow on the offline ledger.

    What a buyer's wallet does with MIP-003's start_job answer; on a real chain the buyer
    pays from their own wallet. Paying twice locks once.
    """
    from durasumi.client import jobs

    c = get_ctx(ctx)
    if c.settings.escrow_backend not in ("off", "offline"):
        fail(
            f"durasumi pay uses the offline ledger's dev buyer; with the "
            f"{c.settings.escrow_backend} escrow the buyer pays from their own wallet",
            BAD_INPUT,
        )
    if not _dev_ledger(c.settings):
        fail(
            f"no offline escrow in {c.settings.home / 'escrow'}: start `durasumi dev` (or a "
            "platform worker with DURASUMI_ESCROW_BACKEND=offline) first",
            BAD_INPUT,
        )

    @run
    async def go() -> None:
        view = await jobs.job_view(await c.client(), job_id)
        request = _payment_request(view, _escrow_of(view))
        from durasumi.workers.escrow import PaymentRefused, pay_as_dev_buyer

        now_ms = int(time.time() * 1000)
        try:
            status = await asyncio.to_thread(
                pay_as_dev_buyer, c.settings.home / "escrow", request, now_ms
            )
        except PaymentRefused as err:
            fail(f"cannot pay job {job_id}: {err}", FAILURE)
        if as_json:
            print_json(status)
            return
        tx = status.transactions[0].tx_id if status.transactions else "-"
        done = "was already paid" if status.already_done else "paid"
        console.print(f"[bold]{job_id}[/] {done}: escrow {status.state.value} in {tx}")

    go()


def _escrow_of(view: JobView) -> EscrowView:
    if view.escrow is None:
        fail(
            f"job {view.job_id} has no escrow (a free job, or its payment request is not made yet)",
            BAD_INPUT,
        )
    return view.escrow


def _payment_request(view: JobView, e: EscrowView) -> PaymentRequest:
    """The payment request as the buyer sees it in the job's escrow."""
    from durasumi.workflows.escrow_models import PaymentRequest

    return PaymentRequest(
        blockchain_identifier=e.blockchain_identifier,
        job_id=view.job_id,
        input_hash=view.input_hash,
        price_lovelace=e.price_lovelace,
        amounts=e.amounts,
        collateral_return_lovelace=e.collateral_return_lovelace,
        times=e.times,
        seller_vkey=e.seller_vkey,
        seller_address=e.seller_address,
        script_address=e.script_address,
    )

"""Job commands: start, signal, inspect, status, watch, list, cancel."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from durasumi.cli.context import get_ctx, run
from durasumi.cli.escrow import escrow_unavailable
from durasumi.cli.output import BAD_INPUT, FAILURE, console, fail, print_json
from durasumi.cli.render import event_line, form_panel, view_panel
from durasumi.client import jobs
from durasumi.workflows.escrow_models import EscrowTerms
from durasumi.workflows.models import CancelRequest, JobStatus, PaymentPlan, Submission

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
JobArg = Annotated[str, typer.Argument(help="The job id (printed by start and list).")]
DataArg = Annotated[str | None, typer.Argument(help="Values as a JSON object.")]
FileOpt = Annotated[
    Path | None, typer.Option("--file", "-f", help="Read the JSON object from a file.")
]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", "-F", help="One value as KEY=VALUE (repeatable)."),
]

_HEX_ID = re.compile(r"^[0-9a-fA-F]{14,26}$")


def parse_values(data: str | None, file: Path | None, fields: list[str] | None) -> dict[str, Any]:
    """Merge a JSON object argument, a JSON file and KEY=VALUE pairs (later wins)."""
    values: dict[str, Any] = {}
    for source, text in (("file", _read(file)), ("argument", data)):
        if text is None:
            continue
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            fail(f"the {source} is not valid JSON: {err}", BAD_INPUT)
        if not isinstance(loaded, dict):
            fail(f"the {source} must be a JSON object, not {type(loaded).__name__}", BAD_INPUT)
        values.update(loaded)
    for pair in fields or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--field {pair!r} must look like KEY=VALUE", BAD_INPUT)
        values[key] = value
    return values


def _read(file: Path | None) -> str | None:
    if file is None:
        return None
    try:
        return file.read_text()
    except OSError as err:
        fail(f"cannot read {file}: {err.strerror}", BAD_INPUT)


def start(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="The agent's name (see `durasumi agents`).")],
    data: DataArg = None,
    file: FileOpt = None,
    field: FieldOpt = None,
    identifier: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="identifier_from_purchaser: 14-26 hex characters; the same id and input "
            "always name the same job. Random when left out.",
        ),
    ] = None,
    buyer: Annotated[str, typer.Option(help="Who the job is for.")] = "cli",
    pay: Annotated[
        bool,
        typer.Option(
            "--pay", help="A paid job: the dev buyer locks the price in escrow (durasumi dev)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a job for AGENT with input as JSON, a file or --field KEY=VALUE."""
    values = parse_values(data, file, field)
    if identifier is not None and not _HEX_ID.match(identifier):
        fail("--id must be 14 to 26 hexadecimal characters (MIP-003)", BAD_INPUT)
    c = get_ctx(ctx)
    if pay and (why := escrow_unavailable(c.settings)):
        fail(f"--pay: {why}", BAD_INPUT)
    record = c.agent(agent)

    @run
    async def go() -> None:
        started = await jobs.start_job(
            await c.client(),
            record,
            identifier or secrets.token_hex(8),
            values,
            platform_task_queue=c.settings.platform_task_queue,
            buyer=buyer,
            payment=_paid(record.price_lovelace or c.settings.escrow_default_price)
            if pay
            else None,
        )
        if as_json:
            print_json(
                {
                    "job_id": started.job_id,
                    "input_hash": started.input_hash,
                    "created": started.created,
                }
            )
            return
        verb = "started" if started.created else "already exists (same agent, id and input):"
        console.print(f"job {verb} [bold]{started.job_id}[/]")
        console.print(f"  watch it:   durasumi watch {started.job_id}")

    go()


def _paid(price: int) -> PaymentPlan:
    """An escrow plan whose buyer steps the platform performs (the dev buyer wallet)."""
    terms = EscrowTerms(price_lovelace=price, platform_buyer=True, watch_seconds=600)
    return PaymentPlan(mode="escrow", escrow=terms)


def signal(
    ctx: typer.Context,
    job_id: JobArg,
    data: DataArg = None,
    file: FileOpt = None,
    field: FieldOpt = None,
    request_id: Annotated[
        str | None, typer.Option("--request", help="The form request id to answer.")
    ] = None,
    form_id: Annotated[str | None, typer.Option("--form", help="The form id to answer.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit the pending form of JOB_ID; refused submissions print their field errors."""
    values = parse_values(data, file, field)
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        submission = Submission(
            request_id=request_id, form_id=form_id, values=values, submitted_by="cli"
        )
        result = await jobs.submit_form(await c.client(), job_id, submission)
        if as_json:
            print_json(result)
        else:
            console.print(f"submission for [bold]{result.request_id}[/] accepted")

    go()


def inspect(ctx: typer.Context, job_id: JobArg, as_json: JsonOpt = False) -> None:
    """Everything about one job: status, pending form, events so far, result."""
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        client = await c.client()
        view = await jobs.job_view(client, job_id)
        events = await jobs.job_events(client, job_id)
        if as_json:
            print_json({"job": view, "events": events})
            return
        console.print(view_panel(view))
        if view.pending_form is not None:
            console.print(form_panel(view.pending_form))
        for event in events:
            console.print(event_line(event))

    go()


def status(ctx: typer.Context, job_id: JobArg, as_json: JsonOpt = False) -> None:
    """The short form of inspect: one line of status."""
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        view = await jobs.job_view(await c.client(), job_id)
        if as_json:
            print_json({"job_id": view.job_id, "status": view.status, "error": view.error})
            return
        pending = f" (form {view.pending_form.request_id})" if view.pending_form else ""
        console.print(f"{view.job_id}: [bold]{view.status.value}[/]{pending}")

    go()


def watch(
    ctx: typer.Context,
    job_id: JobArg,
    after: Annotated[
        int, typer.Option("--from", min=0, help="Resume after this event number.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Follow a job's events live until it ends; exit 1 unless it completed."""
    c = get_ctx(ctx)

    @run
    async def go() -> JobStatus:
        client = await c.client()
        async for event in jobs.follow_events(client, job_id, after):
            if as_json:
                console.print(event.model_dump_json(), highlight=False, soft_wrap=True)
            else:
                console.print(event_line(event))
        return (await jobs.job_view(client, job_id)).status

    final = go()
    if final is not JobStatus.COMPLETED:
        raise typer.Exit(FAILURE)


def list_(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="Only this agent's jobs.")] = None,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    buyer: Annotated[str | None, typer.Option(help="Only this buyer's jobs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List jobs (newest first) from Temporal visibility."""
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        try:
            rows = await jobs.list_jobs(
                await c.client(),
                agent=agent,
                status=status.value if status else None,
                buyer=buyer,
                limit=limit,
            )
        except ValueError as err:
            fail(str(err), BAD_INPUT)
        if as_json:
            print_json([vars(r) for r in rows])
            return
        table = Table("job", "agent", "status", "buyer", "started")
        for r in rows:
            table.add_row(r.job_id, r.agent, r.status, r.buyer, f"{r.started:%Y-%m-%d %H:%M:%S}")
        console.print(table)
        console.print(f"{len(rows)} job(s)")

    go()


def cancel(
    ctx: typer.Context,
    job_id: JobArg,
    reason: Annotated[str, typer.Option(help="Why, for the event log.")] = "cancelled from CLI",
    as_json: JsonOpt = False,
) -> None:
    """Cancel a job: the agent stops and the buyer is refunded where money moved."""
    c = get_ctx(ctx)

    @run
    async def go() -> None:
        await jobs.cancel_job(
            await c.client(), job_id, CancelRequest(reason=reason, requested_by="cli")
        )
        if as_json:
            print_json({"job_id": job_id, "cancel_requested": True})
        else:
            console.print(f"cancel requested for [bold]{job_id}[/]")

    go()

"""Job commands: start, signal, inspect, status, result, watch, list, cancel.

Only typer and rich are imported up front; the Temporal SDK and the workflow models load
inside the commands that need them, and ``status``, ``result`` and ``list`` read through
Temporal's HTTP API when there is one (``Ctx.read``), without the SDK.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import (
    BAD_INPUT,
    FAILURE,
    console,
    fail,
    print_json,
    status_text,
)
from durasumi.client import job_reads
from durasumi.workflows.status import JobStatus

if TYPE_CHECKING:
    from rich.table import Table

    from durasumi.workflows.models import JobEvent, PaymentPlan

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
JobArg = Annotated[
    str, typer.Argument(metavar="JOB_ID", help="The job id (printed by start and list).")
]
DataArg = Annotated[
    str | None, typer.Argument(metavar="JSON", help="Values as a JSON object, e.g. '{\"a\": 1}'.")
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", metavar="FILE", help="Read the JSON object from a file."),
]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", "-F", metavar="KEY=VALUE", help="One value as KEY=VALUE (repeatable)."),
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
    agent: Annotated[
        str,
        typer.Argument(metavar="AGENT", help="The agent's name (see `durasumi agents`)."),
    ],
    data: DataArg = None,
    file: FileOpt = None,
    field: FieldOpt = None,
    identifier: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="HEX",
            help="identifier_from_purchaser: 14-26 hex characters; the same id and input "
            "always name the same job. Random when left out.",
        ),
    ] = None,
    buyer: Annotated[str, typer.Option(metavar="NAME", help="Who the job is for.")] = "cli",
    pay: Annotated[
        bool,
        typer.Option(
            "--pay", help="A paid job: the dev buyer locks the price in escrow (durasumi dev)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a job for AGENT with input as JSON, a file or --field KEY=VALUE."""
    from durasumi.cli.escrow import escrow_unavailable
    from durasumi.client import jobs

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
            payment=_paid(
                record.price_lovelace or c.settings.escrow_default_price, record.price_amounts
            )
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
        console.print(f"job {verb} [bold]{started.job_id}[/]", soft_wrap=True)
        console.print(f"  watch it:   durasumi watch {started.job_id}", soft_wrap=True)

    go()


def _paid(price: int, price_amounts: list[dict[str, Any]] | None = None) -> PaymentPlan:
    """An escrow plan whose buyer steps the platform performs (the dev buyer wallet)."""
    from durasumi.workflows.escrow_models import EscrowTerms, split_price
    from durasumi.workflows.models import PaymentPlan

    lovelace, tokens = split_price(price, price_amounts)
    terms = EscrowTerms(
        price_lovelace=lovelace, amounts=tokens, platform_buyer=True, watch_seconds=600
    )
    return PaymentPlan(mode="escrow", escrow=terms)


def signal(
    ctx: typer.Context,
    job_id: JobArg,
    data: DataArg = None,
    file: FileOpt = None,
    field: FieldOpt = None,
    request_id: Annotated[
        str | None,
        typer.Option("--request", metavar="REQUEST_ID", help="The form request id to answer."),
    ] = None,
    form_id: Annotated[
        str | None, typer.Option("--form", metavar="FORM_ID", help="The form id to answer.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit the pending form of JOB_ID; refused submissions print their field errors."""
    from durasumi.client import jobs
    from durasumi.workflows.models import Submission

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
    from durasumi.cli.render import answer_command, event_line, form_panel, view_panel
    from durasumi.client import jobs

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
            command = answer_command(job_id, view.pending_form)
            console.print(f"answer with: {command}", highlight=False, soft_wrap=True)
        for event in events:
            console.print(event_line(event))

    go()


def status(ctx: typer.Context, job_id: JobArg, as_json: JsonOpt = False) -> None:
    """The short form of inspect: one line of status."""
    c = get_ctx(ctx)
    view = c.read(
        lambda api: job_reads.view_over_http(api, job_id),
        lambda client: job_reads.view_over_grpc(client, job_id),
    )
    if as_json:
        print_json({"job_id": view["job_id"], "status": view["status"], "error": view.get("error")})
        return
    pending = view.get("pending_form")
    form = f" (form {pending['request_id']})" if pending else ""
    error = f": {view['error']}" if view.get("error") else ""
    console.print(
        f"{view['job_id']}: {status_text(view['status'])}{form}{error}",
        highlight=False,
        soft_wrap=True,
    )


def result(
    ctx: typer.Context,
    job_id: JobArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job to end instead of exiting 1.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a finished job's result; exit 1 if it failed or has not ended, 2 if unknown.

    A string result prints as it is, anything else as JSON. Read from the job's close
    event in Temporal's history, so it needs no worker.
    """
    c = get_ctx(ctx)
    outcome = c.read(
        lambda api: job_reads.result_over_http(api, job_id, wait=wait),
        lambda client: job_reads.result_over_grpc(client, job_id, wait=wait),
    )
    if as_json:
        print_json(outcome.as_json())
    if not outcome.finished:
        fail(
            f"job {job_id} has not ended (status {outcome.status}): pass --wait, or follow "
            f"it with `durasumi watch {job_id}`",
            FAILURE,
            error="not_finished",
        )
    if outcome.status != JobStatus.COMPLETED:
        reason = outcome.error or "no reason given"
        fail(f"job {job_id} {outcome.status}: {reason}", FAILURE, error=f"job_{outcome.status}")
    if as_json:
        return
    if isinstance(outcome.result, str):
        console.out(outcome.result, highlight=False)
    else:
        print_json(outcome.result)


def watch(
    ctx: typer.Context,
    job_id: JobArg,
    after: Annotated[
        int,
        typer.Option("--from", min=0, metavar="SEQ", help="Resume after this event number."),
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Follow a job's events live until it ends; exit 1 unless it completed.

    Progress events that carry `percent` (or `done` and `total`) draw a progress bar on a
    terminal; a pending form prints the command that answers it.
    """
    from durasumi.cli.follow import Follower
    from durasumi.client import jobs

    c = get_ctx(ctx)

    @run
    async def go() -> str:
        client = await c.client()
        if as_json:
            async for event in jobs.follow_events(client, job_id, after):
                console.print(event.model_dump_json(), highlight=False, soft_wrap=True)
            return (await jobs.job_view(client, job_id)).status.value

        async def pending(event: JobEvent | None) -> None:
            view = await jobs.job_view(client, job_id)
            request = view.pending_form
            asked = None if event is None else event.data.get("request_id")
            if request is not None and asked in (None, request.request_id):
                follower.waiting(request)

        with Follower(console, job_id) as follower:
            if after:
                await pending(None)  # the form may have been asked before --from
            async for event in jobs.follow_events(client, job_id, after):
                follower.event(event)
                if event.kind.value == "form_requested":
                    await pending(event)
            final = (await jobs.job_view(client, job_id)).status.value
            follower.done(final)
        return final

    if go() != JobStatus.COMPLETED:
        raise typer.Exit(FAILURE)


def list_(
    ctx: typer.Context,
    agent: Annotated[
        str | None, typer.Option(metavar="AGENT", help="Only this agent's jobs.")
    ] = None,
    status: Annotated[
        JobStatus | None,
        typer.Option(
            metavar="STATUS",
            help="Only jobs in this status: awaiting_payment, awaiting_input, running, "
            "completed, failed or cancelled.",
        ),
    ] = None,
    buyer: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this buyer's jobs.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, metavar="N", help="At most N jobs.")
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first, from Temporal visibility."""
    c = get_ctx(ctx)
    filters: dict[str, Any] = {
        "agent": agent,
        "status": status.value if status else None,
        "buyer": buyer,
        "limit": limit,
    }
    try:
        rows = c.read(
            lambda api: job_reads.list_over_http(api, **filters),
            lambda client: job_reads.list_over_grpc(client, **filters),
        )
    except ValueError as err:
        fail(str(err), BAD_INPUT)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    console.print(jobs_table(rows, console.width), soft_wrap=True)
    console.print(f"{len(rows)} job(s)")


# Columns of `list`, most important first: each kept while the table fits the terminal.
# The job id never shortens: it is what the other commands take (and names the agent).
_COLUMNS = ("job", "status", "started", "agent", "buyer")


def jobs_table(rows: list[job_reads.JobRow], width: int) -> Table:
    """The job list as wide as ``width`` allows, full job ids first.

    Columns are dropped from the right (buyer, then agent, then started) until the rest
    fits; the job id column is never cut, so every id can be copied whole.
    """
    from rich import box
    from rich.table import Table

    cells = {
        "job": [r.job_id for r in rows],
        "status": [r.status for r in rows],
        "started": [f"{r.started:%Y-%m-%d %H:%M:%S}" for r in rows],
        "agent": [r.agent for r in rows],
        "buyer": [r.buyer for r in rows],
    }
    widths = {name: max([len(name), *map(len, values)]) for name, values in cells.items()}
    shown: list[str] = []
    for name in _COLUMNS:
        needed = sum(widths[n] for n in [*shown, name]) + 2 * len(shown)
        if not shown or needed <= width:
            shown.append(name)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold")
    for name in shown:
        table.add_column(name, no_wrap=True, overflow="fold", min_width=widths[name])
    for n, row in enumerate(rows):
        table.add_row(*(status_text(row.status) if c == "status" else cells[c][n] for c in shown))
    return table


def cancel(
    ctx: typer.Context,
    job_id: JobArg,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why, for the event log.")
    ] = "cancelled from CLI",
    as_json: JsonOpt = False,
) -> None:
    """Cancel a job: the agent stops and the buyer is refunded where money moved."""
    from durasumi.client import jobs
    from durasumi.workflows.models import CancelRequest

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

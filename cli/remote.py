"""The add-remote command: register an agent that already serves MIP-003 elsewhere."""

from __future__ import annotations

from typing import Annotated

import typer

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import BAD_INPUT, console, fail, print_json


def add_remote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent's name on this platform.")],
    url: Annotated[str, typer.Argument(help="The remote agent's MIP-003 base URL.")],
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", metavar="NAME:VALUE", help="Sent with every call (repeatable)."
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What the agent does.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Register a remote MIP-003 agent: its jobs run durably behind this platform."""
    from durasumi.client.remote_agents import (
        RemoteAgentError,
        input_form_of,
        parse_header,
        remote_url_problem,
    )
    from durasumi.db.registry import AgentRecord
    from durasumi.workflows.ids import validate_agent_name

    try:
        validate_agent_name(name)
        headers = dict(parse_header(h) for h in header or [])
    except ValueError as err:
        fail(str(err), BAD_INPUT, error="invalid_input")
    problem = remote_url_problem(url)
    if problem:
        fail(problem, BAD_INPUT, error="invalid_input")
    c = get_ctx(ctx)

    @run
    async def read_form() -> dict[str, object]:
        try:
            form = await input_form_of(url, headers, name=name)
        except RemoteAgentError as err:
            fail(str(err), error="remote_agent")
        return form.model_dump(mode="json")

    input_form = read_form()
    registry = c.registry
    existing = registry.get(name)
    fields = existing.model_dump(exclude={"registered_at", "updated_at"}) if existing else {}
    fields |= {
        "name": name,
        "description": description or fields.get("description", ""),
        "vendor": fields.get("vendor", "operator"),
        "task_queue": c.settings.platform_task_queue,
        "workflow_type": name,
        "input_form": input_form,
        "remote_url": url.rstrip("/"),
        "remote_headers": headers,
        "worker_problem": None,
    }
    record = registry.upsert(AgentRecord(**fields))
    if as_json:
        print_json(record.model_dump(mode="json", exclude={"remote_headers"}))
        return
    console.print(
        f"registered remote agent {record.name} at {record.remote_url} "
        f"({len(headers)} header(s)); its jobs run on {record.task_queue}",
        highlight=False,
    )

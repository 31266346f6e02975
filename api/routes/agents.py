"""Agents: the registry over HTTP; vendors register theirs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.deps import CurrentPrincipal, ServicesDep, agent_or_404, require_roles
from durasumi.api.schemas import ADA_SUPPLY_LOVELACE, AgentIn, AgentOut
from durasumi.api.strict_json import StrictJsonRoute
from durasumi.client.availability import Availability, availability
from durasumi.client.remote_agents import (
    RemoteAgentError,
    check_header,
    input_form_of,
    remote_url_problem,
)
from durasumi.db.keys import Role
from durasumi.db.registry import AgentRecord
from durasumi.workflows.escrow_models import split_price
from durasumi.workflows.forms import Form

router = APIRouter(prefix="/agents", tags=["agents"], route_class=StrictJsonRoute)


async def _availability(services: ServicesDep, record: AgentRecord) -> Availability:
    try:
        return await availability(services.client, record)
    except RPCError as err:
        # A row stored before registrations were checked (a queue name Temporal refuses)
        # makes that agent unavailable, not the whole listing a 400 for everyone.
        if err.status is not RPCStatusCode.INVALID_ARGUMENT:
            raise
        return Availability(False, f"Temporal refuses its task queue: {err.message}")


async def _out(services: ServicesDep, record: AgentRecord) -> AgentOut:
    form = Form.model_validate(record.input_form) if record.input_form else None
    now = await _availability(services, record)
    return AgentOut(
        name=record.name,
        description=record.description,
        vendor=record.vendor,
        task_queue=record.task_queue,
        price_lovelace=record.price_lovelace,
        price_amounts=record.price_amounts,
        input_schema=form.to_input_schema() if form else {"input_data": []},
        available=now.available,
        unavailable_reason=now.reason,
        remote=bool(record.remote_url),
        agent_identifier=record.agent_identifier,
    )


@router.get("", response_model=list[AgentOut])
async def list_agents(services: ServicesDep, principal: CurrentPrincipal) -> list[AgentOut]:
    """Registered agents, with live availability."""
    return [await _out(services, r) for r in services.registry.all()]


@router.get("/{agent}", response_model=AgentOut)
async def get_agent(agent: str, services: ServicesDep, principal: CurrentPrincipal) -> AgentOut:
    """One agent."""
    return await _out(services, agent_or_404(services, agent))


@router.post("", response_model=AgentOut, status_code=status.HTTP_201_CREATED)
async def register_agent(
    body: AgentIn, services: ServicesDep, principal: CurrentPrincipal
) -> AgentOut:
    """Register or update an agent; a vendor may only touch its own agents."""
    require_roles(principal, Role.VENDOR, Role.OPERATOR)
    vendor = principal.owner if principal.role is Role.VENDOR else "operator"
    existing = services.registry.get(body.name)
    if (
        existing is not None
        and principal.role is Role.VENDOR
        and existing.vendor != principal.owner
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"agent {body.name!r} belongs to another vendor"
        )
    if existing is not None and principal.role is Role.OPERATOR:
        vendor = existing.vendor
    if body.input_form is not None:
        try:
            Form.model_validate(body.input_form)
        except ValidationError as err:
            first = err.errors()[0]
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"input_form is not a valid form: {first['msg']} at {first['loc']}",
            ) from err
    # Only what the request names changes: a worker's registration keeps the vendor's price.
    base = existing.model_dump(exclude={"registered_at", "updated_at"}) if existing else {}
    fields = base | body.model_dump(exclude_unset=True) | {"vendor": vendor}
    if body.price_amounts is not None:
        fields["price_lovelace"] = _priced(body)
    elif "price_lovelace" in body.model_fields_set:  # a price in lovelace alone again
        fields["price_amounts"] = None
    if body.remote_url is not None:
        fields |= await _remote_fields(services, body)
    elif fields.get("remote_url") and body.task_queue is None and body.workflow_type is None:
        fields["task_queue"] = services.settings.platform_task_queue  # still remote
    else:  # a native agent (a worker registering an agent that was remote makes it native)
        fields |= {"remote_url": None, "remote_headers": None}
        native = existing.task_queue if existing is not None and not existing.remote_url else None
        if principal.role is Role.VENDOR:
            fields["task_queue"] = _vendor_queue(services, body, native)
        else:
            fields["task_queue"] = body.task_queue or native or _derived_queue(services, body.name)
        _check_queue(services, body.name, fields["task_queue"], vendor)
    fields["workflow_type"] = fields.get("workflow_type") or body.name
    record = services.registry.upsert(AgentRecord(**fields))
    services.cache.forget(f"agent:{record.name}")
    return await _out(services, record)


def _priced(body: AgentIn) -> int:
    """The lovelace of a price given in units; 422 if price_lovelace says otherwise."""
    lovelace, _tokens = split_price(0, body.price_amounts)
    if "price_lovelace" in body.model_fields_set and body.price_lovelace != lovelace:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"price_lovelace ({body.price_lovelace}) differs from the lovelace in "
            f"price_amounts ({lovelace}): give the price once, in price_amounts",
        )
    if lovelace > ADA_SUPPLY_LOVELACE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "price_amounts: more lovelace than ADA exists"
        )
    return lovelace


def _derived_queue(services: ServicesDep, name: str) -> str:
    return services.settings.agent_task_queue(name)


def _vendor_queue(services: ServicesDep, body: AgentIn, native: str | None) -> str:
    """A vendor's agent polls the queue the platform gives it (its answer tells the worker).

    That is the agent's own queue (``<agent queue prefix>-<name>``), or the one an operator
    moved it to; a vendor may repeat it but not choose another.
    """
    queue = native or _derived_queue(services, body.name)
    if body.task_queue is not None and body.task_queue != queue:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"task_queue is the platform's to choose: agent {body.name!r} polls {queue!r}; "
            "leave task_queue out and poll the queue this answer gives",
        )
    return queue


def _check_queue(services: ServicesDep, name: str, queue: str, vendor: str) -> None:
    """A vendor's agent polls its own queue: never the platform's, nor another vendor's.

    On the platform's queue the platform worker would be handed agent workflow tasks it
    cannot run; on another vendor's queue one vendor's worker would run (and could read)
    another vendor's jobs.
    """
    if queue == services.settings.platform_task_queue:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"task queue {queue!r} is the platform's own; give the agent a queue of its own",
        )
    for other in services.registry.all():
        if other.task_queue == queue and other.name != name and other.vendor != vendor:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"task queue {queue!r} is taken by agent {other.name!r} of another vendor",
            )


async def _remote_fields(services: ServicesDep, body: AgentIn) -> dict[str, Any]:
    """A remote agent's registry fields: its input form read from its /input_schema now.

    Its jobs run on the platform's own queue, where the platform worker drives them
    (workflows/remote.py).
    """
    url = str(body.remote_url)
    problem = remote_url_problem(url)
    headers = dict(body.remote_headers or {})
    for name, value in headers.items():
        try:
            check_header(name, value)
        except ValueError as err:
            problem = problem or str(err)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    if body.task_queue is not None or body.input_form is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "a remote agent's task_queue and input_form are the platform's: leave them out",
        )
    try:
        form = await input_form_of(url, headers, name=body.name)
    except RemoteAgentError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    return {
        "remote_url": url.rstrip("/"),
        "remote_headers": headers,
        "input_form": form.model_dump(mode="json"),
        "task_queue": services.settings.platform_task_queue,
        "worker_problem": None,
    }

"""MIP-003, per agent: /agents/{agent}/start_job, /status, /provide_input, /availability, ...

A free agent's start_job answers at once with terms computed here (``workflows/terms.py``)
and a ``free-...`` blockchainIdentifier. A paid agent (registry price > 0) gets a Cardano
escrow instead: the job's escrow saga creates the payment request in its first activity,
because only the platform worker holds the seller's key (or reaches the Masumi payment
service), so start_job is one Update-with-Start (``jobs.start_paid_job``) that starts or
finds the job and answers, bounded in time, once the job has the request; its
blockchainIdentifier, windows and sellerVKey are the answer. The buyer pays from their own
wallet; the job stays ``awaiting_payment`` until the funds are locked.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse

from durasumi.api.deps import (
    CurrentPrincipal,
    ServicesDep,
    agent_or_404,
    job_still_open,
    require_roles,
    visible_job,
)
from durasumi.api.schemas import (
    Availability,
    ProvideInputIn,
    ProvideInputOut,
    StartJobIn,
    StartJobOut,
    StatusOut,
)
from durasumi.api.strict_json import StrictJsonRoute
from durasumi.client import jobs
from durasumi.client.availability import availability as agent_availability
from durasumi.db.keys import Role
from durasumi.db.registry import AgentRecord
from durasumi.workflows.escrow_models import EscrowTerms, split_price
from durasumi.workflows.forms import Form
from durasumi.workflows.ids import (
    ResultHashRule,
    canonical_json,
    dev_agent_identifier,
    input_hash,
    parse_result_hash_rules,
    result_text,
)
from durasumi.workflows.models import JobStatus, JobView, PaymentPlan, Submission
from durasumi.workflows.terms import EscrowWindows, terms_for

router = APIRouter(prefix="/agents/{agent}", tags=["MIP-003"], route_class=StrictJsonRoute)

# Matched with fullmatch: "$" would also accept a trailing newline.
_PURCHASER_ID = re.compile(r"[0-9a-fA-F]{14,26}")
_STATUS_NS = uuid.UUID("6f1c52a8-3a43-4c59-9a7c-0d6f5d1f3b10")
# How long a paid start_job waits for the job's payment request before a 503 (retry: the
# same request names the same job, so asking again picks up the request once it exists).
PAYMENT_REQUEST_WAIT = timedelta(seconds=10)
# A settled escrow is read every 10 minutes until unlockTime (6 h): 36 reads, not 720.
WATCH_SECONDS = 600


def status_id(job_id: str, job_status: JobStatus, request_id: str | None = None) -> str:
    """The MIP-003 status id: changes whenever the status or the pending form changes."""
    return str(uuid.uuid5(_STATUS_NS, f"{job_id}/{job_status.value}/{request_id or ''}"))


def view_status_id(view: JobView) -> str:
    """The status id of a job's current state."""
    request = view.pending_form.request_id if view.pending_form else None
    return status_id(view.job_id, view.status, request)


def mip003_status(value: JobStatus) -> str:
    """MIP-003 has no ``cancelled``: a cancelled job is ``failed`` there."""
    return "failed" if value is JobStatus.CANCELLED else value.value


@router.post("/start_job", response_model=StartJobOut)
async def start_job(
    agent: str, body: StartJobIn, services: ServicesDep, principal: CurrentPrincipal
) -> StartJobOut:
    """Start a job (idempotent on identifier_from_purchaser + input_data); paid: escrow terms."""
    require_roles(principal, Role.BUYER, Role.OPERATOR)
    if not _PURCHASER_ID.fullmatch(body.identifier_from_purchaser):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "identifier_from_purchaser must be 14 to 26 hexadecimal characters",
        )
    record = agent_or_404(services, agent)
    if record.price_lovelace > 0 or record.price_amounts:
        return await _start_paid(record, body, services, principal)
    terms = terms_for(
        now_ms=int(time.time() * 1000),
        windows=EscrowWindows(),
        blockchain_identifier=f"free-{secrets.token_hex(16)}",
        agent_identifier=record.agent_identifier or record.name,
        seller_vkey=services.signer.public_key_hex(record.name),
    )
    started = await jobs.start_job(
        services.client,
        record,
        body.identifier_from_purchaser,
        body.input_data,
        platform_task_queue=services.settings.platform_task_queue,
        buyer=principal.owner,
        terms=terms,
        payment=PaymentPlan(result_hash_rule=_result_hash_rule(services, record.name)),
    )
    current = status_id(started.job_id, JobStatus.AWAITING_PAYMENT)
    if not started.created:  # the same request again: answer the first job's terms
        view = await visible_job(services, principal, started.job_id)
        terms, current = view.terms or terms, view_status_id(view)
    return StartJobOut(
        id=current,
        job_id=started.job_id,
        blockchainIdentifier=terms.blockchain_identifier,
        payByTime=terms.pay_by_time,
        submitResultTime=terms.submit_result_time,
        unlockTime=terms.unlock_time,
        externalDisputeUnlockTime=terms.external_dispute_unlock_time,
        agentIdentifier=terms.agent_identifier,
        sellerVKey=terms.seller_vkey,
        identifierFromPurchaser=body.identifier_from_purchaser,
        input_hash=started.input_hash,
    )


async def _start_paid(
    record: AgentRecord, body: StartJobIn, services: ServicesDep, principal: CurrentPrincipal
) -> StartJobOut:
    """Start (or find) a paid job and answer its escrow payment request (module docstring)."""
    lovelace, tokens = split_price(record.price_lovelace, record.price_amounts)
    if services.settings.escrow_backend == "off":
        ada = [f"{lovelace} lovelace"] if lovelace else []
        price = ", ".join(ada + [f"{a.amount} {a.unit}" for a in tokens])
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"agent {record.name!r} costs {price} but this platform "
            "takes no payments: its escrow is off (DURASUMI_ESCROW_BACKEND)",
        )
    agent_identifier = _agent_identifier(record, services)
    direct = services.settings.escrow_backend in ("offline", "blockfrost")
    if direct and len(body.identifier_from_purchaser) % 2:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "identifier_from_purchaser must have an even number of hex characters for a paid "
            "agent: it becomes the escrow datum's buyer nonce (bytes)",
        )
    try:
        paid = await jobs.start_paid_job(
            services.client,
            record,
            body.identifier_from_purchaser,
            body.input_data,
            platform_task_queue=services.settings.platform_task_queue,
            buyer=principal.owner,
            payment=PaymentPlan(
                mode="escrow",
                escrow=EscrowTerms(
                    **services.settings.escrow_window_minutes().model_dump(),
                    price_lovelace=lovelace,
                    amounts=tokens,
                    watch_seconds=WATCH_SECONDS,
                    agent_identifier=agent_identifier,
                ),
                result_hash_rule=_result_hash_rule(services, record.name),
            ),
            timeout=PAYMENT_REQUEST_WAIT,
        )
    except TimeoutError as err:  # the message names the job
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{err}; send the same start_job again shortly (it names the same job)",
            headers={"Retry-After": "5"},
        ) from None
    # No visibility check: the job id is derived from the caller as buyer, so it is theirs.
    view, escrow = paid.view, paid.view.escrow
    if escrow is None:  # closed before its payment request, or not a paid job: nothing to pay
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {paid.job_id} is {view.status.value} without a payment request",
        )
    return StartJobOut(
        id=view_status_id(view),
        job_id=paid.job_id,
        blockchainIdentifier=escrow.blockchain_identifier,
        payByTime=escrow.times.pay_by_time,
        submitResultTime=escrow.times.submit_result_time,
        unlockTime=escrow.times.unlock_time,
        externalDisputeUnlockTime=escrow.times.external_dispute_unlock_time,
        agentIdentifier=escrow.agent_identifier or agent_identifier,
        sellerVKey=escrow.seller_vkey,
        identifierFromPurchaser=body.identifier_from_purchaser,
        input_hash=paid.input_hash,
    )


def _agent_identifier(record: AgentRecord, services: ServicesDep) -> str:
    """The agent's Masumi registry identifier, made up in dev mode; 409 where there is none.

    With the Masumi service backend, DURASUMI_MASUMI_AGENT_IDENTIFIER may name it instead
    (the backend resolves it, and answers it in the payment request).
    """
    if record.agent_identifier:
        return record.agent_identifier
    backend = services.settings.escrow_backend
    if backend == "offline":
        return dev_agent_identifier(record.name)
    if backend == "masumi" and services.settings.masumi_agent_identifier:
        return ""
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        f"agent {record.name!r} is paid but has no Masumi agent identifier (its registry "
        "asset: policy id + asset name, hex); its vendor sets it with POST /agents "
        "(agent_identifier)",
    )


def _result_hash_rule(services: ServicesDep, agent: str) -> ResultHashRule:
    """The MIP-004 result hash rule for ``agent`` (DURASUMI_RESULT_HASH_RULES)."""
    rules = parse_result_hash_rules(services.settings.result_hash_rules)
    return rules.get(agent) or rules.get("*") or ResultHashRule.ESCAPED


@router.get("/status", response_model=StatusOut, response_model_exclude_none=True)
async def job_status(
    agent: str,
    job_id: Annotated[str, Query(min_length=1, max_length=200)],
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> StatusOut:
    """The job's status; input_schema only while it awaits input."""
    view = await _agent_job(services, principal, agent, job_id)
    return StatusOut(
        id=view_status_id(view),
        job_id=view.job_id,
        status=mip003_status(view.status),  # type: ignore[arg-type]
        input_schema=view.pending_form.form.to_input_schema() if view.pending_form else None,
        result=result_text(view.result) if view.status is JobStatus.COMPLETED else None,
    )


@router.post("/provide_input", response_model=ProvideInputOut)
async def provide_input(
    agent: str, body: ProvideInputIn, services: ServicesDep, principal: CurrentPrincipal
) -> ProvideInputOut:
    """Answer the pending form named by status_id or input_schema_hash; signed receipt."""
    if (body.status_id is None) == (body.input_schema_hash is None):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "give exactly one of status_id or input_schema_hash"
        )
    view = await _agent_job(services, principal, agent, body.job_id)
    pending = view.pending_form
    if pending is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {view.job_id} is not awaiting input")
    if body.status_id is not None and body.status_id != view_status_id(view):
        raise HTTPException(status.HTTP_409_CONFLICT, "status_id is not the current status")
    if body.input_schema_hash is not None and body.input_schema_hash != pending.form.schema_hash():
        raise HTTPException(status.HTTP_409_CONFLICT, "input_schema_hash is not the pending form's")
    values: dict[str, Any] = dict(body.input_data or {})
    for group in (body.input_groups or {}).values():
        values.update(group)
    with job_still_open(view.job_id):
        accepted = await jobs.submit_form(
            services.client,
            view.job_id,
            Submission(request_id=pending.request_id, values=values, submitted_by=principal.owner),
        )
    # The values the job took (cleaned by the form), the input hash the job records.
    digest = input_hash(view.identifier_from_purchaser, accepted.values)
    message = canonical_json({"input_hash": digest, "status": "success"}).encode()
    return ProvideInputOut(input_hash=digest, signature=services.signer.sign(agent, message))


@router.get("/availability", response_model=Availability, responses={503: {"model": Availability}})
async def availability(agent: str, services: ServicesDep) -> Any:
    """Available while a worker that can serve the agent polls its task queue (public)."""
    record = agent_or_404(services, agent)
    now = await agent_availability(services.client, record)
    if now.available:
        return Availability(status="available", message=f"{record.name} is ready")
    body = Availability(status="unavailable", message=now.reason)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/input_schema")
async def input_schema(agent: str, services: ServicesDep) -> dict[str, Any]:
    """The start_job input schema: input_data or input_groups (public)."""
    record = agent_or_404(services, agent)
    if record.input_form is None:
        return {"input_data": []}
    return Form.model_validate(record.input_form).to_input_schema()


@router.get("/demo")
async def demo(agent: str, services: ServicesDep) -> dict[str, Any]:
    """An example input and output, when the vendor gave one."""
    record = agent_or_404(services, agent)
    if record.example is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"agent {agent!r} has no demo")
    return record.example


async def _agent_job(
    services: ServicesDep, principal: CurrentPrincipal, agent: str, job_id: str
) -> JobView:
    agent_or_404(services, agent)
    view = await visible_job(services, principal, job_id)
    if view.agent != agent:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found for agent {agent}")
    return view

"""Jobs over HTTP: list, inspect, answer, cancel, and follow events with SSE."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.deps import (
    CurrentPrincipal,
    ServicesDep,
    job_still_open,
    owned_job,
    platform_ready,
    visible_job,
)
from durasumi.api.errors import Unavailable
from durasumi.api.schemas import CancelIn, InputIn, JobList, JobOut, JobRow
from durasumi.api.strict_json import StrictJsonRoute
from durasumi.client import jobs
from durasumi.db.keys import OWNER_MAX_LENGTH, Role, check_owner
from durasumi.workflows.models import CancelRequest, JobStatus, Submission, SubmitResult

log = logging.getLogger(__name__)

# A live stream outlasts a slow or absent platform: it waits, then follows on from where it was.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.5, 5.0
_FINAL = {RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED}

router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictJsonRoute)

# An event number: ASCII digits only (str.isdigit also takes "²", which int() refuses).
_EVENT_NUMBER = re.compile(r"[0-9]{1,18}")
MAX_EVENT_NUMBER = 10**18 - 1


@router.get("", response_model=JobList)
async def list_jobs(
    services: ServicesDep,
    principal: CurrentPrincipal,
    agent: Annotated[str | None, Query(max_length=63, pattern=r"^[a-z][a-z0-9_-]*$")] = None,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    buyer: Annotated[
        str | None, Query(max_length=OWNER_MAX_LENGTH, description="A buyer's owner name.")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> JobList:
    """Jobs from Temporal visibility, newest first; buyers see theirs, vendors their agents'."""
    vendor = None
    if buyer is not None:
        try:
            check_owner(buyer)
        except ValueError as err:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"buyer is not an owner name: {err}"
            ) from None
    if principal.role is Role.BUYER:
        buyer = principal.owner
    elif principal.role is Role.VENDOR:
        vendor = principal.owner
    try:
        query = jobs.jobs_query(
            agent=agent, status=job_status.value if job_status else None, buyer=buyer, vendor=vendor
        )
    except ValueError as err:  # an owner name from before names were checked
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"cannot list jobs by this name: {err}"
        ) from None
    page = await jobs.list_jobs_page(
        services.client, query, page_size=page_size, page_token=_decode(services, page_token)
    )
    rows = [
        JobRow(job_id=r.job_id, agent=r.agent, status=r.status, buyer=r.buyer, started_at=r.started)
        for r in page.rows
    ]
    token = _encode(services, page.next_page_token) if page.next_page_token else None
    return JobList(jobs=rows, next_page_token=token)


@router.get("/{job_id}", response_model=JobOut)
async def get_job(job_id: str, services: ServicesDep, principal: CurrentPrincipal) -> JobOut:
    """Everything about one job."""
    view = await visible_job(services, principal, job_id)
    return JobOut(
        job_id=view.job_id,
        agent=view.agent,
        buyer=view.buyer,
        status=view.status,
        pending_form=view.pending_form.model_dump(mode="json") if view.pending_form else None,
        pending_input_schema=(
            view.pending_form.form.to_input_schema() if view.pending_form else None
        ),
        result=view.result,
        error=view.error,
        events=view.last_seq,
        usage=view.usage,
        escrow=view.escrow,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


@router.post("/{job_id}/input", response_model=SubmitResult)
async def submit_input(
    job_id: str, body: InputIn, services: ServicesDep, principal: CurrentPrincipal
) -> SubmitResult:
    """Answer the pending form; a refused answer is a 422 with every field error."""
    summary = await owned_job(services, principal, job_id)
    if summary.status.terminal or not summary.open:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} already ended ({summary.status.value}): there is nothing to answer",
        )
    await platform_ready(services)
    submission = Submission(
        request_id=body.request_id,
        form_id=body.form_id,
        values=body.values,
        submitted_by=principal.owner,
    )
    timeout = services.settings.api_worker_timeout
    try:
        with job_still_open(job_id):
            return await jobs.submit_form(
                services.client, job_id, submission, timeout=timedelta(seconds=timeout)
            )
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        retry = (
            "sending it again with the same request_id is safe"
            if body.request_id
            else "read the job before answering again (an answer naming its request_id can "
            "always be sent again)"
        )
        raise Unavailable(
            "answer_timeout",
            f"the job did not take the answer within {timeout:g} s; it may still be applied: "
            + retry,
            retry_after=max(1, round(timeout)),
            code=status.HTTP_504_GATEWAY_TIMEOUT,
        ) from err


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_job(
    job_id: str, services: ServicesDep, principal: CurrentPrincipal, body: CancelIn | None = None
) -> dict[str, str]:
    """Ask the job to stop; it ends cancelled and the buyer is refunded where money moved."""
    summary = await owned_job(services, principal, job_id)  # a signal needs no worker
    if summary.status.terminal or not summary.open:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job {job_id} already ended ({summary.status.value})"
        )
    reason = body.reason if body else "cancelled by request"
    with job_still_open(job_id):
        await jobs.cancel_job(
            services.client, job_id, CancelRequest(reason=reason, requested_by=principal.owner)
        )
    return {"job_id": job_id, "status": "cancel_requested"}


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def job_events(
    job_id: str,
    services: ServicesDep,
    principal: CurrentPrincipal,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_NUMBER)] = None,
) -> StreamingResponse:
    """Live events as Server-Sent Events; resume with Last-Event-ID (or ?after=N)."""
    offset = after or 0
    if last_event_id is not None:
        if not _EVENT_NUMBER.fullmatch(last_event_id):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "Last-Event-ID must be an event number (digits 0-9)"
            )
        offset = int(last_event_id)
    if offset == 0:  # from the start: the ownership check needs no worker, the follow does
        await owned_job(services, principal, job_id)
        await platform_ready(services)
    else:
        view = await visible_job(services, principal, job_id)
        # Nobody can have seen an event the job has not numbered yet: such an offset would
        # only hold the stream open, silent, until the job ends.
        if offset > view.last_seq:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"event {offset} is past the job's last event ({view.last_seq})",
            )

    async def stream() -> AsyncIterator[str]:
        seen, delay = offset, _FIRST_PAUSE
        while True:
            try:
                async for event in jobs.follow_events(services.client, job_id, seen):
                    seen, delay = event.seq, _FIRST_PAUSE
                    data = json.dumps(event.model_dump(mode="json"), ensure_ascii=False)
                    yield f"id: {event.seq}\nevent: {event.kind.value}\ndata: {data}\n\n"
                break
            except RPCError as err:
                # Temporal or the platform worker is slow or away (a read timed out): the
                # stream stays open and goes on from the last event sent once they answer.
                if err.status in _FINAL:
                    raise
                log.info("events of %s wait %.1f s: %s", job_id, delay, err.message)
                yield ": waiting for the platform\n\n"  # an SSE comment: keeps proxies open
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LONGEST_PAUSE)
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _encode(services: ServicesDep, raw: bytes) -> str:
    """Temporal's page token, tagged so a forged or mangled one never reaches the server."""
    return base64.urlsafe_b64encode(services.signer.mac(raw) + raw).decode()


def _decode(services: ServicesDep, token: str | None) -> bytes | None:
    if token is None:
        return None
    try:
        blob = base64.b64decode(token.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    tag, raw = blob[:16], blob[16:]
    if len(blob) <= 16 or not hmac.compare_digest(tag, services.signer.mac(raw)):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "page_token is not a token from this API")
    return raw

"""POST /escrow/masumi/webhook: the Masumi payment service's deliveries, as signals to jobs.

The masumi escrow backend registers this URL (DURASUMI_MASUMI_WEBHOOK_URL) with the service
for PAYMENT_ON_CHAIN_STATUS_CHANGED and PAYMENT_ON_ERROR, in the EXTENDED format: the
service posts ``{event_type, service_name, timestamp, webhook_id, data}`` (``data`` shaped
like GET /payment's entries) with ``Authorization: Bearer <authToken>``
(masumi-payment-service 0.28, ``docs/webhook-events.md``, ``services/webhooks``). A
delivery carrying the shared token becomes ``JobWorkflow.escrow_notice`` on the job named
by the payment's metadata (the backend tags each payment request with its job). The job only
reads the escrow earlier than its next poll (``workflows/escrow_notice.py``), so a delivery
that repeats, arrives late or never arrives changes nothing.

Every authenticated delivery is answered 2xx, also when it names no job here (the service
would otherwise retry it, and disable the webhook after ten failures).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.deps import ServicesDep
from durasumi.client import jobs
from durasumi.workflows.escrow_notice import EscrowNotice
from durasumi.workflows.job import JobWorkflow

__all__ = ["WEBHOOK_PATH", "router"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/escrow/masumi/webhook"
# The backend's payment metadata: "durasumi job <job id> purchaser <identifier>".
_JOB_TAG = re.compile(r"^durasumi job (\S+) purchaser \S+$")

router = APIRouter(tags=["escrow"])


@router.post(WEBHOOK_PATH, include_in_schema=True)
async def masumi_webhook(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A Masumi payment service's webhook delivery (Bearer token); signals the job."""
    secret = services.settings.masumi_webhook_token
    if secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no Masumi webhook is configured here")
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing webhook token")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the delivery is not JSON") from None
    data = body.get("data") if isinstance(body, dict) else None
    event = body.get("event_type") if isinstance(body, dict) else None
    if event not in ("PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR"):
        return {"status": "ignored", "reason": f"event {event!r} is not one durasumi follows"}
    if not isinstance(data, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the delivery has no data object")
    tag = _JOB_TAG.match(str(data.get("metadata") or ""))
    if tag is None:
        return {"status": "ignored", "reason": "not a payment durasumi requested"}
    job_id = tag.group(1)
    found = data.get("NextAction")
    next_action: dict[str, Any] = found if isinstance(found, dict) else {}
    error = " ".join(str(next_action.get(k) or "") for k in ("errorType", "errorNote")).strip()
    try:
        notice = EscrowNotice(
            blockchain_identifier=str(data.get("blockchainIdentifier") or ""),
            event=event,
            on_chain_state=data.get("onChainState"),
            next_action=next_action.get("requestedAction"),
            error=error[:500] or None,
        )
    except ValidationError as err:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"malformed delivery: {err.errors()[0]['msg']}"
        ) from None
    try:
        await jobs.job_handle(services.client, job_id).signal(JobWorkflow.escrow_notice, notice)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return {"status": "ignored", "reason": f"job {job_id} is not running"}
    log.info("Masumi webhook %s for job %s: %s", event, job_id, notice.on_chain_state)
    return {"status": "delivered", "job_id": job_id}

"""Dependencies: the services built in the lifespan, and the caller's API key."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.errors import Unavailable
from durasumi.client import jobs
from durasumi.client.jobs import JobSummary
from durasumi.client.liveness import QueueLiveness, queue_liveness
from durasumi.db.keys import KeyStore, Principal, Role
from durasumi.db.registry import AgentRecord, Registry
from durasumi.db.signing import Signer
from durasumi.workers.settings import Settings
from durasumi.workflows.models import JobView

__all__ = [
    "CurrentPrincipal",
    "Services",
    "ServicesDep",
    "agent_or_404",
    "job_still_open",
    "owned_job",
    "platform_ready",
    "require_roles",
    "visible_job",
]


class TTLCache:
    """A small time-bounded memo for hot database lookups (keys, agents) on every request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The cached value for ``key``, loading it when absent or stale."""
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = load()
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        """Drop ``key`` (after a write made here)."""
        self._entries.pop(key, None)


@dataclass
class Services:
    """Everything a route needs, made once per process in the lifespan.

    Key and agent lookups are cached for ``settings.cache_seconds``: a revoked key or a
    re-registered agent takes effect within that time on every replica.
    """

    settings: Settings
    client: Client
    registry: Registry
    keys: KeyStore
    signer: Signer
    cache: TTLCache = field(default_factory=lambda: TTLCache(5.0))
    liveness: tuple[float, QueueLiveness] | None = None  # (monotonic time, platform queue)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A durasumi API key.")
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


def _principal(
    services: ServicesDep,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    key = api_key or (bearer.credentials if bearer else None)
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = services.cache.get(f"key:{key}", lambda: services.keys.verify(key))
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require_roles(principal: Principal, *roles: Role) -> None:
    """403 unless the caller has one of ``roles``."""
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this needs a {allowed} key, not {principal.role.value}"
        )


# A registrable agent name (schemas.AgentIn): anything else is no agent, answered without a
# database lookup (PostgreSQL refuses a NUL in a text parameter outright).
_AGENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def agent_or_404(services: Services, name: str) -> AgentRecord:
    """The registered agent called ``name``."""
    if not _AGENT_NAME.fullmatch(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agent {name[:100]!r}")
    record = services.cache.get(f"agent:{name}", lambda: services.registry.get(name))
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agent {name!r}")
    return record


# What workflows.ids.job_id_for makes: job-<agent>-<24 hex>. Anything else (an agent child's
# "<job id>-agent", another workflow, a 5,000-character path) is no job: 404 without asking
# Temporal, whose answer would be a failed query (502) or an invalid argument (400).
_JOB_ID = re.compile(r"job-[a-z][a-z0-9_-]{0,62}-[0-9a-f]{24}")


async def owned_job(services: Services, principal: Principal, job_id: str) -> JobSummary:
    """Who owns the job and where it stands, checked without a worker (describe, not query).

    Someone else's job is a 404, not a 403. Works while every worker is down, so the
    caller can still be told the truth about the job (or cancel it).
    """
    if not _JOB_ID.fullmatch(job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id[:200]!r} not found")
    try:
        summary = await jobs.job_summary(services.client, job_id)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found") from err
    if principal.role is Role.BUYER and summary.buyer != principal.owner:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    if principal.role is Role.VENDOR and summary.vendor != principal.owner:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return summary


async def platform_ready(services: Services) -> None:
    """Refuse at once (503, Retry-After) when no platform worker is alive to answer.

    Read from Temporal's worker heartbeats (client/liveness.py), at most once a second per
    API process. Where the server keeps no heartbeats this says nothing, and the caller's
    own deadline (``api_worker_timeout``) bounds the wait instead.
    """
    settings = services.settings
    now = time.monotonic()
    cached = services.liveness
    if cached is None or now - cached[0] >= 1.0:
        live = await queue_liveness(services.client, settings.platform_task_queue)
        services.liveness = cached = (now, live)
    if cached[1].down:
        raise Unavailable(
            "platform_unavailable",
            "no platform worker is running: the job is safe and waits; try again shortly",
            retry_after=_retry_after(settings),
        )


async def visible_job(services: Services, principal: Principal, job_id: str) -> JobView:
    """The job's view, if the caller may see it (503 when no platform worker answers)."""
    await owned_job(services, principal, job_id)
    await platform_ready(services)
    timeout = services.settings.api_worker_timeout
    try:
        return await jobs.job_view(services.client, job_id, timeout=timedelta(seconds=timeout))
    except RPCError as err:
        # The server's deadline (DEADLINE_EXCEEDED) or the client's own (CANCELLED).
        if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise
        raise Unavailable(
            "platform_unavailable",
            f"the platform worker did not answer within {timeout:g} s: the job is safe; "
            "try again shortly",
            retry_after=_retry_after(services.settings),
        ) from err


def _retry_after(settings: Settings) -> int:
    """Seconds to wait before asking again: about one worker heartbeat."""
    return max(1, round(settings.worker_heartbeat_seconds))


@contextmanager
def job_still_open(job_id: str) -> Iterator[None]:
    """Around a message to a job just read: NOT_FOUND then means it closed in between (409).

    Temporal answers an update or signal to a closed workflow with NOT_FOUND; the job was
    there a moment ago, so for the caller it has ended, which is a conflict, not a 404.
    """
    try:
        yield
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job {job_id} has already ended: {err.message}"
        ) from err

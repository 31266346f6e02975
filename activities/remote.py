"""Driving a remote MIP-003 agent over HTTP: start once, follow its status, relay answers.

The platform worker runs these for ``workflows/remote.py``. The remote's URL and headers
come from the registry through the injected ``targets`` lookup on every call, so auth
headers never enter Temporal's history and an operator's change applies to running jobs.

* ``start_job`` is the one step a remote cannot make idempotent for us (MIP-003 has no
  lookup by purchase): the identifier_from_purchaser is derived from the job id (a remote
  that deduplicates purchases, durasumi's facade among them, answers the same job again),
  and the remote's job id is heartbeated the moment it is known, so a retried attempt
  looks it up and never starts a second job. Once the activity completed, the id is in
  history: a platform worker that dies later replays it.
* ``follow`` polls GET /status with backoff (fast after a change, slower while nothing
  moves, heartbeating throughout) and returns on a change. It never waits forever: a
  remote that forgot the job (404) or keeps answering garbage fails at once, one that stays
  unreachable past ``unreachable_seconds`` or silent past the job's deadline fails then.
* ``provide_input`` answers the form; repeated after a crash, it checks the remote's
  status first and treats an answer already taken as delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.workflows.ids import canonical_json
from durasumi.workflows.remote_models import (
    REMOTE_BAD_ANSWER,
    REMOTE_DEADLINE,
    REMOTE_JOB_LOST,
    REMOTE_NOT_REGISTERED,
    REMOTE_REFUSED,
    REMOTE_UNREACHABLE,
    RemoteAnswered,
    RemoteAnswerInput,
    RemoteFollowInput,
    RemotePlan,
    RemotePlanInput,
    RemoteStarted,
    RemoteStartInput,
    RemoteStatus,
    RemoteTarget,
)

__all__ = ["RemoteActivities", "RemoteSettings", "purchase_identifier", "schema_hash"]

log = logging.getLogger(__name__)

TargetLookup = Callable[[str], RemoteTarget | None]
"""The registry lookup: a remote agent's URL and headers by name (None: not remote)."""

_STATUSES = {"awaiting_payment", "awaiting_input", "running", "completed", "failed"}


class RemoteSettings(BaseModel):
    """How the platform talks to remote agents; built by the worker from its settings.

    Example:
        >>> RemoteSettings().poll_max_seconds
        10.0
    """

    request_timeout: float = Field(10.0, gt=0, description="Seconds for one HTTP request.")
    poll_min_seconds: float = Field(0.5, gt=0, description="First wait between status reads.")
    poll_max_seconds: float = Field(10.0, gt=0, description="Longest wait between reads.")
    unreachable_seconds: float = Field(
        600.0, gt=0, description="A remote unreachable this long fails the job."
    )
    bad_answers: int = Field(3, ge=1, description="Garbage answers in a row that fail the job.")
    job_timeout_minutes: int = Field(
        24 * 60, ge=1, description="Deadline of a remote job that has no escrow deadline."
    )


def purchase_identifier(job_id: str) -> str:
    """The identifier_from_purchaser durasumi sends a remote for ``job_id`` (24 hex).

    Example:
        >>> len(purchase_identifier("job-echo-1"))
        24
    """
    return hashlib.sha256(f"durasumi-remote;{job_id}".encode()).hexdigest()[:24]


def schema_hash(input_schema: Any) -> str:
    """MIP-003 input_schema_hash: sha256 hex of the schema's canonical JSON."""
    return hashlib.sha256(canonical_json(input_schema).encode("utf-8")).hexdigest()


class RemoteActivities:
    """The remote-agent activities, with the registry lookup and HTTP client injected.

    Args:
        targets: A remote agent's URL and headers by name (the registry).
        settings: Timeouts and polling.
        transport: An httpx transport (tests); default: real HTTP.
    """

    def __init__(
        self,
        targets: TargetLookup,
        settings: RemoteSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or RemoteSettings()
        self._targets = targets
        self._http = httpx.AsyncClient(timeout=self.settings.request_timeout, transport=transport)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for a worker's ``activities``."""
        return [self.plan, self.start_job, self.follow, self.provide_input]

    # -- activities ---------------------------------------------------------------------

    @activity.defn(name="durasumi.remote.plan")
    async def plan(self, request: RemotePlanInput) -> RemotePlan:
        """Where the remote is, the purchase identifier and the job's deadline."""
        target = await self._target(request.agent)
        now_ms = int(time.time() * 1000)
        deadline = now_ms + self.settings.job_timeout_minutes * 60_000
        if request.parent_workflow_id:
            submit_by = await _submit_result_time(request.parent_workflow_id)
            if submit_by is not None:
                # Leave the platform a minute to record the result before the escrow deadline.
                deadline = min(deadline, submit_by - 60_000)
        return RemotePlan(
            url=target.url, identifier=purchase_identifier(request.job_id), deadline_ms=deadline
        )

    @activity.defn(name="durasumi.remote.start_job")
    async def start_job(self, request: RemoteStartInput) -> RemoteStarted:
        """POST /start_job once; a retried attempt reuses the job a lost attempt started."""
        details = activity.info().heartbeat_details
        if details:  # an earlier attempt got the remote's answer before it died
            return RemoteStarted.model_validate(details[0])
        target = await self._target(request.agent)
        body = {"identifier_from_purchaser": request.identifier, "input_data": request.input_data}
        answer = await self._call("POST", target, "/start_job", json=body)
        if answer.status_code >= 400:
            raise _refused("start_job", answer)
        data = _json_object(answer)
        job_id = data.get("job_id") or data.get("id") if data else None
        if not isinstance(job_id, str) or not job_id:
            raise ApplicationError(
                f"the remote agent's start_job answer has no job id: {answer.text[:300]}",
                type=REMOTE_BAD_ANSWER,
                non_retryable=True,
            )
        bid = data.get("blockchainIdentifier") if data else None
        started = RemoteStarted(
            remote_job_id=job_id, blockchain_identifier=bid if isinstance(bid, str) else None
        )
        activity.heartbeat(started.model_dump())
        log.info("remote agent %s started job %s for %s", request.agent, job_id, request.job_id)
        return started

    @activity.defn(name="durasumi.remote.follow")
    async def follow(self, request: RemoteFollowInput) -> RemoteStatus:
        """Poll GET /status with backoff until the job changes (see the module docstring)."""
        s = self.settings
        wait = s.poll_min_seconds
        bad = 0
        unreachable_since: float | None = None
        while True:
            activity.heartbeat()
            if time.time() * 1000 >= request.deadline_ms:
                raise ApplicationError(
                    f"the remote agent did not finish job {request.remote_job_id} before the "
                    "job's deadline",
                    type=REMOTE_DEADLINE,
                    non_retryable=True,
                )
            target = await self._target(request.agent)
            try:
                answer = await self._http.get(
                    _url(target, "/status"),
                    params={"job_id": request.remote_job_id},
                    headers=target.headers,
                )
            except httpx.HTTPError as err:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since >= s.unreachable_seconds:
                    raise ApplicationError(
                        f"the remote agent has been unreachable for {s.unreachable_seconds:g} s: "
                        f"{type(err).__name__}: {err}",
                        type=REMOTE_UNREACHABLE,
                        non_retryable=True,
                    ) from None
                await asyncio.sleep(wait)
                wait = min(wait * 2, s.poll_max_seconds)
                continue
            unreachable_since = None
            if answer.status_code == 404:
                raise _lost(request.remote_job_id)
            status = _status(answer) if answer.status_code < 400 else None
            if status is None:
                bad += 1 if answer.status_code < 500 else 0
                if bad >= s.bad_answers:
                    raise ApplicationError(
                        f"the remote agent answered GET /status with garbage {bad} times in a "
                        f"row: HTTP {answer.status_code} {answer.text[:200]!r}",
                        type=REMOTE_BAD_ANSWER,
                        non_retryable=True,
                    )
            else:
                bad = 0
                if _changed(status, request):
                    return status
            await asyncio.sleep(wait)
            wait = min(wait * 2, s.poll_max_seconds)

    @activity.defn(name="durasumi.remote.provide_input")
    async def provide_input(self, request: RemoteAnswerInput) -> RemoteAnswered:
        """POST /provide_input with the status id and schema hash of the form answered."""
        target = await self._target(request.agent)
        body = {
            "job_id": request.remote_job_id,
            "status_id": request.status_id,
            "input_data": request.input_data,
        }
        answer = await self._patient("POST", target, "/provide_input", json=body)
        if answer.status_code < 400:
            data = _json_object(answer) or {}
            digest = data.get("input_hash")
            return RemoteAnswered(input_hash=digest if isinstance(digest, str) else None)
        # Refused, or an earlier attempt's answer was already taken (the remote moved on).
        now = await self._patient(
            "GET", target, "/status", params={"job_id": request.remote_job_id}
        )
        if now.status_code == 404:
            raise _lost(request.remote_job_id)
        status = _status(now) if now.status_code < 400 else None
        if status is not None and not (
            status.status == "awaiting_input"
            and status.input_schema is not None
            and schema_hash(status.input_schema) == request.input_schema_hash
        ):
            return RemoteAnswered(already=True)
        refused = _refused("provide_input", answer)
        if answer.status_code >= 500 or answer.status_code == 429:
            # Some servers answer every refusal with 500: retried a few times, then it fails.
            raise ApplicationError(refused.message, type=REMOTE_REFUSED)
        raise refused

    # -- plumbing ---------------------------------------------------------------------

    async def _target(self, agent: str) -> RemoteTarget:
        target = await asyncio.to_thread(self._targets, agent)
        if target is None:
            raise ApplicationError(
                f"agent {agent!r} is not registered as a remote agent",
                type=REMOTE_NOT_REGISTERED,
                non_retryable=True,
            )
        return target

    async def _patient(
        self, method: str, target: RemoteTarget, path: str, **kwargs: Any
    ) -> httpx.Response:
        """One request, repeated (heartbeating) while the remote is unreachable.

        Raises:
            ApplicationError: ``RemoteUnreachable`` (non-retryable) once the remote has been
                unreachable for ``unreachable_seconds``.
        """
        s = self.settings
        wait, since = s.poll_min_seconds, time.monotonic()
        while True:
            activity.heartbeat()
            try:
                return await self._http.request(
                    method, _url(target, path), headers=target.headers, **kwargs
                )
            except httpx.HTTPError as err:
                if time.monotonic() - since >= s.unreachable_seconds:
                    raise ApplicationError(
                        f"the remote agent has been unreachable for {s.unreachable_seconds:g} s "
                        f"({method} {path}): {type(err).__name__}: {err}",
                        type=REMOTE_UNREACHABLE,
                        non_retryable=True,
                    ) from None
            await asyncio.sleep(wait)
            wait = min(wait * 2, s.poll_max_seconds)

    async def _call(
        self, method: str, target: RemoteTarget, path: str, **kwargs: Any
    ) -> httpx.Response:
        """One request; transport errors and 5xx raise retryable errors (Temporal retries)."""
        try:
            answer = await self._http.request(
                method, _url(target, path), headers=target.headers, **kwargs
            )
        except httpx.HTTPError as err:
            raise ApplicationError(
                f"cannot reach the remote agent ({method} {path}): {type(err).__name__}: {err}",
                type=REMOTE_UNREACHABLE,
            ) from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise ApplicationError(
                f"the remote agent answered {method} {path} with HTTP {answer.status_code}: "
                f"{answer.text[:300]}",
                type=REMOTE_UNREACHABLE,
            )
        return answer


async def _submit_result_time(workflow_id: str) -> int | None:
    """The owning job's submitResultTime (escrow, else MIP-003 terms), if it has one."""
    from durasumi.workflows.job import JobWorkflow  # the workflow module, for its query

    view = await activity.client().get_workflow_handle(workflow_id).query(JobWorkflow.view)
    if view.escrow is not None:
        return view.escrow.times.submit_result_time
    if view.terms is not None:
        return view.terms.submit_result_time
    return None


def _url(target: RemoteTarget, path: str) -> str:
    return target.url.rstrip("/") + path


def _json_object(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        data = answer.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _status(answer: httpx.Response) -> RemoteStatus | None:
    """A GET /status answer, or None when it is not one."""
    data = _json_object(answer)
    if data is None or data.get("status") not in _STATUSES:
        return None
    schema = data.get("input_schema")
    if data["status"] == "awaiting_input" and not isinstance(schema, dict):
        return None
    result = data.get("result")
    message = data.get("message") or data.get("error")
    try:
        return RemoteStatus(
            status_id=str(data.get("id") or data.get("status_id") or ""),
            status=data["status"],
            input_schema=schema if isinstance(schema, dict) else None,
            result=result if isinstance(result, str) else None,
            message=str(message)[:500] if message else None,
        )
    except ValidationError:
        return None


def _changed(status: RemoteStatus, request: RemoteFollowInput) -> bool:
    if status.status == "awaiting_input":
        if request.answered_status_id is None:
            return True
        if status.status_id:
            return status.status_id != request.answered_status_id
        # No status ids at all: a form is new once something else was seen after the answer.
        return request.last_status not in (None, "awaiting_input")
    return status.status != request.last_status


def _lost(remote_job_id: str) -> ApplicationError:
    return ApplicationError(
        f"the remote agent no longer knows job {remote_job_id} (HTTP 404): it lost the job",
        type=REMOTE_JOB_LOST,
        non_retryable=True,
    )


def _refused(step: str, answer: httpx.Response) -> ApplicationError:
    return ApplicationError(
        f"the remote agent refused {step}: HTTP {answer.status_code} {answer.text[:300]}",
        type=REMOTE_REFUSED,
        non_retryable=True,
    )

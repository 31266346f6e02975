"""Registering agents with the platform over its HTTP API, as a vendor's worker does.

A vendor's worker holds no platform secret: it reaches the platform through Temporal (its
own task queue) and through the API with the vendor's key. At start it tells the API what
it serves (name, description, task queue, input form); the API keeps what the vendor set
there (price, demo) and records the vendor from the key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from durasumi.workflows.agent import AgentWorkflow

__all__ = ["AgentRegistration", "RegistrationError", "register_agents", "registration_for"]

log = logging.getLogger(__name__)

# Statuses worth another try: the API is starting, restarting or overloaded.
_RETRY_STATUS = {502, 503, 504}


class RegistrationError(RuntimeError):
    """The platform's API refused a registration, or could not be reached."""


class AgentRegistration(BaseModel):
    """What a worker knows about an agent it serves (the body of ``POST /agents``)."""

    name: str
    description: str = ""
    task_queue: str | None = Field(
        None, description="None: the platform derives the agent's queue and answers it."
    )
    workflow_type: str
    input_form: dict[str, Any] | None = Field(None, description="The agent's input Form (JSON).")
    worker_problem: str | None = Field(
        None, description="Why the registering worker cannot serve the agent; None: it can."
    )


def registration_for(
    cls: type[AgentWorkflow], task_queue: str | None = None, worker_problem: str | None = None
) -> AgentRegistration:
    """What a worker registers for the agent class ``cls`` (its queue: the platform's choice).

    Example:
        >>> from durasumi.examples.trip_planner import TripPlanner
        >>> registration_for(TripPlanner, "durasumi-agent-trip-planner").workflow_type
        'trip-planner'
    """
    return AgentRegistration(
        name=cls.name,
        description=cls.description,
        task_queue=task_queue,
        workflow_type=cls.name,
        input_form=cls.input_form.model_dump(mode="json") if cls.input_form else None,
        worker_problem=worker_problem,
    )


async def register_agents(
    api_url: str,
    api_key: str,
    registrations: Sequence[AgentRegistration],
    *,
    attempts: int = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, str]:
    """Register every agent through ``POST {api_url}/agents`` with a vendor's ``api_key``.

    Connection failures and 502/503/504 are retried with backoff (the API may start after
    the worker); any other refusal raises at once with the API's reason.

    Returns:
        Each agent's task queue as the platform answered it: the one the worker polls.

    Raises:
        RegistrationError: the API refused a registration or stayed unreachable.
    """
    headers = {"X-API-Key": api_key}
    queues: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/"), headers=headers, timeout=10.0, transport=transport
    ) as http:
        for registration in registrations:
            queues[registration.name] = await _register(http, registration, attempts)
    return queues


async def _register(http: httpx.AsyncClient, registration: AgentRegistration, attempts: int) -> str:
    # A None clears an earlier worker's problem; an unset queue is the platform's to choose.
    body = registration.model_dump(mode="json")
    if registration.task_queue is None:
        del body["task_queue"]
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            answer = await http.post("/agents", json=body)
        except httpx.TransportError as err:
            problem = f"cannot reach the platform's API at {http.base_url}: {err}"
        else:
            if answer.status_code < 400:
                queue = _answered_queue(answer)
                if queue is None:
                    raise RegistrationError(
                        f"the platform's API at {http.base_url} registered agent "
                        f"{registration.name!r} but did not answer its task queue"
                    )
                log.info("registered agent %s on %s", registration.name, queue)
                return queue
            problem = f"the platform's API refused agent {registration.name!r}: " + _reason(answer)
            if answer.status_code not in _RETRY_STATUS:
                raise RegistrationError(problem)
        if attempt == attempts:
            raise RegistrationError(problem)
        log.warning("%s (attempt %d of %d)", problem, attempt, attempts)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
    raise RegistrationError(f"agent {registration.name!r} was not registered: no attempt left")


def _answered_queue(answer: httpx.Response) -> str | None:
    try:
        queue = answer.json().get("task_queue")
    except (ValueError, AttributeError):
        return None
    return queue if isinstance(queue, str) and queue else None


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        detail = body.get("message") or body.get("detail") or answer.text
    except (ValueError, AttributeError):
        detail = answer.text
    return f"HTTP {answer.status_code} {str(detail)[:300]}"

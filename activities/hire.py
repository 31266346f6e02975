"""The platform's side of ``hire()``: the registry lookup and the watch on a sub-job.

These run on the platform's task queue (a vendor's worker has no registry): the hiring
agent's workflow schedules them there by the queue its job runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.workflows.hire_models import (
    HIRE_UNKNOWN_AGENT,
    HireLookup,
    HireTarget,
    SubJobState,
    SubJobWatch,
)

__all__ = ["HireActivities"]

TargetLookup = Callable[[str], HireTarget | None]


class HireActivities:
    """The hire activities, with the registry lookup injected.

    Args:
        targets: An agent's queue, vendor, price and input form by name (the registry).
        poll_seconds: The longest wait between two reads of a sub-job.
    """

    def __init__(self, targets: TargetLookup, *, poll_seconds: float = 2.0) -> None:
        self._targets = targets
        self._poll = poll_seconds

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for a worker's ``activities``."""
        return [self.describe, self.watch]

    @activity.defn(name="durasumi.hire.describe")
    async def describe(self, lookup: HireLookup) -> HireTarget:
        """The agent to hire, from the registry."""
        target = await asyncio.to_thread(self._targets, lookup.agent)
        if target is None:
            raise ApplicationError(
                f"no agent {lookup.agent!r} is registered on this platform",
                type=HIRE_UNKNOWN_AGENT,
                non_retryable=True,
            )
        return target

    @activity.defn(name="durasumi.hire.watch")
    async def watch(self, request: SubJobWatch) -> SubJobState:
        """Read the sub-job until it asks for a new form or ends (heartbeating)."""
        from durasumi.workflows.job import JobWorkflow  # the workflow, for its query

        handle = activity.client().get_workflow_handle(request.job_id)
        wait = 0.1
        while True:
            activity.heartbeat()
            view = await handle.query(JobWorkflow.view)
            pending = view.pending_form
            if view.status.terminal:
                return SubJobState(status=view.status, usage=view.usage)
            if pending is not None and pending.request_id != request.seen_request_id:
                return SubJobState(status=view.status, request=pending, usage=view.usage)
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._poll)

"""RemoteAgentWorkflow: the agent workflow of an agent that serves MIP-003 somewhere else.

JobWorkflow starts an agent's workflow by the agent's name on the agent's task queue. A
remote agent is registered on the platform's own task queue, where this workflow is
registered as the *dynamic* workflow: it runs whatever agent name it is started as, so the
job saga (escrow, events, SSE, MIP-003 status, the CLI) is the very same as for a native
agent, and a buyer cannot tell the two apart.

It drives the remote through ``activities/remote.py``: start_job once, then follow the
status; each ``awaiting_input`` becomes a durasumi form (``schema_form.py``) asked with
:meth:`AgentWorkflow.ask`, so the buyer answers it through durasumi, and the answer goes
back by provide_input; the remote's result is the job's result, its failure the job's
failure (and the buyer's refund). Nothing waits forever: the job's deadline bounds every
step and every form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.ids import watch_queue
from durasumi.workflows.models import AgentRunInput
from durasumi.workflows.remote_models import (
    REMOTE_BAD_ANSWER,
    REMOTE_DEADLINE,
    REMOTE_FAILED,
    RemoteAnswerInput,
    RemoteFollowInput,
    RemotePlan,
    RemotePlanInput,
    RemoteStarted,
    RemoteStartInput,
    RemoteStatus,
)
from durasumi.workflows.schema_form import form_from_input_schema

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.remote import RemoteActivities, schema_hash

__all__ = ["RemoteAgentWorkflow"]

T = TypeVar("T")

# One HTTP round trip, retried while the remote is unreachable or answers 5xx.
_QUICK = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# A dead platform worker is noticed within this (follow heartbeats while it polls).
_HEARTBEAT = timedelta(seconds=10)
_MARGIN = timedelta(seconds=30)


@workflow.defn(dynamic=True)
class RemoteAgentWorkflow(AgentWorkflow):
    """Runs one job of a remote MIP-003 agent (see the module docstring).

    Registered by the platform worker (``platform_worker(..., remote=...)``); started by
    JobWorkflow like any agent, with the agent's name as its workflow type.
    """

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> str:
        """Start the remote job, relay its forms, and return its result."""
        job = workflow.payload_converter().from_payload(args[0].payload, AgentRunInput)
        parent = workflow.info().parent
        plan: RemotePlan = await self._call(
            RemoteActivities.plan,
            RemotePlanInput(
                agent=job.agent,
                job_id=job.job_id,
                parent_workflow_id=parent.workflow_id if parent else None,
            ),
            timedelta(minutes=5),
        )
        deadline = datetime.fromtimestamp(plan.deadline_ms / 1000, UTC)
        started: RemoteStarted = await self._call(
            RemoteActivities.start_job,
            RemoteStartInput(
                agent=job.agent,
                job_id=job.job_id,
                identifier=plan.identifier,
                input_data=job.input_data,
            ),
            self._left(deadline),
        )
        await self.emit(
            f"started at the remote agent as job {started.remote_job_id}",
            {"remote_job_id": started.remote_job_id},
        )
        last: str | None = None
        answered: str | None = None
        while True:
            status: RemoteStatus = await self._call(
                RemoteActivities.follow,
                RemoteFollowInput(
                    agent=job.agent,
                    remote_job_id=started.remote_job_id,
                    last_status=last,
                    answered_status_id=answered,
                    deadline_ms=plan.deadline_ms,
                ),
                self._left(deadline),
            )
            last = status.status
            if status.status == "completed":
                return status.result or ""
            if status.status == "failed":
                raise ApplicationError(
                    f"the remote agent failed the job: {status.message or 'no reason given'}",
                    type=REMOTE_FAILED,
                    non_retryable=True,
                )
            if status.status != "awaiting_input" or status.input_schema is None:
                await self.emit(f"remote agent: {status.status}", {"remote_status": status.status})
                continue
            answered = await self._relay(job, status, started, deadline)

    async def _relay(
        self, job: AgentRunInput, status: RemoteStatus, started: RemoteStarted, deadline: datetime
    ) -> str:
        """Ask the buyer the remote's form and hand the answer back; the answered status id."""
        try:
            form = form_from_input_schema(
                status.input_schema, form_id="input", title=f"{job.agent} asks for input"
            )
        except ValueError as err:
            raise ApplicationError(
                f"the remote agent asked for input with an unusable schema: {err}",
                type=REMOTE_BAD_ANSWER,
                non_retryable=True,
            ) from None
        left = deadline - workflow.now()
        if left <= timedelta(0):
            raise ApplicationError(
                "the job's deadline passed", type=REMOTE_DEADLINE, non_retryable=True
            )
        values = await self.ask(form, timeout=left)
        await self._call(
            RemoteActivities.provide_input,
            RemoteAnswerInput(
                agent=job.agent,
                remote_job_id=started.remote_job_id,
                status_id=status.status_id,
                input_schema_hash=schema_hash(status.input_schema),
                input_data=values,
            ),
            self._left(deadline),
            attempts=6,
        )
        return status.status_id

    def _left(self, deadline: datetime) -> timedelta:
        """Time until the deadline (and a little more), at least a minute."""
        return max(deadline - workflow.now(), timedelta(minutes=1)) + _MARGIN

    async def _call(
        self,
        activity: Callable[..., Any],
        arg: Any,
        budget: timedelta,
        *,
        attempts: int = 0,
    ) -> Any:
        """An activity bounded by ``budget`` over all its attempts; cancellation stops it."""
        try:
            return await workflow.execute_activity(
                activity,
                arg,
                task_queue=watch_queue(workflow.info().task_queue),
                schedule_to_close_timeout=budget,
                heartbeat_timeout=_HEARTBEAT,
                retry_policy=RetryPolicy(
                    initial_interval=_QUICK.initial_interval,
                    backoff_coefficient=_QUICK.backoff_coefficient,
                    maximum_interval=_QUICK.maximum_interval,
                    maximum_attempts=attempts,
                ),
                cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError) and workflow.cancellation_reason() is not None:
                raise asyncio.CancelledError("the job was cancelled") from err
            raise

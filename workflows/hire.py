"""Agents hiring agents: a sub-job on another agent, with the hiring job as its buyer.

``AgentWorkflow.hire`` calls :func:`hire`. The sub-job is a real JobWorkflow (events,
status, visibility, cancellation, the payment seam), started as a child of the hiring
agent's workflow on the platform's task queue, so Temporal ties their lives together:

* Budget first: the agent's price (from the platform's registry) must fit the hire's own
  ``budget`` and what is left of the hiring agent's ``hire_budget_lovelace`` for the job;
  otherwise ``HireOverBudget`` is raised before anything starts.
* Each form the sub-agent asks is answered by the hiring agent's ``on_form`` or, when it
  has none (or returns None), relayed to the hiring job's own buyer with ``ask``; the
  answer is checked against the form here and sent as a submission signal.
* The result comes back; the price and the sub-job's tokens are metered into the hiring
  job's usage. A failed sub-job raises ``HireFailed`` (its buyer, the hiring job, pays
  nothing); ``timeout`` cancels it and raises ``HireTimeout``.
* Cancelling the hiring job cancels the sub-job (parent close policy REQUEST_CANCEL, and
  an explicit cancel), which settles as a cancelled job.

Sub-jobs run in the free payment mode: the price is metered, not moved through escrow.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from durasumi.workflows import search
from durasumi.workflows.errors import INVALID_INPUT, errors_detail
from durasumi.workflows.forms import Form
from durasumi.workflows.hire_models import (
    HIRE_FAILED,
    HIRE_OVER_BUDGET,
    HIRE_TIMEOUT,
    HireLookup,
    HireTarget,
    SubJobState,
    SubJobWatch,
)
from durasumi.workflows.ids import input_hash, job_id_for, watch_queue
from durasumi.workflows.job import JobWorkflow  # imported by AgentWorkflow.hire, once both exist
from durasumi.workflows.models import EventKind, JobInput, JobResult, JobStatus, Submission, Usage

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.hire import HireActivities

if TYPE_CHECKING:
    from durasumi.workflows.agent import AgentWorkflow

__all__ = ["FormAnswerer", "hire"]

FormAnswerer = Callable[
    [Form], Awaitable[dict[str, JsonValue] | None] | dict[str, JsonValue] | None
]
"""Answers a sub-agent's form (None: relay it to the hiring job's buyer)."""

_HEARTBEAT = timedelta(seconds=10)


async def hire(
    owner: AgentWorkflow,
    agent: str,
    input_data: dict[str, JsonValue],
    *,
    budget: int | None,
    timeout: timedelta,
    on_form: FormAnswerer | None,
) -> JsonValue:
    """Run a sub-job on ``agent`` for ``owner``'s job and return its result (module docstring)."""
    parent = workflow.info().parent
    queue = owner._job.platform_task_queue if owner._job is not None else None
    if parent is None or queue is None:
        raise ApplicationError(
            "hire() needs a job: run the agent through the platform", type=HIRE_FAILED
        )
    deadline = workflow.now() + timeout
    target: HireTarget = await workflow.execute_activity_method(
        HireActivities.describe,
        HireLookup(agent=agent),
        task_queue=queue,
        start_to_close_timeout=timedelta(seconds=30),
    )
    _check_budget(owner, target, budget)
    cleaned = _clean(target, input_data)
    owner._hires += 1
    buyer = parent.workflow_id
    identifier = hashlib.sha256(f"{buyer};hire;{owner._hires}".encode()).hexdigest()[:24]
    digest = input_hash(identifier, cleaned)
    sub = JobInput(
        job_id=job_id_for(agent, buyer, digest),
        agent=agent,
        agent_task_queue=target.task_queue,
        identifier_from_purchaser=identifier,
        input_data=cleaned,
        input_hash=digest,
        buyer=buyer,
        vendor=target.vendor,
    )
    owner._hire_spent += target.price_lovelace  # reserved now: a concurrent hire sees it
    handle = await workflow.start_child_workflow(
        JobWorkflow.run,
        sub,
        id=sub.job_id,
        task_queue=queue,
        parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search.AGENT, agent),
                SearchAttributePair(search.STATUS, JobStatus.AWAITING_PAYMENT.value),
                SearchAttributePair(search.BUYER, buyer),
                SearchAttributePair(search.VENDOR, target.vendor),
            ]
        ),
        static_summary=f"{agent} job hired by {buyer}",
    )
    await owner.emit(f"hired {agent}: sub-job {sub.job_id}", {"sub_job": sub.job_id})
    try:
        outcome = await _follow(owner, handle, sub.job_id, queue, deadline, on_form, buyer)
    except asyncio.CancelledError:
        handle.cancel()  # the hiring job was cancelled: so is its sub-job
        owner._hire_spent -= target.price_lovelace
        raise
    except BaseException:
        owner._hire_spent -= target.price_lovelace
        raise
    usage = Usage.model_validate(outcome.detail.get("usage", {})) + Usage(
        hires=1, hire_lovelace=target.price_lovelace
    )
    await owner._report(
        EventKind.USAGE,
        f"hired {agent}: {target.price_lovelace} lovelace, "
        f"{usage.input_tokens} tokens in, {usage.output_tokens} out",
        usage.model_dump(),
    )
    return outcome.result


async def _follow(
    owner: AgentWorkflow,
    handle: workflow.ChildWorkflowHandle[Any, JobResult],
    job_id: str,
    queue: str,
    deadline: datetime,
    on_form: FormAnswerer | None,
    buyer: str,
) -> JobResult:
    """Answer the sub-job's forms until it ends; its JobResult, or HireFailed/HireTimeout."""
    seen: str | None = None
    while True:
        left = deadline - workflow.now()
        try:
            if left <= timedelta(0):
                raise TimeoutError
            state: SubJobState = await workflow.execute_activity_method(
                HireActivities.watch,
                SubJobWatch(job_id=job_id, seen_request_id=seen),
                task_queue=watch_queue(queue),
                schedule_to_close_timeout=left,
                heartbeat_timeout=_HEARTBEAT,
            )
            if state.request is None:
                break
            form = state.request.form
            values = await _answer(on_form, form)
            if values is None:
                values = await owner.ask(form, timeout=deadline - workflow.now())
            check = form.check(values)
            if not check.ok:
                raise ApplicationError(
                    f"the answer to {job_id}'s form {form.id} is invalid",
                    errors_detail(check.errors),
                    type=INVALID_INPUT,
                    non_retryable=True,
                )
            await handle.signal(
                JobWorkflow.submit_signal,
                Submission(
                    request_id=state.request.request_id, values=check.values, submitted_by=buyer
                ),
            )
            seen = state.request.request_id
        except TimeoutError:  # the deadline passed before another watch
            raise _timed_out(handle, job_id) from None
        except ActivityError as err:
            if isinstance(err.cause, TimeoutError):
                raise _timed_out(handle, job_id) from None
            raise
    try:
        result: JobResult = await handle
    except ChildWorkflowError as err:
        raise ApplicationError(
            f"the hired job {job_id} failed: {_reason(err)}", type=HIRE_FAILED, non_retryable=True
        ) from None
    if result.status is not JobStatus.COMPLETED:
        raise ApplicationError(
            f"the hired job {job_id} {result.status.value}: {result.error or 'no reason given'}",
            type=HIRE_FAILED,
            non_retryable=True,
        )
    return result


async def _answer(on_form: FormAnswerer | None, form: Form) -> dict[str, JsonValue] | None:
    if on_form is None:
        return None
    answer = on_form(form)
    if inspect.isawaitable(answer):
        return await answer
    return answer


def _check_budget(owner: AgentWorkflow, target: HireTarget, budget: int | None) -> None:
    price = target.price_lovelace
    if budget is not None and price > budget:
        raise ApplicationError(
            f"hiring {target.agent} costs {price} lovelace, over this hire's budget of {budget}",
            {"price_lovelace": price, "budget_lovelace": budget},
            type=HIRE_OVER_BUDGET,
            non_retryable=True,
        )
    cap = owner.hire_budget_lovelace
    if cap is not None and owner._hire_spent + price > cap:
        raise ApplicationError(
            f"hiring {target.agent} costs {price} lovelace; the job has "
            f"{cap - owner._hire_spent} of its {cap} left for hiring",
            {"price_lovelace": price, "left_lovelace": cap - owner._hire_spent},
            type=HIRE_OVER_BUDGET,
            non_retryable=True,
        )


def _clean(target: HireTarget, input_data: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if target.input_form is None:
        return dict(input_data)
    check = Form.model_validate(target.input_form).check(input_data)
    if not check.ok:
        raise ApplicationError(
            f"the input for {target.agent} is invalid",
            errors_detail(check.errors),
            type=INVALID_INPUT,
            non_retryable=True,
        )
    return check.values


def _timed_out(handle: workflow.ChildWorkflowHandle[Any, JobResult], job_id: str) -> Exception:
    handle.cancel()
    return ApplicationError(
        f"the hired job {job_id} did not finish in time; it was cancelled",
        type=HIRE_TIMEOUT,
        non_retryable=True,
    )


def _reason(err: ChildWorkflowError) -> str:
    cause: BaseException | None = err.cause
    if isinstance(cause, ApplicationError):
        for detail in cause.details:
            if isinstance(detail, dict) and detail.get("error"):
                return str(detail["error"])
        return cause.message
    return str(cause or err)

"""Client-side job operations shared by the CLI and the API: each is one Temporal call.

Starting is idempotent: the workflow id is derived from (agent, buyer, MIP-004 input hash)
and both the id conflict policy (running) and the id reuse policy (closed) refuse a second
execution, so the same request always names the same job and never runs it twice.

A paid job's start is one Update-with-Start (``start_paid_job``): it starts the job, or
finds it running, and returns the job's payment request from ``JobWorkflow.payment_request``.
Update-with-Start needs the ``USE_EXISTING`` conflict policy; a closed job is still refused
by ``REJECT_DUPLICATE`` and is then answered by a query.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from durasumi.client import job_stream
from durasumi.client.visibility import visibility_literal
from durasumi.workflows import search
from durasumi.workflows.errors import JOB_CANCELLED, JOB_FAILED
from durasumi.workflows.forms import Form
from durasumi.workflows.ids import canonical_json, input_hash, job_id_for
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import (
    CancelRequest,
    EventsQuery,
    JobEvent,
    JobInput,
    JobResult,
    JobStatus,
    JobView,
    PaymentPlan,
    Submission,
    SubmitResult,
)
from durasumi.workflows.terms import JobTerms

if TYPE_CHECKING:
    from durasumi.db.registry import AgentRecord

__all__ = [
    "JobListing",
    "JobPage",
    "JobSummary",
    "PaidJob",
    "StartedJob",
    "agent_pollers",
    "cancel_job",
    "follow_events",
    "iter_job_events",
    "job_result",
    "job_summary",
    "job_view",
    "jobs_query",
    "list_jobs",
    "list_jobs_page",
    "start_job",
    "start_paid_job",
    "submission_update_id",
    "submit_form",
]


@dataclass(frozen=True)
class StartedJob:
    """A job handle and whether this call created it."""

    job_id: str
    input_hash: str
    created: bool
    handle: WorkflowHandle[JobWorkflow, Any]


@dataclass(frozen=True)
class PaidJob:
    """A paid job and its view once its escrow had a payment request (or it closed)."""

    job_id: str
    input_hash: str
    view: JobView


@dataclass(frozen=True)
class JobListing:
    """One row of ``list``: what visibility knows about a job."""

    job_id: str
    agent: str
    status: str
    buyer: str
    started: Any
    closed: bool


async def start_job(
    client: Client,
    agent: AgentRecord,
    identifier_from_purchaser: str,
    input_data: dict[str, Any],
    *,
    platform_task_queue: str,
    buyer: str = "anonymous",
    terms: JobTerms | None = None,
    payment: PaymentPlan | None = None,
) -> StartedJob:
    """Validate ``input_data`` against the agent's input form and start (or find) the job.

    Raises:
        FormValidationError: the input does not fit the agent's input form.
    """
    job = _job_input(agent, identifier_from_purchaser, input_data, buyer, terms, payment)
    try:
        handle = await client.start_workflow(
            JobWorkflow.run,
            job,
            id=job.job_id,
            task_queue=platform_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=_search_attributes(job),
            static_summary=_summary(job),
            # Where this process also runs the platform worker on the same client (`durasumi
            # dev`, an API co-located with a platform worker), the server hands the first
            # workflow task back with the start response: one trip through matching less.
            # Elsewhere the server ignores the request and dispatches as usual.
            request_eager_start=True,
        )
    except WorkflowAlreadyStartedError:
        # Running or closed: the same request names the same job, never a second run.
        return StartedJob(job.job_id, job.input_hash, False, job_handle(client, job.job_id))
    return StartedJob(job.job_id, job.input_hash, True, handle)


async def start_paid_job(
    client: Client,
    agent: AgentRecord,
    identifier_from_purchaser: str,
    input_data: dict[str, Any],
    *,
    platform_task_queue: str,
    payment: PaymentPlan,
    timeout: timedelta,
    buyer: str = "anonymous",
) -> PaidJob:
    """Start (or find) a paid job and return it once its escrow has a payment request.

    One Update-with-Start: the job starts if it is not running (``USE_EXISTING`` otherwise)
    and its ``payment_request`` update answers as soon as the escrow saga made the request
    (or the job closed without one). A job with the same id that already closed is refused
    by ``REJECT_DUPLICATE``, so it never runs twice; its view then comes from a query.

    Raises:
        FormValidationError: the input does not fit the agent's input form.
        TimeoutError: no payment request within ``timeout`` (no platform worker with
            escrow, a slow payment service); asking again later is safe and names the
            same job.
    """
    job = _job_input(agent, identifier_from_purchaser, input_data, buyer, None, payment)
    start = WithStartWorkflowOperation(
        JobWorkflow.run,
        job,
        id=job.job_id,
        task_queue=platform_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=_search_attributes(job),
        static_summary=_summary(job),
    )
    deadline = asyncio.timeout(timeout.total_seconds())
    try:
        async with deadline:
            view = await client.execute_update_with_start_workflow(
                JobWorkflow.payment_request, start_workflow_operation=start
            )
    except WorkflowAlreadyStartedError:  # closed: answer what it answered while running
        view = await job_handle(client, job.job_id).query(
            JobWorkflow.view, rpc_timeout=QUERY_TIMEOUT
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        if not deadline.expired():  # cancelled from outside, not our deadline
            raise
        # The SDK turns the cancellation our deadline made into its own error type.
        raise TimeoutError(f"no payment request for job {job.job_id} yet") from err
    return PaidJob(job.job_id, job.input_hash, view)


def _job_input(
    agent: AgentRecord,
    identifier_from_purchaser: str,
    input_data: dict[str, Any],
    buyer: str,
    terms: JobTerms | None,
    payment: PaymentPlan | None,
) -> JobInput:
    """The job for a request, its id derived from (agent, buyer, MIP-004 input hash)."""
    if agent.input_form is not None:
        input_data = Form.model_validate(agent.input_form).clean(input_data)
    digest = input_hash(identifier_from_purchaser, input_data)
    return JobInput(
        job_id=job_id_for(agent.name, buyer, digest),
        agent=agent.name,
        agent_task_queue=agent.task_queue,
        identifier_from_purchaser=identifier_from_purchaser,
        input_data=input_data,
        input_hash=digest,
        buyer=buyer,
        vendor=agent.vendor,
        terms=terms,
        payment=payment or PaymentPlan(),
    )


def _search_attributes(job: JobInput) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.AGENT, job.agent),
            SearchAttributePair(search.STATUS, JobStatus.AWAITING_PAYMENT.value),
            SearchAttributePair(search.BUYER, job.buyer),
            SearchAttributePair(search.VENDOR, job.vendor),
        ]
    )


def _summary(job: JobInput) -> str:
    return f"{job.agent} job for {job.buyer}"


async def job_result(handle: WorkflowHandle[JobWorkflow, JobResult]) -> JobResult:
    """Wait for the job to close and return its terminal state, whatever it was.

    A failed or cancelled job's workflow closes as Failed (so Temporal and its Web UI show
    it), with the job's ``JobResult`` in the failure's details; a job closed by Temporal
    itself (terminated, timed out) raises ``WorkflowFailureError``.
    """
    try:
        return await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        if (
            isinstance(cause, ApplicationError)
            and cause.type in (JOB_FAILED, JOB_CANCELLED)
            and cause.details
        ):
            return JobResult.model_validate(cause.details[0])
        raise


def job_handle(client: Client, job_id: str) -> WorkflowHandle[JobWorkflow, Any]:
    """The handle of a job by id."""
    return client.get_workflow_handle_for(JobWorkflow.run, job_id)


async def submit_form(
    client: Client, job_id: str, submission: Submission, *, timeout: timedelta | None = None
) -> SubmitResult:
    """Send a form submission as an Update; a refused one raises WorkflowUpdateFailedError.

    An answer to a named form request has a stable update id (the request and a digest of
    the answer): sent again after a timeout or a crash, Temporal hands back the first
    outcome instead of applying it twice. A refused answer never enters history, so the
    same id may carry a corrected one. Without a request id the update id is random: "the
    current form" is a different form from one moment to the next.

    Raises:
        WorkflowUpdateRPCTimeoutOrCancelledError: no outcome within ``timeout``; the answer
            may still be applied, and sending it again is safe when it names its request.
    """
    return await job_handle(client, job_id).execute_update(
        JobWorkflow.submit,
        submission,
        id=submission_update_id(submission),
        rpc_timeout=timeout,
    )


def submission_update_id(submission: Submission) -> str | None:
    """The update id of an answer to a named form request (None: the SDK makes one up).

    Example:
        >>> submission_update_id(Submission(request_id="r-1", values={"a": 1}))[:14]
        'answer-r-1-015'
    """
    if not submission.request_id:
        return None
    digest = hashlib.sha256(canonical_json(submission.values).encode()).hexdigest()
    return f"answer-{submission.request_id}-{digest[:24]}"


async def cancel_job(client: Client, job_id: str, request: CancelRequest) -> None:
    """Ask a job to stop (a signal: the job settles as a refund)."""
    await job_handle(client, job_id).signal(JobWorkflow.cancel, request)


# A query needs a platform worker; without one it would wait for the caller's whole deadline.
QUERY_TIMEOUT = timedelta(seconds=10)


async def job_view(client: Client, job_id: str, *, timeout: timedelta = QUERY_TIMEOUT) -> JobView:
    """Everything about one job now (a query; DEADLINE_EXCEEDED when no worker answers).

    A job whose workflow Temporal closed from outside (terminated, timed out) shows as
    failed, not as the state it was stopped in; its escrow is refunded by the reconciler.
    """
    handle = job_handle(client, job_id)
    try:
        return await handle.query(
            JobWorkflow.view,
            rpc_timeout=timeout,
            reject_condition=QueryRejectCondition.NOT_OPEN,
        )
    except WorkflowQueryRejectedError as closed:  # closed: ask again, and say how it closed
        view = await handle.query(JobWorkflow.view, rpc_timeout=timeout)
        return _closed_from_outside(view, closed.status)


@dataclass(frozen=True)
class JobSummary:
    """Who a job belongs to and where it stands, from Temporal alone (no worker needed).

    Read by ``DescribeWorkflowExecution``: the search attributes the job was started with
    (agent, buyer, vendor) and the status it last upserted; a workflow closed from outside
    (terminated, timed out) is failed.
    """

    job_id: str
    agent: str
    buyer: str
    vendor: str
    status: JobStatus
    open: bool


async def job_summary(client: Client, job_id: str) -> JobSummary:
    """The job's owner and status without a query (see :class:`JobSummary`).

    Raises:
        RPCError: NOT_FOUND for an unknown job; UNAVAILABLE when Temporal is unreachable.
    """
    described = await job_handle(client, job_id).describe(rpc_timeout=QUERY_TIMEOUT)
    attrs = described.typed_search_attributes
    running = described.status in (None, WorkflowExecutionStatus.RUNNING)
    status = _known_status(attrs.get(search.STATUS))
    if not running and described.status in _OUTSIDE_CLOSES and not status.terminal:
        status = JobStatus.FAILED
    return JobSummary(
        job_id=job_id,
        agent=attrs.get(search.AGENT) or "?",
        buyer=attrs.get(search.BUYER) or "?",
        vendor=attrs.get(search.VENDOR) or "unknown",
        status=status,
        open=running,
    )


def _known_status(value: str | None) -> JobStatus:
    try:
        return JobStatus(value or JobStatus.AWAITING_PAYMENT)
    except ValueError:  # written by a newer durasumi: say nothing more than "not ended"
        return JobStatus.RUNNING


def _closed_from_outside(view: JobView, status: WorkflowExecutionStatus | None) -> JobView:
    if view.status.terminal or status not in _OUTSIDE_CLOSES:
        return view
    how = "terminated" if status is WorkflowExecutionStatus.TERMINATED else "timed out"
    return view.model_copy(
        update={
            "status": JobStatus.FAILED,
            "pending_form": None,
            "error": f"the job's workflow was {how} by Temporal before it finished"
            + ("; its escrow is refunded" if view.escrow is not None else ""),
        }
    )


# Closes that skip the job's own code: it never reached a terminal status or settled.
_OUTSIDE_CLOSES = (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT)


async def job_events(client: Client, job_id: str, after: int = 0) -> list[JobEvent]:
    """Up to a page of the job's events after sequence number ``after``, oldest first.

    A job that continued as new holds its older events in earlier runs: a run answers from
    the first event it holds, and for a gap before that this walks back run by run (a
    query on a closed run replays it on a platform worker).
    """
    handle = job_handle(client, job_id)
    while True:
        events = await handle.query(
            JobWorkflow.events, EventsQuery(after=after), rpc_timeout=QUERY_TIMEOUT
        )
        if not events or events[0].seq <= after + 1:
            return events
        view = await handle.query(JobWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
        if view.previous_run_id is None:
            return events
        handle = client.get_workflow_handle_for(
            JobWorkflow.run, job_id, run_id=view.previous_run_id
        )


async def iter_job_events(
    client: Client, job_id: str, after: int = 0, *, page: int = 5_000
) -> AsyncIterator[JobEvent]:
    """Every event of the job after ``after``, oldest first, across all its runs.

    Finds the run that holds event ``after + 1`` once (walking back from the current
    run), then reads forward run by run, a page at a time.
    """
    runs: list[str | None] = [None]  # newest first; None: the current run
    handle = job_handle(client, job_id)
    while True:
        view = await handle.query(JobWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
        if after + 1 >= view.events_from or view.previous_run_id is None:
            break
        runs.append(view.previous_run_id)
        handle = client.get_workflow_handle_for(
            JobWorkflow.run, job_id, run_id=view.previous_run_id
        )
    for run_id in reversed(runs):
        handle = client.get_workflow_handle_for(JobWorkflow.run, job_id, run_id=run_id)
        while events := await handle.query(
            JobWorkflow.events, EventsQuery(after=after, limit=page), rpc_timeout=QUERY_TIMEOUT
        ):
            for event in events:
                if event.seq > after:
                    after = event.seq
                    yield event
            if len(events) < page:
                break


async def follow_events(client: Client, job_id: str, after: int = 0) -> AsyncIterator[JobEvent]:
    """Yield the job's events after ``after`` as they happen, until the job closes.

    A reconnecting client resumes from any sequence number; the follow goes on across the
    job's runs (client/job_stream.py says how few queries it takes).
    """
    async for event in job_stream.follow_events(
        client, job_id, after, lambda seen: job_events(client, job_id, seen)
    ):
        yield event


@dataclass(frozen=True)
class JobPage:
    """One page of ``list_jobs`` and the token of the next (None at the end)."""

    rows: list[JobListing]
    next_page_token: bytes | None


def jobs_query(
    *,
    agent: str | None = None,
    status: str | None = None,
    buyer: str | None = None,
    vendor: str | None = None,
) -> str:
    r"""The visibility query for jobs matching every given filter (any text, safely quoted).

    Example:
        >>> print(jobs_query(buyer="o'brien"))
        WorkflowType = 'JobWorkflow' AND ExecutionStatus != 'ContinuedAsNew' AND ...
        DurasumiBuyer = 'o\'brien'

    Raises:
        ValueError: a value Temporal cannot compare exactly (see :func:`visibility_literal`).
    """
    # A job that continued as new has a closed run per hand-over: list each job once.
    clauses = [
        f"WorkflowType = {visibility_literal(JobWorkflow.__name__)}",
        "ExecutionStatus != 'ContinuedAsNew'",
    ]
    filters = (
        (search.AGENT, agent),
        (search.STATUS, status),
        (search.BUYER, buyer),
        (search.VENDOR, vendor),
    )
    for key, value in filters:
        if value is not None:
            clauses.append(f"{key.name} = {visibility_literal(value)}")
    return " AND ".join(clauses)


async def list_jobs(
    client: Client,
    *,
    agent: str | None = None,
    status: str | None = None,
    buyer: str | None = None,
    vendor: str | None = None,
    limit: int = 50,
) -> list[JobListing]:
    """Jobs from Temporal visibility, newest first, filtered by search attributes."""
    query = jobs_query(agent=agent, status=status, buyer=buyer, vendor=vendor)
    return [_listing(wf) async for wf in client.list_workflows(query, limit=limit)]


async def list_jobs_page(
    client: Client, query: str, *, page_size: int, page_token: bytes | None = None
) -> JobPage:
    """One page of jobs for ``query`` (see :func:`jobs_query`)."""
    pages = client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    await pages.fetch_next_page()
    return JobPage([_listing(wf) for wf in pages.current_page or []], pages.next_page_token)


def _listing(wf: WorkflowExecution) -> JobListing:
    attrs = wf.typed_search_attributes
    return JobListing(
        job_id=wf.id,
        agent=attrs.get(search.AGENT) or "?",
        status=attrs.get(search.STATUS) or "?",
        buyer=attrs.get(search.BUYER) or "?",
        started=wf.start_time,
        closed=wf.status is not None and wf.status != WorkflowExecutionStatus.RUNNING,
    )


async def agent_pollers(client: Client, task_queue: str) -> int:
    """How many workers poll ``task_queue`` for workflow tasks now (0: unavailable)."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(resp.pollers)

"""JobWorkflow: one paid agent job, on the platform task queue.

It owns what the buyer and the money depend on: the status, the event log, the pending
form, deadlines and the payment seam. The agent itself runs as a child workflow on the
vendor's task queue and reports back by signals; clients only ever talk to this workflow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import JsonValue, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

from durasumi.workflows import (  # agent <-> job signal each other; resolved late
    agent,
    metrics,
    search,
)
from durasumi.workflows.errors import (
    INVALID_SUBMISSION,
    JOB_CANCELLED,
    JOB_FAILED,
    NO_PENDING_FORM,
    WRONG_FORM,
    errors_detail,
)
from durasumi.workflows.forms import FieldError
from durasumi.workflows.ids import child_workflow_id, result_hash, result_text
from durasumi.workflows.models import (
    AgentEvent,
    AgentRunInput,
    CancelRequest,
    EventKind,
    EventsQuery,
    FormRequest,
    JobEvent,
    JobInput,
    JobResult,
    JobStatus,
    JobView,
    Submission,
    SubmitResult,
    Usage,
)
from durasumi.workflows.payment import payment_for

__all__ = ["JobWorkflow"]

# How long a cancelled agent gets to stop before the job closes without it.
CANCEL_GRACE = timedelta(minutes=1)

# Patch ids (workflow.patched): running jobs replay the code path they were recorded with.
ASYNC_FORWARD = "submit-forwards-without-waiting"
FAIL_CLOSED = "failed-jobs-fail-the-workflow"


@workflow.defn
class JobWorkflow:
    """The job saga: payment, the agent child, status, events and deadlines.

    Example:
        >>> handle = await client.start_workflow(  # doctest: +SKIP
        ...     JobWorkflow.run, job, id=job.job_id, task_queue="durasumi-platform"
        ... )
        >>> await handle.execute_update(JobWorkflow.submit, Submission(...))  # doctest: +SKIP

        A paid job's payment request, starting the job if needed (Update-with-Start):

        >>> start = WithStartWorkflowOperation(  # doctest: +SKIP
        ...     JobWorkflow.run, job, id=job.job_id, task_queue="durasumi-platform",
        ...     id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        ... )
        >>> view = await client.execute_update_with_start_workflow(  # doctest: +SKIP
        ...     JobWorkflow.payment_request, start_workflow_operation=start
        ... )
    """

    @workflow.init
    def __init__(self, job: JobInput) -> None:
        self._job = job
        self._status = JobStatus.AWAITING_PAYMENT
        self._events: list[JobEvent] = []
        self._pending: FormRequest | None = None
        self._result: JsonValue = None
        self._error: str | None = None
        self._cancel: CancelRequest | None = None
        self._created = workflow.now()
        self._updated = self._created
        self._usage = Usage()
        # Agent events already applied, by the agent's own numbering: concurrent signals may
        # arrive out of order, so redelivery is detected by membership, not by a high mark.
        self._agent_seen: set[int] = set()
        self._payment = payment_for(job.payment, self)
        self._forwards: set[asyncio.Task[None]] = set()  # answers on their way to the agent
        # What each `submit` validator accepted, by update id, for its handler (see submit).
        self._validated: dict[str, _Answer] = {}
        self._settling = False  # the outcome is known, the escrow is being settled

    @workflow.run
    async def run(self, job: JobInput) -> JobResult:
        """Secure payment, run the agent, settle, and return the job's terminal state."""
        self._record(EventKind.STATUS, self._status.value, {"status": self._status.value})
        payment = self._payment
        try:
            secured = await payment.secure(job)
            self._record(EventKind.PAYMENT, secured.detail)
            if not secured.ok:
                failed = JobStatus.CANCELLED if self._cancel is not None else JobStatus.FAILED
                self._finish(failed, error=secured.detail)
            elif self._cancel is not None:
                self._finish(JobStatus.CANCELLED, error=self._cancel.reason)
            else:
                self._set_status(JobStatus.RUNNING)
                await self._run_agent(job)
        except asyncio.CancelledError:
            # A Temporal cancel request (Web UI, `temporal workflow cancel`): close as cancelled,
            # still settling, so the buyer is refunded.
            self._cancel = self._cancel or CancelRequest(reason="workflow cancellation requested")
            self._finish(JobStatus.CANCELLED, error=self._cancel.reason)
        digest = None
        if self._status is JobStatus.COMPLETED:
            digest = result_hash(job.identifier_from_purchaser, result_text(self._result))
        self._settling = payment.escrow is not None
        self._show_details()
        settled = await payment.settle(job, self._status, digest)
        self._settling = False
        if settled.refunded:
            metrics.count_refund(job.agent)
        self._record(EventKind.PAYMENT, settled.detail)
        await workflow.wait_condition(workflow.all_handlers_finished)
        outcome = JobResult(
            job_id=job.job_id,
            status=self._status,
            result=self._result,
            error=self._error,
            detail={
                "result_hash": digest,
                "events": len(self._events),
                "usage": self._usage.model_dump(),
            },
        )
        if self._status in (JobStatus.FAILED, JobStatus.CANCELLED) and workflow.patched(
            FAIL_CLOSED
        ):
            # Settled (refunded): close as Failed, so Temporal, its visibility and the Web UI
            # tell a failed job from a completed one. The JobResult rides along as details.
            kind = JOB_FAILED if self._status is JobStatus.FAILED else JOB_CANCELLED
            raise ApplicationError(
                f"job {self._status.value}: {self._error or 'no reason given'}",
                outcome,
                type=kind,
                non_retryable=True,
            )
        return outcome

    async def _run_agent(self, job: JobInput) -> None:
        child = await workflow.start_child_workflow(
            job.agent,
            AgentRunInput(job_id=job.job_id, agent=job.agent, input_data=job.input_data),
            id=child_workflow_id(job.job_id),
            task_queue=job.agent_task_queue,
            static_summary=f"agent {job.agent} for job {job.job_id}",
        )
        await workflow.wait_condition(lambda: child.done() or self._cancel is not None)
        if not child.done():
            child.cancel()
            try:
                await workflow.wait_condition(child.done, timeout=CANCEL_GRACE)
            except TimeoutError:
                workflow.logger.warning("agent %s did not stop within the grace period", child.id)
            self._finish(JobStatus.CANCELLED, error=self._cancel.reason if self._cancel else None)
            return
        try:
            result = child.result()
        except ChildWorkflowError as err:
            if isinstance(err.cause, asyncio.CancelledError) or self._cancel is not None:
                self._finish(JobStatus.CANCELLED, error="agent was cancelled")
            else:
                self._finish(JobStatus.FAILED, error=_failure_message(err))
            return
        self._result = result
        self._finish(JobStatus.COMPLETED)

    # -- client messages --------------------------------------------------------------

    @workflow.update
    async def submit(self, submission: Submission) -> SubmitResult:
        """Answer the pending form; refused submissions never enter history.

        The validator checks the submission once and hands the answer over by update id:
        the SDK runs a validator and its handler back to back in one task. Validators do
        not run on replay, so there (and only there) the handler checks it itself.
        """
        update = workflow.current_update_info()
        answer = self._validated.pop(update.id, None) if update else None
        if answer is None:  # replaying: no validator ran
            answer = self._answer(submission)
        return await self._accept(answer)

    @submit.validator
    def _validate_submit(self, submission: Submission) -> None:
        answer = self._answer(submission)  # raises: refused, and nothing enters history
        update = workflow.current_update_info()
        if update is not None:
            self._validated[update.id] = answer

    @workflow.signal
    async def submit_signal(self, submission: Submission) -> None:
        """Answer the pending form by signal; a bad one is recorded as rejected."""
        # An exception escaping a signal handler would fail the whole job: record instead.
        try:
            await self._accept(self._answer(submission))
        except ApplicationError as refused:
            self._record(
                EventKind.FORM_REJECTED,
                refused.message,
                {"request_id": submission.request_id, "type": refused.type, **_details(refused)},
            )

    @workflow.update
    async def payment_request(self) -> JobView:
        """The job once its escrow has a payment request (or once it closed without one).

        Paid MIP-003 start_job sends this with Update-with-Start: one call starts (or finds)
        the job and answers the request's terms. A job with no escrow answers at once.
        """
        await workflow.wait_condition(
            lambda: (
                self._payment.escrow is not None
                or self._status.terminal
                or self._job.payment.mode != "escrow"
            )
        )
        return self.view()

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        """Stop the job; the agent is cancelled and the payment settles as a refund."""
        if self._cancel is None and not self._status.terminal:
            self._cancel = request
            self._record(EventKind.STATUS, f"cancel requested: {request.reason}")

    @workflow.signal
    def agent_event(self, event: AgentEvent) -> None:
        """An event from the agent child (progress, form requested or expired, usage)."""
        if event.agent_seq in self._agent_seen:
            return
        self._agent_seen.add(event.agent_seq)
        if event.kind is EventKind.USAGE:
            self._meter(event)
            return
        if event.kind is EventKind.FORM_REQUESTED and event.form is not None:
            self._pending = event.form
            self._record(
                event.kind,
                event.message,
                {
                    "request_id": event.form.request_id,
                    "form_id": event.form.form.id,
                    "deadline": event.form.deadline.isoformat() if event.form.deadline else None,
                },
            )
            self._set_status(JobStatus.AWAITING_INPUT)
            return
        if event.kind is EventKind.FORM_EXPIRED:
            self._pending = None
        self._record(event.kind, event.message, event.data)

    @workflow.query
    def view(self) -> JobView:
        """Everything about the job now."""
        return JobView(
            job_id=self._job.job_id,
            agent=self._job.agent,
            buyer=self._job.buyer,
            vendor=self._job.vendor,
            identifier_from_purchaser=self._job.identifier_from_purchaser,
            input_hash=self._job.input_hash,
            terms=self._job.terms,
            status=self._status,
            pending_form=self._pending,
            result=self._result,
            error=self._error,
            last_seq=len(self._events),
            created_at=self._created,
            updated_at=self._updated,
            usage=self._usage,
            escrow=self._payment.escrow,
        )

    @workflow.query
    def events(self, query: EventsQuery) -> list[JobEvent]:
        """The events after ``query.after``, oldest first."""
        return self._events[query.after : query.after + query.limit]

    @workflow.query
    def pending_form(self) -> FormRequest | None:
        """The form the job waits on, if any."""
        return self._pending

    # -- internals --------------------------------------------------------------------

    def _answer(self, submission: Submission) -> _Answer:
        """Match a submission to the pending form and validate it, once.

        Raises:
            ApplicationError: ``NoPendingForm``, ``WrongForm`` or ``InvalidSubmission`` (with
                the field errors as details); non-retryable.
        """
        request = self._pending
        if request is None or self._status is not JobStatus.AWAITING_INPUT:
            raise ApplicationError(
                f"job {self._job.job_id} is not waiting for input (status {self._status.value})",
                type=NO_PENDING_FORM,
                non_retryable=True,
            )
        if submission.request_id is not None and submission.request_id != request.request_id:
            raise ApplicationError(
                f"form request {submission.request_id} is not pending; "
                f"the pending request is {request.request_id}",
                {"pending_request_id": request.request_id},
                type=WRONG_FORM,
                non_retryable=True,
            )
        if submission.form_id is not None and submission.form_id != request.form.id:
            raise ApplicationError(
                f"form {submission.form_id} is not pending; the pending form is {request.form.id}",
                {"pending_form_id": request.form.id},
                type=WRONG_FORM,
                non_retryable=True,
            )
        if request.deadline is not None and workflow.now() >= request.deadline:
            raise ApplicationError(
                f"form request {request.request_id} expired at {request.deadline.isoformat()}",
                type=NO_PENDING_FORM,
                non_retryable=True,
            )
        checked = request.form.check(submission.values)
        if checked.errors:
            raise _refusal(request, checked.errors)
        return _Answer(request, checked.values, submission.submitted_by)

    async def _accept(self, answer: _Answer) -> SubmitResult:
        """Take a checked answer: record it, resume the job, forward it to the agent."""
        request = answer.request
        if self._pending is not request:
            # Not reachable today (a validator's handler runs right after it, a signal's
            # check right before this), kept so an answer can never be taken twice.
            raise ApplicationError(
                f"form request {request.request_id} is no longer pending",
                type=NO_PENDING_FORM,
                non_retryable=True,
            )
        self._pending = None
        self._record(
            EventKind.FORM_SUBMITTED,
            f"form {request.form.id} answered",
            {"request_id": request.request_id, "by": answer.submitted_by},
        )
        self._set_status(JobStatus.RUNNING)
        # The answer goes to the agent as a signal command of this same workflow task, so
        # the update completes without waiting for the delivery: the command is durable once
        # the task completes, and the agent cannot finish before it receives the answer.
        forwarded = Submission(request_id=request.request_id, values=answer.values)
        if workflow.patched(ASYNC_FORWARD):
            task = asyncio.create_task(self._forward(forwarded))
            self._forwards.add(task)  # a reference until it is done, as asyncio asks
            task.add_done_callback(self._forwards.discard)
        else:  # jobs that took this update before the patch awaited the delivery
            await self._forward(forwarded)
        return SubmitResult(request_id=request.request_id, values=answer.values)

    async def _forward(self, answer: Submission) -> None:
        """Deliver an accepted answer to the agent child (it may already have closed)."""
        child = workflow.get_external_workflow_handle(child_workflow_id(self._job.job_id))
        try:
            await child.signal(agent.AgentWorkflow.answer, answer)
        except FailureError as err:  # the agent closed (cancelled, expired) meanwhile
            self._record(
                EventKind.ERROR,
                f"answer to form request {answer.request_id} not delivered: {err.message}",
                {"request_id": answer.request_id},
            )

    def payment_event(self, message: str, data: dict[str, JsonValue]) -> None:
        """Record an event of the payment step (PaymentHooks)."""
        self._record(EventKind.PAYMENT, message, data)
        if self._settling:
            self._show_details()

    def cancel_requested(self) -> bool:
        """Whether a cancel was requested (PaymentHooks)."""
        return self._cancel is not None

    def _meter(self, event: AgentEvent) -> None:
        """Add an LLM or GPU call's usage (``agent_event`` already dropped redeliveries)."""
        try:
            self._usage += Usage.model_validate(event.data)
        except ValidationError:  # never let an agent's report fail the job
            workflow.logger.warning("ignoring a malformed usage report: %s", event.data)
            return
        self._record(event.kind, event.message, event.data)

    def _record(
        self, kind: EventKind, message: str, data: dict[str, JsonValue] | None = None
    ) -> None:
        self._updated = workflow.now()
        self._events.append(
            JobEvent(
                seq=len(self._events) + 1,
                at=self._updated,
                kind=kind,
                message=message,
                data=data or {},
            )
        )

    def _set_status(self, status: JobStatus) -> None:
        if status is self._status:
            return
        metrics.count_status(self._job.agent, self._status, status)
        self._status = status
        self._record(EventKind.STATUS, status.value, {"status": status.value})
        workflow.upsert_search_attributes([search.STATUS.value_set(status.value)])
        self._show_details()

    def _show_details(self) -> None:
        """The Web UI's current details: the job's status, and the escrow while it settles."""
        details = f"**{self._status.value}** ({self._job.agent})"
        escrow = self._payment.escrow
        if self._settling and escrow is not None:
            unlock = datetime.fromtimestamp(escrow.times.unlock_time / 1000, UTC)
            details += (
                f"\n\nsettling the escrow: {escrow.state.value}; the seller withdraws after "
                f"unlockTime {unlock:%Y-%m-%d %H:%M} UTC, a failed job is refunded"
            )
        workflow.set_current_details(details)

    def _finish(self, status: JobStatus, *, error: str | None = None) -> None:
        self._pending = None
        self._error = error
        if status is JobStatus.COMPLETED:
            self._record(EventKind.RESULT, "result ready", {"result": self._result})
        elif error:
            self._record(EventKind.ERROR, error)
        self._set_status(status)


@dataclass(frozen=True)
class _Answer:
    """A submission checked against the pending form: the request and the cleaned values."""

    request: FormRequest
    values: dict[str, JsonValue]
    submitted_by: str


def _refusal(request: FormRequest, errors: list[FieldError]) -> ApplicationError:
    return ApplicationError(
        f"submission for form {request.form.id} refused ({len(errors)} problem(s))",
        errors_detail(errors),
        type=INVALID_SUBMISSION,
        non_retryable=True,
    )


def _failure_message(err: ChildWorkflowError) -> str:
    cause: BaseException | None = err.cause
    while isinstance(cause, (ChildWorkflowError, ActivityError)) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)


def _details(err: ApplicationError) -> dict[str, JsonValue]:
    """The field errors an ApplicationError carries, for the event log."""
    for detail in err.details:
        if isinstance(detail, dict) and "errors" in detail:
            return {"errors": detail["errors"]}
    return {}

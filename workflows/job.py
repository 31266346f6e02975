"""JobWorkflow: one paid agent job, on the platform task queue.

It owns what the buyer and the money depend on: the status, the event log, the pending
form, deadlines and the payment seam. The agent itself runs as a child workflow on the
vendor's task queue and reports back by signals; clients only ever talk to this workflow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from pydantic import JsonValue, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError
from temporalio.workflow import ParentClosePolicy

from durasumi.workflows import (  # agent <-> job signal each other; resolved late
    agent,
    continuation,
    metrics,
    search,
)
from durasumi.workflows.continuation import AgentOutcome, AgentWatch, RunBudget, seen_compacted
from durasumi.workflows.errors import (
    INVALID_SUBMISSION,
    JOB_CANCELLED,
    JOB_FAILED,
    NO_PENDING_FORM,
    WRONG_FORM,
    errors_detail,
)
from durasumi.workflows.escrow_notice import EscrowNotice
from durasumi.workflows.escrow_saga import EscrowPayment
from durasumi.workflows.forms import FieldError
from durasumi.workflows.ids import child_workflow_id, input_hash, result_hash, result_text
from durasumi.workflows.models import (
    AgentEvent,
    AgentEventBatch,
    AgentRunInput,
    CancelRequest,
    EventKind,
    EventsQuery,
    FormRequest,
    JobCarry,
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
CONTINUE_AS_NEW = "jobs-continue-as-new"
# Before it, a job continued as new without a word to its agent, which told every job its end.
TELLS_AGENT_IT_MOVED = "job-tells-agent-it-continued"

# A continued run hears from its agent by signal, and looks itself after this long without.
AGENT_CHECK = timedelta(hours=1)

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.agent_watch import AgentWatchActivities


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
        self._input_hashes: list[str] = []  # MIP-004 hashes of the accepted answers, in order
        # Continue-as-new (workflows/continuation.py): what this run spent, where its events
        # start, and the run before it.
        self._budget = RunBudget()
        self._seen_through = 0  # every agent event up to this number was applied
        self._events_from = 1
        self._run = 1
        self._previous_run_id: str | None = None
        self._agent_outcome: AgentOutcome | None = None  # from agent_finished
        if job.carried is not None:
            self._restore(job.carried)

    @workflow.run
    async def run(self, job: JobInput) -> JobResult:
        """Secure payment, run the agent, settle, and return the job's terminal state."""
        payment = self._payment
        try:
            if job.carried is not None:  # a continued run: paid for, and the agent runs
                await self._watch_agent(job)
            else:
                await self._secure_and_run(job)
        except asyncio.CancelledError:
            # A Temporal cancel request (Web UI, `temporal workflow cancel`): close as cancelled,
            # still settling, so the buyer is refunded.
            self._cancel = self._cancel or CancelRequest(reason="workflow cancellation requested")
            self._finish(JobStatus.CANCELLED, error=self._cancel.reason)
        digest = None
        if self._status is JobStatus.COMPLETED:
            digest = result_hash(
                job.identifier_from_purchaser,
                result_text(self._result),
                job.payment.result_hash_rule,
                [job.input_hash, *self._input_hashes],
            )
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
                "events": self._next_seq() - 1,
                "usage": self._usage.model_dump(),
            },
            last_events=continuation.last_events(self._events),
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

    async def _secure_and_run(self, job: JobInput) -> None:
        self._record(EventKind.STATUS, self._status.value, {"status": self._status.value})
        secured = await self._payment.secure(job)
        self._record(EventKind.PAYMENT, secured.detail)
        if not secured.ok:
            failed = JobStatus.CANCELLED if self._cancel is not None else JobStatus.FAILED
            self._finish(failed, error=secured.detail)
        elif self._cancel is not None:
            self._finish(JobStatus.CANCELLED, error=self._cancel.reason)
        else:
            self._set_status(JobStatus.RUNNING)
            await self._run_agent(job)

    async def _run_agent(self, job: JobInput) -> None:
        # Jobs started before continue-as-new keep their child bound to this run (replay).
        continuable = workflow.patched(CONTINUE_AS_NEW)
        child = await workflow.start_child_workflow(
            job.agent,
            AgentRunInput(
                job_id=job.job_id,
                agent=job.agent,
                input_data=job.input_data,
                platform_task_queue=workflow.info().task_queue,
            ),
            id=child_workflow_id(job.job_id),
            task_queue=job.agent_task_queue,
            static_summary=f"agent {job.agent} for job {job.job_id}",
            # The agent outlives this run when the job continues as new; the next run waits
            # for it through an activity (_watch_agent).
            parent_close_policy=(
                ParentClosePolicy.ABANDON if continuable else ParentClosePolicy.TERMINATE
            ),
        )
        await workflow.wait_condition(
            lambda: (
                child.done() or self._cancel is not None or (continuable and self._budget_spent())
            )
        )
        if not child.done() and self._cancel is None:
            if await self._tell_agent_it_moved(child.id):
                await self._continue_as_new(job)
            await workflow.wait_condition(child.done)  # it ended: its end comes to this run
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

    async def _tell_agent_it_moved(self, agent_id: str) -> bool:
        """Ask the agent to signal its end, since the next run is not its parent.

        False if it has ended already: the end then reaches this run as its child's result.
        """
        if not workflow.patched(TELLS_AGENT_IT_MOVED):
            return True  # agents of that time told every job their end
        try:
            await workflow.get_external_workflow_handle(agent_id).signal(
                agent.AgentWorkflow.job_continued
            )
        except FailureError as err:
            workflow.logger.info("agent %s ended before the job continued: %s", agent_id, err)
            return False
        return True

    async def _watch_agent(self, job: JobInput) -> None:
        """A continued run: the agent (no longer this run's child) says how it ended."""
        agent_id = child_workflow_id(job.job_id)
        while self._agent_outcome is None:
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._agent_outcome is not None
                        or self._cancel is not None
                        or self._budget_spent()
                    ),
                    timeout=AGENT_CHECK,
                )
            except TimeoutError:  # no word for long: look (an operator may have ended it)
                self._agent_outcome = await self._look_at_agent(agent_id)
                continue
            if self._agent_outcome is not None:
                break
            if self._cancel is None:
                await self._continue_as_new(job)
            try:
                await workflow.get_external_workflow_handle(agent_id).cancel()
            except FailureError as err:  # it ended meanwhile
                workflow.logger.info("agent %s not cancelled: %s", agent_id, err)
            try:
                await workflow.wait_condition(
                    lambda: self._agent_outcome is not None, timeout=CANCEL_GRACE
                )
            except TimeoutError:
                workflow.logger.warning("agent %s did not stop within the grace period", agent_id)
            self._finish(JobStatus.CANCELLED, error=self._cancel.reason if self._cancel else None)
            return
        outcome = self._agent_outcome
        if outcome.status == "completed":
            self._result = outcome.result
            self._finish(JobStatus.COMPLETED)
        elif outcome.status == "cancelled" or self._cancel is not None:
            self._finish(JobStatus.CANCELLED, error="agent was cancelled")
        else:
            self._finish(JobStatus.FAILED, error=outcome.error)

    async def _look_at_agent(self, agent_id: str) -> AgentOutcome | None:
        try:
            return await workflow.execute_activity_method(
                AgentWatchActivities.agent_outcome,
                AgentWatch(workflow_id=agent_id),
                start_to_close_timeout=timedelta(minutes=1),
            )
        except ActivityError as err:
            workflow.logger.warning("cannot look at agent %s: %s", agent_id, err)
            return None

    def _budget_spent(self) -> bool:
        return self._budget.spent(len(self._events))

    async def _continue_as_new(self, job: JobInput) -> NoReturn:
        """Hand the job over to a fresh run once no message is half handled."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._forwards
        )
        through, above = seen_compacted(self._seen_through, self._agent_seen)
        escrow = self._payment if isinstance(self._payment, EscrowPayment) else None
        carried = JobCarry(
            run=self._run + 1,
            previous_run_id=workflow.info().run_id,
            status=self._status,
            pending=self._pending,
            cancel=self._cancel,
            created_at=self._created,
            usage=self._usage,
            seen_through=through,
            seen_above=above,
            input_hashes=self._input_hashes,
            events=continuation.tail(self._events),
            next_seq=self._next_seq(),
            escrow_request=escrow.request if escrow else None,
            escrow_status=escrow.status if escrow else None,
            agent_outcome=self._agent_outcome,
        )
        workflow.logger.info("job %s continues as new (run %d)", job.job_id, carried.run)
        workflow.continue_as_new(job.model_copy(update={"carried": carried}))

    def _restore(self, carried: JobCarry) -> None:
        """Take over from the run before (see _continue_as_new)."""
        self._run = carried.run
        self._previous_run_id = carried.previous_run_id
        self._status = carried.status
        self._pending = carried.pending
        self._cancel = carried.cancel
        self._created = carried.created_at
        self._usage = carried.usage
        self._seen_through = carried.seen_through
        self._agent_seen = set(carried.seen_above)
        self._input_hashes = list(carried.input_hashes)
        self._events = list(carried.events)
        self._events_from = carried.events[0].seq if carried.events else carried.next_seq
        self._agent_outcome = carried.agent_outcome
        if isinstance(self._payment, EscrowPayment):
            self._payment.request = carried.escrow_request
            self._payment.status = carried.escrow_status

    def _next_seq(self) -> int:
        return self._events_from + len(self._events)

    # -- client messages --------------------------------------------------------------

    @workflow.update
    async def submit(self, submission: Submission) -> SubmitResult:
        """Answer the pending form; refused submissions never enter history.

        The validator checks the submission once and hands the answer over by update id:
        the SDK runs a validator and its handler back to back in one task. Validators do
        not run on replay, so there (and only there) the handler checks it itself.
        """
        self._budget.updates += 1
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
        self._budget.signals += 1
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
        self._budget.updates += 1
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
        self._budget.signals += 1
        if self._cancel is None and not self._status.terminal:
            self._cancel = request
            self._record(EventKind.STATUS, f"cancel requested: {request.reason}")

    @workflow.signal
    def agent_event(self, event: AgentEvent) -> None:
        """An event from the agent child (progress, form requested or expired, usage)."""
        self._budget.signals += 1
        self._apply(event)

    @workflow.signal
    def agent_finished(self, outcome: AgentOutcome) -> None:
        """How the agent's run ended (a continued job is no longer its parent to see it)."""
        self._budget.signals += 1
        self._agent_outcome = outcome

    @workflow.signal
    def agent_events(self, batch: AgentEventBatch) -> None:
        """Events from the agent, several at once, in the agent's order (one signal)."""
        self._budget.signals += 1
        for event in batch.events:
            self._apply(event)

    def _apply(self, event: AgentEvent) -> None:
        if event.agent_seq <= self._seen_through or event.agent_seq in self._agent_seen:
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

    @workflow.signal
    def escrow_notice(self, notice: EscrowNotice) -> None:
        """The payment service saw the escrow change (webhook): read the chain now."""
        self._budget.signals += 1
        self._payment.chain_notice(notice)

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
            last_seq=self._next_seq() - 1,
            created_at=self._created,
            updated_at=self._updated,
            usage=self._usage,
            escrow=self._payment.escrow,
            input_hashes=self._input_hashes,
            events_from=self._events_from,
            previous_run_id=self._previous_run_id,
        )

    @workflow.query
    def events(self, query: EventsQuery) -> list[JobEvent]:
        """The events after ``query.after``, oldest first."""
        start = max(query.after - (self._events_from - 1), 0)
        return self._events[start : start + query.limit]

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
        try:
            digest = input_hash(self._job.identifier_from_purchaser, answer.values)
        except ValueError:  # a number no double holds: JSON (RFC 8785) cannot hash it
            digest = ""
        self._input_hashes.append(digest)
        self._record(
            EventKind.FORM_SUBMITTED,
            f"form {request.form.id} answered",
            {"request_id": request.request_id, "by": answer.submitted_by, "input_hash": digest},
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
        """Deliver an accepted answer to the agent child (it may already have closed).

        Records nothing once delivered: a live follower does not look at the job after a
        task woken only by a delivery or the child's start (client/job_stream.py).
        """
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
                seq=self._next_seq(),
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

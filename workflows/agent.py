"""The agent SDK: the base class vendors subclass to write an agent.

An agent is a Temporal workflow that runs as the child of a platform JobWorkflow, on the
vendor's own task queue. It pauses for human input with :meth:`AgentWorkflow.ask`, reports
progress with :meth:`AgentWorkflow.emit` and does its I/O in activities. Everything the buyer
sees (status, events, the pending form) is held by the parent JobWorkflow, which the agent
keeps informed by signals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, JsonValue, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from durasumi.workflows import job  # the two workflows signal each other; attributes resolve late
from durasumi.workflows.continuation import HISTORY_BUDGET
from durasumi.workflows.errors import FORM_EXPIRED, INVALID_INPUT, errors_detail
from durasumi.workflows.forms import Form
from durasumi.workflows.models import (
    AgentCarry,
    AgentEvent,
    AgentEventBatch,
    AgentOutcome,
    AgentRunInput,
    EventKind,
    FormRequest,
    Submission,
    Usage,
)

with workflow.unsafe.imports_passed_through():  # activity references and their models
    from durasumi.activities.gpu import GpuActivities, RayJob, RayJobResult, RayTask, RayTaskResult
    from durasumi.activities.llm import (
        LLM_INVALID_OUTPUT,
        ChatMessage,
        LlmActivities,
        LlmRequest,
        LlmResult,
    )

__all__ = ["AgentWorkflow", "FormExpired", "StepOptions"]

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

# Patch id (workflow.patched): agents started before it signal each event on its own.
BATCHED_EVENTS = "agent-events-batched"
# Before it, a batching agent signalled its end to every job, continued or not.
END_TOLD_WHEN_MOVED = "agent-tells-its-end-only-to-a-continued-job"
EVENT_BATCH = 500  # events per signal: well inside a payload's 2 MB for ordinary events


@dataclass(frozen=True)
class StepOptions:
    """Timeouts and retries of one kind of activity call, set once per agent class.

    ``AgentWorkflow`` holds one for each kind (``step_options``, ``llm_options``,
    ``gpu_options``); an agent overrides a class attribute to change its defaults, and a
    call overrides any of them with its own keyword arguments.

    Args:
        timeout: start-to-close timeout of one attempt.
        heartbeat: heartbeat timeout: how soon a dead worker or a cancel is noticed
            (``None`` for steps that do not heartbeat).
        retry: retry policy for the retryable failures.

    Example:
        >>> from datetime import timedelta
        >>> class Patient(AgentWorkflow):
        ...     llm_options = StepOptions(timeout=timedelta(minutes=30))
        >>> Patient.llm_options.heartbeat is None
        True
    """

    timeout: timedelta = timedelta(minutes=10)
    heartbeat: timedelta | None = None
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=1),
            maximum_attempts=10,
        )
    )

    def merged(
        self,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> StepOptions:
        """These options with a call's own overrides (``None`` keeps the default)."""
        return StepOptions(
            timeout=self.timeout if timeout is None else timeout,
            heartbeat=self.heartbeat if heartbeat is None else heartbeat,
            retry=self.retry if retry is None else retry,
        )


# One LLM attempt. Heartbeats flow while tokens stream, so a dead worker or a cancellation is
# noticed within the heartbeat timeout (the SDK sends at most one per 80% of it).
LLM_OPTIONS = StepOptions(
    timeout=timedelta(minutes=10),
    heartbeat=timedelta(seconds=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
    ),
)
# One Ray task or job attempt, waiting for a GPU included.
GPU_OPTIONS = StepOptions(
    timeout=timedelta(hours=2),
    heartbeat=timedelta(seconds=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=5,
    ),
)


class _AgentName:
    """The agent's name is its workflow type: declared once, in ``@workflow.defn(name=...)``."""

    def __get__(self, instance: object, owner: type) -> str:
        defn = workflow._Definition.from_class(owner)
        if defn is None or not defn.name:
            raise AttributeError(
                f"{owner.__name__} has no agent name: decorate it with @workflow.defn(name=...)"
            )
        return defn.name


def _stop_if_cancelled() -> None:
    """Re-raise a cancellation that an await absorbed.

    A step that completes although the job was cancelled hands back its result, and the
    cancellation is spent: the agent would go on. Every SDK primitive checks again, so a
    cancelled agent stops at its next step at the latest.
    """
    if workflow.cancellation_reason() is not None:
        raise asyncio.CancelledError("the job was cancelled")


class FormExpired(ApplicationError):
    """Raised by :meth:`AgentWorkflow.ask` when a form's deadline passes unanswered.

    Left uncaught it fails the job, and the buyer is refunded where money moved.

    Example:
        >>> expired = FormExpired("mood-1")
        >>> expired.type, expired.non_retryable, expired.request_id
        ('FormExpired', True, 'mood-1')
        >>> try:  # doctest: +SKIP
        ...     answer = await self.ask(MOOD, timeout=timedelta(hours=1))
        ... except FormExpired:
        ...     answer = {"mood": "unknown"}  # go on without it
    """

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"form {request_id} was not answered before its deadline",
            {"request_id": request_id},
            type=FORM_EXPIRED,
            non_retryable=True,
        )
        self.request_id = request_id


class AgentWorkflow:
    """Base class for agents; subclass it, decorate with ``@workflow.defn(name=...)``.

    The name given to ``@workflow.defn`` is the agent's name (``Greeter.name``), its
    workflow type and its task queue's suffix. Class attributes describe the agent to the
    platform: ``description``, ``input_form`` (the MIP-003 input schema of start_job) and
    ``activities`` (the activity functions the agent calls, registered with its worker),
    ``needs`` (``"llm"``, ``"gpu"``: what its worker must be configured with);
    ``step_options``, ``llm_options`` and ``gpu_options`` are the timeouts and retries of
    ``step()``, ``llm()`` and ``gpu()``, which a call may override.

    Example:
        >>> from datetime import timedelta
        >>> from temporalio import workflow
        >>> from durasumi import AgentRunInput, AgentWorkflow, Field, Form
        >>> @workflow.defn(name="greeter")
        ... class Greeter(AgentWorkflow):
        ...     input_form = Form(id="start", title="Start", fields=[Field.text("who", "Who")])
        ...
        ...     @workflow.run
        ...     async def run(self, job: AgentRunInput) -> str:
        ...         answer = await self.ask(
        ...             Form(id="mood", title="Mood", fields=[Field.text("mood", "Mood?")]),
        ...             timeout=timedelta(minutes=5),
        ...         )
        ...         await self.emit("thinking")
        ...         return f"Hello {job.input_data['who']}, glad you feel {answer['mood']}"
    """

    name: ClassVar[str] = _AgentName()  # type: ignore[assignment]
    description: ClassVar[str] = ""
    input_form: ClassVar[Form | None] = None
    activities: ClassVar[Sequence[Callable[..., Any]]] = ()
    needs: ClassVar[frozenset[str]] = frozenset()
    """What the agent's worker must have: ``"llm"`` (DURASUMI_LLM_*), ``"gpu"`` (Ray).

    A worker without it registers the agent as unavailable, with the reason, so buyers and
    the Masumi registry see it before a job fails.
    """
    step_options: ClassVar[StepOptions] = StepOptions()
    llm_options: ClassVar[StepOptions] = LLM_OPTIONS
    gpu_options: ClassVar[StepOptions] = GPU_OPTIONS
    hire_budget_lovelace: ClassVar[int | None] = None
    """The most one job may spend on the agents it hires (``None``: no cap)."""
    plugins: ClassVar[Sequence[Any]] = ()
    """Temporal plugins the agent's worker needs besides durasumi's (an agent framework's).

    ``durasumi worker`` applies them to the worker's client and the worker.
    """

    def __init__(self) -> None:
        self._job: AgentRunInput | None = None  # set before run by the plugin's interceptor
        self._hires = 0
        self._hire_spent = 0
        self._agent_seq = 0
        self._form_count = 0
        self._pending: FormRequest | None = None
        self._answers: dict[str, dict[str, JsonValue]] = {}
        self._batching: bool | None = None  # decided at the first report (patched)
        self._outbox: list[AgentEvent] = []
        self._sender: asyncio.Task[None] | None = None
        self._runs = 1
        self._told_to_checkpoint = False
        self._job_moved = False  # the job continued as new: tell it the end by signal

    def _bind(self, job: AgentRunInput) -> None:
        """Take the job's input, and the SDK's counters from the run before (interceptor)."""
        self._job = job
        if job.carry is not None:
            self._runs = job.carry.runs + 1
            self._agent_seq = job.carry.agent_seq
            self._form_count = job.carry.form_count
            self._hires = job.carry.hires
            self._hire_spent = job.carry.hire_spent
            self._job_moved = job.carry.job_moved

    # -- SDK primitives ---------------------------------------------------------------

    def validated_input(self, job: AgentRunInput) -> dict[str, JsonValue]:
        """Return the job's input cleaned by ``input_form``; bad input fails the job.

        The platform validates input before a job starts; this is the agent's own check.
        """
        if self.input_form is None:
            return dict(job.input_data)
        check = self.input_form.check(job.input_data)
        if not check.ok:
            raise ApplicationError(
                "invalid input_data",
                errors_detail(check.errors),
                type=INVALID_INPUT,
                non_retryable=True,
            )
        return check.values

    async def ask(self, form: Form, *, timeout: timedelta | None = None) -> dict[str, JsonValue]:
        """Publish ``form`` and wait for a valid submission or the deadline.

        Args:
            form: The form to show the buyer.
            timeout: How long the buyer has; ``None`` waits as long as the job lives.

        Returns:
            The cleaned values of the accepted submission, keyed by field id.

        Raises:
            FormExpired: The deadline passed without a valid submission.
        """
        self._form_count += 1
        request_id = f"{form.id}-{self._form_count}"
        if not self._told_to_checkpoint and self._history_long():
            self._told_to_checkpoint = True
            workflow.logger.warning(
                "agent %s: this run's history is long; call `await self.checkpoint(state)` "
                "in the loop so it continues as new before Temporal's limits",
                workflow.info().workflow_id,
            )
        deadline = workflow.now() + timeout if timeout is not None else None
        self._pending = FormRequest(request_id=request_id, form=form, deadline=deadline)
        await self._report(
            EventKind.FORM_REQUESTED, f"form {form.id} requested", form=self._pending
        )
        try:
            await workflow.wait_condition(lambda: request_id in self._answers, timeout=timeout)
        except TimeoutError:
            self._pending = None
            await self._report(
                EventKind.FORM_EXPIRED, f"form {form.id} expired", {"request_id": request_id}
            )
            raise FormExpired(request_id) from None
        self._pending = None
        _stop_if_cancelled()
        return self._answers.pop(request_id)

    async def emit(self, message: str, data: dict[str, JsonValue] | None = None) -> None:
        """Report a progress event to everyone watching the job.

        Args:
            message: One human-readable line.
            data: Structured detail (progress counters, partial results).
        """
        await self._report(EventKind.PROGRESS, message, data or {})
        _stop_if_cancelled()

    async def step(
        self,
        activity: Callable[..., Any],
        arg: Any,
        *,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
        options: StepOptions | None = None,
    ) -> Any:
        """Run one of the agent's activities with timeouts and retries already set.

        Args:
            activity: The activity function (a reference, never a name).
            arg: Its single input model.
            timeout: start-to-close timeout of one attempt (default ``step_options``).
            heartbeat: heartbeat timeout, for long steps that heartbeat.
            retry: Retry policy; business failures should raise non-retryable errors.
            options: The defaults the other arguments override (``step_options``).
        """
        opts = (options or self.step_options).merged(timeout, heartbeat, retry)
        _stop_if_cancelled()
        try:
            result = await workflow.execute_activity(
                activity,
                arg,
                start_to_close_timeout=opts.timeout,
                heartbeat_timeout=opts.heartbeat,
                retry_policy=opts.retry,
                # The agent stops only once the step has really stopped (or missed heartbeats).
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as err:
            # A step stopped by the job's cancellation ends the agent as cancelled, not
            # failed (agent workers fail workflows on any Exception).
            if isinstance(err.cause, CancelledError) and workflow.cancellation_reason() is not None:
                raise asyncio.CancelledError("the job was cancelled") from err
            raise
        _stop_if_cancelled()
        return result

    @overload
    async def llm(
        self,
        prompt: str | Sequence[ChatMessage],
        *,
        output: None = None,
        system: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> LlmResult: ...

    @overload
    async def llm(
        self,
        prompt: str | Sequence[ChatMessage],
        *,
        output: type[M],
        system: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> M: ...

    async def llm(
        self,
        prompt: str | Sequence[ChatMessage],
        *,
        output: type[M] | None = None,
        system: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> LlmResult | M:
        """Ask the worker's LLM (OpenAI-compatible Chat Completions); tokens are metered.

        Rate limits, 5xx and a silent provider are retried with backoff (honouring
        Retry-After); a request the provider refuses (400, 401, 403, 404...) fails at once
        with the provider's message. Cancelling the job aborts the HTTP request.

        Args:
            prompt: The user's message, or the whole chat.
            output: A pydantic model: ask for JSON of its schema and return it validated
                (an answer that does not fit raises ``LlmInvalidOutput``).
            system: A system message, put first.
            model: The model; default the worker's ``DURASUMI_LLM_MODEL``.
            temperature: Sampling temperature.
            max_tokens: Most tokens to generate.
            timeout: start-to-close timeout of one attempt (default from the class's options).
            heartbeat: heartbeat timeout: how soon a dead worker or a cancel is noticed.
            retry: Retry policy for the retryable failures.

        Returns:
            The answer with its token usage, or an ``output`` instance.

        Example:
            >>> answer = await self.llm("Name three rivers.", system="Be brief.")  # doctest: +SKIP
            >>> answer.text, answer.output_tokens  # doctest: +SKIP
            >>> city = await self.llm("Capital of Peru?", output=City)  # doctest: +SKIP
        """
        messages = (
            [ChatMessage(role="user", content=prompt)] if isinstance(prompt, str) else list(prompt)
        )
        if system is not None:
            messages.insert(0, ChatMessage(role="system", content=system))
        request = LlmRequest(
            messages=messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_schema=output.model_json_schema() if output is not None else None,
            schema_name=output.__name__ if output is not None else "output",
        )
        result: LlmResult = await self.step(
            LlmActivities.chat,
            request,
            options=self.llm_options.merged(timeout, heartbeat, retry),
        )
        usage = Usage(
            input_tokens=result.input_tokens, output_tokens=result.output_tokens, llm_calls=1
        )
        await self._report(
            EventKind.USAGE,
            f"llm {result.model}: {usage.input_tokens} tokens in, {usage.output_tokens} out",
            usage.model_dump(),
        )
        if output is None:
            return result
        try:
            return output.model_validate_json(result.text)
        except ValidationError as err:
            raise ApplicationError(
                f"the model's answer does not fit {output.__name__}: {err.error_count()} error(s)",
                {"text": result.text[:4000], "errors": str(err)},
                type=LLM_INVALID_OUTPUT,
                non_retryable=True,
            ) from None

    @overload
    async def gpu(
        self,
        work: RayTask,
        *,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> RayTaskResult: ...

    @overload
    async def gpu(
        self,
        work: RayJob,
        *,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> RayJobResult: ...

    async def gpu(
        self,
        work: RayTask | RayJob,
        *,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy | None = None,
    ) -> RayTaskResult | RayJobResult:
        """Run a Ray task or a Ray Job on the worker's Ray; GPU-seconds are metered.

        Cancelling the job cancels the Ray task or stops the Ray Job. A retry after a worker
        crash runs a task again, and re-attaches to a job that is still running.

        Args:
            work: A :class:`RayTask` (an importable function with resources) or a
                :class:`RayJob` (an entrypoint through the Jobs API).
            timeout: start-to-close timeout of one attempt, waiting for a GPU included.
            heartbeat: heartbeat timeout: how soon a dead worker or a cancel is noticed.
            retry: Retry policy for the retryable failures.

        Returns:
            A :class:`RayTaskResult` or :class:`RayJobResult`, with ``gpu_seconds``.

        Example:
            >>> done = await self.gpu(  # doctest: +SKIP
            ...     RayTask(function="mypkg.embed:run", args=[batch], num_gpus=1)
            ... )
            >>> done.value, done.gpu_seconds  # doctest: +SKIP
        """
        result: RayTaskResult | RayJobResult
        opts = self.gpu_options.merged(timeout, heartbeat, retry)
        if isinstance(work, RayJob):
            job_result: RayJobResult = await self.step(GpuActivities.run_job, work, options=opts)
            result, label = job_result, f"ray job {job_result.submission_id}"
        else:
            result = await self.step(GpuActivities.run_task, work, options=opts)
            label = f"ray task {work.function}"
        usage = Usage(gpu_seconds=result.gpu_seconds, gpu_calls=1)
        await self._report(
            EventKind.USAGE, f"{label}: {usage.gpu_seconds:g} GPU-seconds", usage.model_dump()
        )
        return result

    # -- messages from the platform ---------------------------------------------------

    @workflow.signal
    def answer(self, submission: Submission) -> None:
        """Receive a submission the JobWorkflow already validated."""
        pending = self._pending
        if pending is None or submission.request_id != pending.request_id:
            workflow.logger.warning("ignoring answer for %s: not pending", submission.request_id)
            return
        check = pending.form.check(submission.values)
        if not check.ok:
            # The parent validated already; a mismatch means two form versions disagree.
            workflow.logger.warning("answer for %s failed validation", submission.request_id)
            return
        self._answers[pending.request_id] = check.values

    async def checkpoint(self, state: BaseModel | JsonValue = None) -> None:
        """Continue as new here if this run's history is long; ``run`` then starts over.

        A workflow run holds at most 51,200 history events and 10,000 signals, and a long
        history is slow to replay. An agent that loops (one form after another, a step per
        item) calls ``checkpoint`` once per turn with what it needs to go on: while this
        run is short it returns at once; once the history reaches its budget (5,000
        events, or Temporal's own suggestion) the events reported so far are delivered and
        the agent continues as new. Its next run receives the same ``AgentRunInput``, and
        :meth:`resumed` gives back ``state``. The job, its buyer, the event stream and the
        form request ids do not notice. Call it between steps, not while a form, step or
        hire of the same agent is still running concurrently.

        Args:
            state: What the next run needs: a pydantic model or any JSON value.

        Example:
            >>> class Tally(BaseModel):  # doctest: +SKIP
            ...     turn: int = 0
            ...     total: int = 0
            >>> @workflow.run  # doctest: +SKIP
            ... async def run(self, job: AgentRunInput) -> int:
            ...     tally = self.resumed(Tally) or Tally()
            ...     while tally.turn < 5_000:
            ...         answer = await self.ask(TURN)
            ...         tally = Tally(turn=tally.turn + 1, total=tally.total + answer["n"])
            ...         await self.checkpoint(tally)
            ...     return tally.total
        """
        if not self._history_long():
            return
        job_input = self._job
        if job_input is None:
            raise RuntimeError("checkpoint() needs the agent's AgentRunInput (run as a job)")
        await self._reported()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = state.model_dump(mode="json") if isinstance(state, BaseModel) else state
        carry = AgentCarry(
            runs=self._runs,
            agent_seq=self._agent_seq,
            form_count=self._form_count,
            hires=self._hires,
            hire_spent=self._hire_spent,
            job_moved=self._job_moved,
            state=carried,
        )
        workflow.logger.info("agent continues as new after run %d", self._runs)
        workflow.continue_as_new(job_input.model_copy(update={"carry": carry}))

    def resumed(self, model: type[M]) -> M | None:
        """The state the run before handed to :meth:`checkpoint`; ``None`` in the first run.

        Example:
            >>> tally = self.resumed(Tally) or Tally()  # doctest: +SKIP
        """
        carry = self._job.carry if self._job is not None else None
        if carry is None or carry.state is None:
            return None
        return model.model_validate(carry.state)

    def _history_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= HISTORY_BUDGET
        )

    @workflow.signal
    def job_continued(self) -> None:
        """The job continued as new: its next run is not this workflow's parent.

        The agent then tells the job how it ended by signal (``_finished``); a job that
        never continues sees the end as its child's result, which costs no signal.
        """
        self._job_moved = True

    @workflow.query
    def pending_form(self) -> FormRequest | None:
        """The form the agent is waiting on, if any."""
        return self._pending

    async def hire(
        self,
        agent: str,
        input_data: dict[str, JsonValue],
        *,
        budget: int | None = None,
        timeout: timedelta = timedelta(hours=1),
        on_form: Callable[[Form], Any] | None = None,
    ) -> JsonValue:
        """Hire another agent (native or remote): run a sub-job with this job as its buyer.

        The sub-agent's forms go to ``on_form`` (return the answer, or None to relay the
        form to this job's buyer); its price and tokens are metered into this job's usage;
        cancelling this job cancels the sub-job. See ``workflows/hire.py``.

        Args:
            agent: The agent's name on the platform.
            input_data: Its start input.
            budget: The most this hire may cost (lovelace); ``hire_budget_lovelace`` caps
                all hires of the job.
            timeout: How long the sub-job may take; it is cancelled after.
            on_form: Answers the sub-agent's forms (sync or async).

        Raises:
            ApplicationError: ``HireOverBudget`` (nothing started), ``HireFailed``,
                ``HireTimeout``, ``HireUnknownAgent`` or ``InvalidInput``.

        Example:
            >>> plan = await self.hire(  # doctest: +SKIP
            ...     "trip-planner", {"destination": "Lima"}, budget=5_000_000,
            ...     on_form=lambda form: {"level": "comfort"} if form.id == "budget" else None,
            ... )
        """
        from durasumi.workflows.hire import hire

        return await hire(self, agent, input_data, budget=budget, timeout=timeout, on_form=on_form)

    async def meter(
        self, label: str, *, input_tokens: int = 0, output_tokens: int = 0, llm_calls: int = 0
    ) -> None:
        """Add tokens used outside ``llm()`` (an agent framework's run) to the job's usage.

        Example:
            >>> run = await pydantic_ai_agent.run("Pack for Oslo")  # doctest: +SKIP
            >>> u = run.usage  # doctest: +SKIP
            >>> await self.meter("pydantic-ai", input_tokens=u.input_tokens,  # doctest: +SKIP
            ...                  output_tokens=u.output_tokens, llm_calls=u.requests)
        """
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, llm_calls=llm_calls)
        message = f"{label}: {input_tokens} tokens in, {output_tokens} out"
        await self._report(EventKind.USAGE, message, usage.model_dump())

    # -- plumbing ---------------------------------------------------------------------

    async def _report(
        self,
        kind: EventKind,
        message: str,
        data: dict[str, JsonValue] | None = None,
        *,
        form: FormRequest | None = None,
    ) -> None:
        self._agent_seq += 1
        event = AgentEvent(
            agent_seq=self._agent_seq, kind=kind, message=message, data=data or {}, form=form
        )
        parent = workflow.info().parent
        if parent is None:
            workflow.logger.info("agent event (no job): %s %s", kind, message)
            return
        if self._batching is None:  # agents started before batching signal every event
            self._batching = workflow.patched(BATCHED_EVENTS)
        if not self._batching:
            handle = workflow.get_external_workflow_handle_for(
                job.JobWorkflow.run, parent.workflow_id
            )
            await handle.signal(job.JobWorkflow.agent_event, event)
            return
        # Events queue up and go in as few signals as the agent's pace allows: a loop of
        # emits between two awaits is one signal (Temporal allows 10,000 per job run, and
        # each costs history events on both sides). Forms wait until the job has them.
        self._outbox.append(event)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outbox(parent.workflow_id))
        if kind is not EventKind.PROGRESS and kind is not EventKind.USAGE:
            await self._reported()

    async def _send_outbox(self, job_id: str) -> None:
        handle = workflow.get_external_workflow_handle_for(job.JobWorkflow.run, job_id)
        while self._outbox:
            batch = self._outbox[:EVENT_BATCH]
            del self._outbox[: len(batch)]
            await handle.signal(job.JobWorkflow.agent_events, AgentEventBatch(events=batch))

    async def _reported(self) -> None:
        """Wait until every event reported so far reached the job."""
        await workflow.wait_condition(
            lambda: not self._outbox and (self._sender is None or self._sender.done())
        )

    async def _finished(self, outcome: AgentOutcome) -> None:
        """Deliver the last events, then tell a continued job how the run ended.

        A job that continued as new is no longer this workflow's parent and learns the end
        only this way (it says so with ``job_continued``); the job's first run sees the end
        as its child's result. Called by workers/job_context.py.
        """
        parent = workflow.info().parent
        if parent is None or self._batching is False:  # agents of that time never told
            return
        if self._batching is None and not self._job_moved:  # it never reported anything
            return
        await self._reported()
        if not self._job_moved and workflow.patched(END_TOLD_WHEN_MOVED):
            return
        handle = workflow.get_external_workflow_handle_for(job.JobWorkflow.run, parent.workflow_id)
        try:
            await handle.signal(job.JobWorkflow.agent_finished, outcome)
        except FailureError as err:  # the job closed already (it was cancelled, say)
            workflow.logger.info("job %s not told the agent ended: %s", parent.workflow_id, err)

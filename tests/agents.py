"""Agents used only by the tests: they leave traces in files so tests can count steps."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, JsonValue
from temporalio import activity, workflow

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput


class Step(BaseModel):
    trace: str
    index: int
    seconds: float


def _note(trace: str, line: str) -> None:
    with Path(trace).open("a") as fh:
        fh.write(line + "\n")


@activity.defn
async def counted_step(step: Step) -> int:
    """Write 'start i', work (heartbeating), write 'done i'; 'cancelled i' if cancelled."""
    _note(step.trace, f"start {step.index}")
    ticks = max(1, round(step.seconds / 0.1))
    try:
        for _ in range(ticks):
            activity.heartbeat()
            await asyncio.sleep(step.seconds / ticks)
    except asyncio.CancelledError:
        _note(step.trace, f"cancelled {step.index}")
        raise
    _note(step.trace, f"done {step.index}")
    return step.index


ANSWER = Form(id="answer", title="Answer", fields=[Field.text("text", "Your answer", min=1)])


@workflow.defn(name="counter")
class CounterAgent(AgentWorkflow):
    """Runs `before` steps, asks one form (deadline `form_seconds`), then `after` steps."""

    input_form = Form(
        id="counter",
        title="Counter",
        fields=[
            Field.text("trace", "Trace file"),
            Field.number("before", "Steps before the form", min=0, max=50),
            Field.number("after", "Steps after the form", min=0, max=50),
            Field.number("step_seconds", "Seconds per step", min=0, max=60),
            Field.number("form_seconds", "Form deadline (s)", min=1, optional=True),
        ],
    )
    activities = (counted_step,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        trace, seconds = str(data["trace"]), float(str(data["step_seconds"]))
        index = 0
        for _ in range(int(str(data["before"]))):
            await self._step(trace, index, seconds)
            index += 1
        deadline = data.get("form_seconds")
        timeout = timedelta(seconds=float(str(deadline))) if deadline is not None else None
        answer = await self.ask(ANSWER, timeout=timeout)
        for _ in range(int(str(data["after"]))):
            await self._step(trace, index, seconds)
            index += 1
        return {"answer": answer["text"], "steps": index}

    async def _step(self, trace: str, index: int, seconds: float) -> None:
        await self.step(
            counted_step,
            Step(trace=trace, index=index, seconds=seconds),
            heartbeat=timedelta(seconds=2),
            timeout=timedelta(minutes=2),
        )
        await self.emit(f"step {index} done", {"index": index})


@workflow.defn(name="broken")
class BrokenAgent(AgentWorkflow):
    """Fails with a plain exception after its first form: the job must fail, not hang."""

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        await self.ask(ANSWER)
        raise RuntimeError("agent bug: division by zero somewhere")

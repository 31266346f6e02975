"""Agents for the deploy tests: two incompatible versions of one agent, and a slow step.

``UpgradeV1`` and ``UpgradeV2`` are the same workflow type ("upgrade-demo"): v2 runs a
``prepare`` activity before its form, so replaying a v1 history with v2 code is a
non-determinism error. ``DrainAgent`` runs slow, heartbeating steps that write the worker's
pid to a trace file, so a test can tell which process ran (or cancelled) each attempt.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, JsonValue
from temporalio import activity, workflow

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput


def _note(trace: str, line: str) -> None:
    with Path(trace).open("a") as fh:
        fh.write(line + "\n")


class Prepare(BaseModel):
    trace: str


@activity.defn
async def prepare(arg: Prepare) -> str:
    """v2's new first step."""
    _note(arg.trace, "prepare")
    return "prepared"


UPGRADE_INPUT = Form(id="upgrade", title="Upgrade demo", fields=[Field.text("trace", "Trace")])
NOTE = Form(id="note", title="Note", fields=[Field.text("text", "A note", min=1)])


@workflow.defn(name="upgrade-demo")
class UpgradeV1(AgentWorkflow):
    """Version 1: asks for a note, then answers."""

    input_form = UPGRADE_INPUT

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        answer = await self.ask(NOTE, timeout=timedelta(minutes=10))
        return {"version": "v1", "note": answer["text"]}


@workflow.defn(name="upgrade-demo")
class UpgradeV2(AgentWorkflow):
    """Version 2: a new step before the same form (an incompatible change)."""

    input_form = UPGRADE_INPUT
    activities = (prepare,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        prepared = await self.step(prepare, Prepare(trace=str(data["trace"])))
        answer = await self.ask(NOTE, timeout=timedelta(minutes=10))
        return {"version": "v2", "note": answer["text"], "prepared": prepared}


class Slow(BaseModel):
    trace: str
    index: int
    seconds: float


@activity.defn
async def slow_step(step: Slow) -> int:
    """'start i pid attempt', heartbeat for ``seconds``, 'done i pid' (or 'cancelled i pid')."""
    pid, attempt = os.getpid(), activity.info().attempt
    _note(step.trace, f"start {step.index} {pid} {attempt}")
    ticks = max(1, round(step.seconds / 0.1))
    try:
        for _ in range(ticks):
            activity.heartbeat()
            await asyncio.sleep(step.seconds / ticks)
    except asyncio.CancelledError:
        _note(step.trace, f"cancelled {step.index} {pid} {attempt}")
        raise
    _note(step.trace, f"done {step.index} {pid} {attempt}")
    return step.index


@workflow.defn(name="drain-demo")
class DrainAgent(AgentWorkflow):
    """Runs ``steps`` slow steps of ``seconds`` each, then returns how many ran."""

    input_form = Form(
        id="drain",
        title="Drain demo",
        fields=[
            Field.text("trace", "Trace file"),
            Field.number("steps", "Steps", min=1, max=10),
            Field.number("seconds", "Seconds per step", min=0, max=60),
        ],
    )
    activities = (slow_step,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> int:
        data = self.validated_input(job)
        trace, seconds = str(data["trace"]), float(str(data["seconds"]))
        for index in range(int(str(data["steps"]))):
            await self.step(
                slow_step,
                Slow(trace=trace, index=index, seconds=seconds),
                heartbeat=timedelta(seconds=2),
                timeout=timedelta(minutes=2),
            )
        return int(str(data["steps"]))

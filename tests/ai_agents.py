"""Agents for the LLM and Ray tests: thin wrappers over self.llm() and self.gpu()."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.gpu import RayJob, RayTask

# Short heartbeats and retries, so tests see cancellations and retries within seconds.
HEARTBEAT = timedelta(seconds=2)
FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=5
)


class Capital(BaseModel):
    country: str
    capital: str


@workflow.defn(name="llm-probe")
class LlmProbe(AgentWorkflow):
    """``calls`` plain LLM calls, or one structured call (``structured``)."""

    input_form = Form(
        id="llm",
        title="LLM probe",
        fields=[
            Field.number("calls", "Calls", min=1, max=10, integer=True),
            Field.boolean("structured", "Structured output", optional=True),
        ],
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        if data.get("structured"):
            capital = await self.llm(
                "Capital of Portugal?", output=Capital, heartbeat=HEARTBEAT, retry=FAST_RETRY
            )
            return capital.model_dump()
        texts: list[JsonValue] = []
        for i in range(int(str(data["calls"]))):
            reply = await self.llm(
                f"question {i}",
                system="Be brief.",
                temperature=0.2,
                max_tokens=50,
                heartbeat=HEARTBEAT,
                retry=FAST_RETRY,
            )
            texts.append(reply.text)
        return {"texts": texts}


@workflow.defn(name="gpu-probe")
class GpuProbe(AgentWorkflow):
    """One Ray task (``task``), two concurrent ones (``pair``), a Ray job (``job``), or a
    task whose function raises (``fail``)."""

    input_form = Form(
        id="gpu",
        title="GPU probe",
        fields=[
            Field.option("kind", "Kind", ["task", "pair", "job", "fail"]),
            Field.text("trace", "Trace file"),
            Field.number("seconds", "Seconds", min=0, max=120),
            Field.number("gpus", "GPUs", min=0, max=4, optional=True),
            Field.text("entrypoint", "Job entrypoint", optional=True),
        ],
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> JsonValue:
        data = self.validated_input(job)
        trace, seconds = str(data["trace"]), float(str(data["seconds"]))
        gpus = float(str(data["gpus"])) if data.get("gpus") is not None else 1.0
        kind = data["kind"]
        if kind == "job":
            done = await self.gpu(
                RayJob(entrypoint=str(data["entrypoint"]), num_gpus=gpus),
                heartbeat=HEARTBEAT,
                retry=FAST_RETRY,
            )
            return done.model_dump(mode="json")
        if kind == "fail":
            await self.gpu(RayTask(function="tests.ray_work:fail", args=["bad batch"]))
            return None
        if kind == "pair":
            first, second = await asyncio.gather(
                *(self._tick(f"{trace}.{n}", seconds, gpus) for n in ("a", "b"))
            )
            return {"runs": [first, second]}
        return await self._tick(trace, seconds, gpus)

    async def _tick(self, trace: str, seconds: float, gpus: float) -> JsonValue:
        done = await self.gpu(
            RayTask(function="tests.ray_work:tick", args=[trace, seconds], num_gpus=gpus),
            heartbeat=HEARTBEAT,
            retry=FAST_RETRY,
        )
        return done.model_dump(mode="json")

"""The durasumi side of bench/activities.py: agents that make N sequential gpu()/llm() calls."""

from __future__ import annotations

from pydantic import JsonValue
from temporalio import workflow

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.models import AgentRunInput

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.gpu import RayTask


@workflow.defn(name="bench-gpu")
class BenchGpu(AgentWorkflow):
    """``calls`` sequential 1-GPU Ray tasks of ``seconds`` each (``reuse``: reused workers)."""

    @workflow.run
    async def run(self, job: AgentRunInput) -> JsonValue:
        seconds = float(str(job.input_data["seconds"]))
        reuse = bool(job.input_data.get("reuse"))
        for _ in range(int(str(job.input_data["calls"]))):
            task = RayTask(function="time:sleep", args=[seconds], num_gpus=1, reuse_worker=reuse)
            await self.gpu(task)
        return None


@workflow.defn(name="bench-llm")
class BenchLlm(AgentWorkflow):
    """``calls`` sequential LLM calls."""

    @workflow.run
    async def run(self, job: AgentRunInput) -> JsonValue:
        for _ in range(int(str(job.input_data["calls"]))):
            await self.llm("Say hi.")
        return None

"""The durasumi side of the benchmark: the smallest agent that asks one form."""

from __future__ import annotations

from pydantic import JsonValue
from temporalio import workflow

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput

ANSWER = Form(id="answer", title="Answer", fields=[Field.text("answer", "Answer")])


@workflow.defn(name="bench-agent")
class BenchAgent(AgentWorkflow):
    """Asks one text field and returns it."""

    description = "Benchmark agent: one form, then done."

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        answer = await self.ask(ANSWER)
        return {"answer": answer["answer"]}

"""A paid test agent whose input says how it ends: ok, fail, or wait for a form."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput

HOLD = Form(id="hold", title="Hold", fields=[Field.text("text", "Anything", min=1)])


@workflow.defn(name="paid-echo")
class PaidEcho(AgentWorkflow):
    """Echoes its text (ok), fails (fail), or waits for a form first (wait)."""

    input_form = Form(
        id="echo",
        title="Echo",
        fields=[
            Field.text("text", "Text", min=1),
            Field.option("mode", "How it ends", ["ok", "fail", "wait"]),
        ],
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        data = self.validated_input(job)
        if data["mode"] == "fail":
            raise ApplicationError("failed on purpose", type="AgentFailed", non_retryable=True)
        if data["mode"] == "wait":
            await self.ask(HOLD)
        return f"echo: {data['text']}"

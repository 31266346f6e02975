"""An agent that hires another: it books the trip planner for its buyer.

It answers the planner's "who travels" form itself (from its own input) and relays the
budget form to its own buyer; the planner's price is metered into this job's usage, and
cancelling this job cancels the planner's sub-job.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import JsonValue
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form


@workflow.defn(name="trip-broker")
class TripBroker(AgentWorkflow):
    """Hires the trip planner for a destination and a party size."""

    description = "Books the trip planner for you (an agent hiring an agent)."
    input_form = Form(
        id="trip",
        title="Your trip",
        fields=[
            Field.text("destination", "Where to?", min=2, max=80),
            Field.number("adults", "Adults", min=1, max=9),
        ],
    )
    hire_budget_lovelace = 20_000_000  # at most 20 ADA on sub-agents per job

    @workflow.run
    async def run(self, job: AgentRunInput) -> JsonValue:
        data = self.validated_input(job)

        def answer(form: Form) -> dict[str, JsonValue] | None:
            if form.id == "travellers":
                return {"adults": data["adults"], "children": False}
            return None  # anything else: ask my own buyer

        await self.emit("hiring the trip planner")
        return await self.hire(
            "trip-planner",
            {"destination": data["destination"]},
            budget=10_000_000,
            timeout=timedelta(hours=2),
            on_form=answer,
        )

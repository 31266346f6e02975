"""An agent that hires the trip planner, for tests/test_hire.py."""

from __future__ import annotations

from datetime import timedelta

from pydantic import JsonValue
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Form


@workflow.defn(name="hirer")
class Hirer(AgentWorkflow):
    """Hires the trip planner: answers who travels itself, relays the budget to its buyer.

    Input: destination, budget (lovelace for the hire), times (hires in a row), auto
    (answer the budget form too).
    """

    hire_budget_lovelace = 8_000_000

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = job.input_data
        auto = bool(data.get("auto"))

        def answer(form: Form) -> dict[str, JsonValue] | None:
            if form.id == "travellers":
                return {"adults": 2, "children": False}
            return {"level": "backpacker"} if auto else None  # None: ask my own buyer

        plans: list[JsonValue] = []
        for _ in range(int(str(data.get("times", 1)))):
            plan = await self.hire(
                "trip-planner",
                {"destination": str(data["destination"])},
                budget=int(str(data.get("budget", 10_000_000))),
                timeout=timedelta(minutes=5),
                on_form=answer,
            )
            plans.append(plan)
        return {"plans": plans}

"""A multi-step conversation: two forms, the first with a conditional field.

The agent asks who travels (ages of children only when children come along), then the
budget, and composes a plan in an activity.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, JsonValue
from temporalio import activity, workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form, ShowWhen


class PlanRequest(BaseModel):
    destination: str
    travellers: int
    children_ages: str | None
    budget: str
    notes: str | None


class TripPlan(BaseModel):
    destination: str
    summary: str
    days: list[str]


@activity.defn
def compose_plan(req: PlanRequest) -> TripPlan:
    """Compose the plan (an activity: a real agent would call an LLM here)."""
    pace = {"backpacker": "hostels and trains", "comfort": "hotels", "luxury": "suites"}
    family = f", with children aged {req.children_ages}" if req.children_ages else ""
    days = [
        f"Day 1: arrive in {req.destination}, settle into {pace[req.budget]}",
        f"Day 2: explore {req.destination} on foot",
        "Day 3: a day trip" + (" chosen for the kids" if req.children_ages else ""),
    ]
    summary = f"{req.travellers} traveller(s) to {req.destination}{family}, {req.budget} budget"
    if req.notes:
        summary += f"; noted: {req.notes}"
    return TripPlan(destination=req.destination, summary=summary, days=days)


TRAVELLERS = Form(
    id="travellers",
    title="Who is travelling?",
    fields=[
        Field.number("adults", "Adults", min=1, max=9),
        Field.boolean("children", "Are children coming along?"),
        Field.text(
            "children_ages",
            "Children's ages (comma separated)",
            max=40,
            visible_when=ShowWhen(field="children", equals=True),
        ),
    ],
)

BUDGET = Form(
    id="budget",
    title="Budget",
    fields=[
        Field.option("level", "Budget level", ["backpacker", "comfort", "luxury"]),
        Field.textarea("notes", "Anything else?", max=500, optional=True),
    ],
)


@workflow.defn(name="trip-planner")
class TripPlanner(AgentWorkflow):
    """Plans a trip in a short conversation."""

    description = "Plans a three-day trip after asking who travels and the budget."
    input_form = Form(
        id="trip",
        title="Plan a trip",
        fields=[Field.text("destination", "Where to?", min=2, max=80)],
    )
    activities = (compose_plan,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        who = await self.ask(TRAVELLERS, timeout=timedelta(hours=1))
        await self.emit("travellers noted", {"adults": who["adults"]})
        budget = await self.ask(BUDGET, timeout=timedelta(hours=1))
        plan: TripPlan = await self.step(
            compose_plan,
            PlanRequest(
                destination=str(data["destination"]),
                travellers=int(str(who["adults"])) + _count(who.get("children_ages")),
                children_ages=_str(who.get("children_ages")),
                budget=str(budget["level"]),
                notes=_str(budget.get("notes")),
            ),
            timeout=timedelta(seconds=30),
        )
        return plan.model_dump(mode="json")


def _str(value: JsonValue) -> str | None:
    return str(value) if value not in (None, "") else None


def _count(ages: JsonValue) -> int:
    return len([a for a in str(ages).split(",") if a.strip()]) if ages else 0

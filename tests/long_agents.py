"""Agents that would outlive one workflow run: a tight emit loop and a long conversation."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form


@workflow.defn(name="chatter")
class Chatter(AgentWorkflow):
    """Emits ``events`` progress events in a loop, then returns how many.

    A pause every 1,000 events stands for the work between them (a real loop emits around
    steps); the job then applies a few thousand events per workflow task, not all at once.
    """

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, int]:
        count = int(str(job.input_data["events"]))
        for i in range(count):
            await self.emit(f"tick {i}", {"i": i})
            if i % 1_000 == 999:
                await workflow.sleep(timedelta(milliseconds=10))
        return {"emitted": count}


TURN = Form(id="turn", title="Next turn", fields=[Field.number("n", "A number")])


class Tally(BaseModel):
    """What a conversation carries from one run to the next."""

    turn: int = 0
    total: int = 0
    runs: list[str] = []


@workflow.defn(name="conversation")
class Conversation(AgentWorkflow):
    """Asks one form after another, ``turns`` times, and sums the answers.

    It checkpoints every turn, so its own workflow continues as new when its history is
    long; the result lists the run ids it went through.
    """

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, int]:
        turns = int(str(job.input_data["turns"]))
        tally = self.resumed(Tally) or Tally()
        tally.runs.append(workflow.info().run_id)
        while tally.turn < turns:
            answer = await self.ask(TURN)
            tally.turn += 1
            tally.total += int(str(answer["n"]))
            await self.checkpoint(tally)
        return {"turns": tally.turn, "total": tally.total, "agent_runs": len(tally.runs)}

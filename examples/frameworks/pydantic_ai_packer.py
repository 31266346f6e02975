"""A pydantic-ai agent inside a durasumi agent: a packing list, with a tool and a question.

The reasoning is a pydantic-ai ``Agent`` made durable by its own Temporal integration
(``TemporalDurability``): inside the workflow, each model request and each tool call runs
as a Temporal activity. Between two runs of it the durasumi agent asks the buyer a form
and emits progress; the tokens of both runs are metered into the job's usage.

The worker needs pydantic-ai's plugin besides durasumi's (``pip install
'durasumi[frameworks]'``); the agent declares it in ``plugins``, so ``durasumi worker
--agent durasumi.examples.frameworks.pydantic_ai_packer:PydanticAiPacker`` wires it.

The model is pydantic-ai's ``openai-chat:<model>``: the worker's ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` name the OpenAI-compatible endpoint (pydantic-ai's own convention).
"""

from __future__ import annotations

import importlib
from datetime import timedelta

from genai_prices.data_snapshot import get_snapshot
from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin, TemporalDurability
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form

__all__ = ["PACKER", "PydanticAiPacker", "forecast"]

MODEL = "openai-chat:gpt-4o-mini"  # Chat Completions: any OpenAI-compatible endpoint


def forecast(city: str) -> str:
    """The weather expected in ``city`` (a real agent would call a weather API here)."""
    return f"{city}: 4 °C, rain in the afternoon"


# pydantic-ai builds the model inside the workflow, on its first run: it loads its price
# table (genai-prices) and the OpenAI model module then. Done here, at import, outside the
# sandbox: inside the first workflow task they would stall it past Temporal's deadlock
# detector (2 s) on a busy machine, and lazily loaded openai modules may miss there.
get_snapshot()
importlib.import_module("pydantic_ai.models.openai")

PACKER = Agent(
    MODEL,
    name="packer",
    instructions="You write short packing lists. Check the forecast with the tool first.",
    tools=[forecast],
    capabilities=[TemporalDurability()],
)

EXTRAS = Form(
    id="extras",
    title="Anything else?",
    fields=[Field.text("extra", "Something you want to bring", max=200)],
)


@workflow.defn(name="pydantic-ai-packer")
class PydanticAiPacker(AgentWorkflow):
    """Writes a packing list with pydantic-ai, then adds what the buyer asks for."""

    description = "A packing list for a city, written by a pydantic-ai agent with a tool."
    input_form = Form(id="trip", title="Trip", fields=[Field.text("city", "City", min=2, max=80)])
    __pydantic_ai_agents__ = (PACKER,)  # PydanticAIPlugin registers its activities
    plugins = (PydanticAIPlugin(),)  # durasumi worker adds it to the agent's worker

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        city = str(self.validated_input(job)["city"])
        draft = await PACKER.run(f"What should I pack for {city}?")
        usage = draft.usage
        await self.meter(
            "pydantic-ai draft",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            llm_calls=usage.requests,
        )
        await self.emit("draft packing list", {"draft": draft.output})
        answer = await self.ask(EXTRAS, timeout=timedelta(hours=1))
        final = await PACKER.run(
            f"Add this to the list: {answer['extra']}", message_history=draft.all_messages()
        )
        usage = final.usage
        await self.meter(
            "pydantic-ai final",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            llm_calls=usage.requests,
        )
        return final.output

"""An OpenAI Agents SDK agent inside a durasumi agent: a packing list, with a tool and a question.

The reasoning is an ``agents.Agent`` run by Temporal's OpenAI Agents integration
(``temporalio.openai_agents``, the ``temporalio-openai-agents`` package): inside the
workflow, ``Runner.run`` sends each model call to an activity, and the ``forecast`` tool is
an activity too (``activity_as_tool``). Between two runs the durasumi agent asks the buyer
a form and emits progress; the tokens of both runs are metered into the job's usage.

The worker needs the integration's plugin besides durasumi's (``pip install
'durasumi[frameworks]'``), with a Chat Completions provider for OpenAI-compatible endpoints
(the worker's ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``); the agent declares it in
``plugins``, so ``durasumi worker --agent
durasumi.examples.frameworks.openai_agents_packer:OpenAiAgentsPacker`` wires it (on the
worker's client too: its payload converter is the one the SDK's models need). The SDK's
trace export to OpenAI is turned off here.
"""

from __future__ import annotations

from datetime import timedelta

from agents import Agent, Runner, TResponseInputItem, set_tracing_disabled
from agents.models.openai_provider import OpenAIProvider
from temporalio import activity, workflow
from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
from temporalio.openai_agents.workflow import activity_as_tool

from durasumi import AgentRunInput, AgentWorkflow, Field, Form

__all__ = ["OpenAiAgentsPacker", "forecast"]

MODEL = "gpt-4o-mini"

set_tracing_disabled(True)  # the SDK would export every run's trace to OpenAI's servers


@activity.defn
async def forecast(city: str) -> str:
    """The weather expected in a city (a real agent would call a weather API here).

    Args:
        city: The city's name.
    """
    return f"{city}: 4 °C, rain in the afternoon"


EXTRAS = Form(
    id="extras",
    title="Anything else?",
    fields=[Field.text("extra", "Something you want to bring", max=200)],
)


def _packer() -> Agent:
    return Agent(
        name="packer",
        instructions="You write short packing lists. Check the forecast with the tool first.",
        model=MODEL,
        tools=[activity_as_tool(forecast, start_to_close_timeout=timedelta(seconds=30))],
    )


@workflow.defn(name="openai-agents-packer")
class OpenAiAgentsPacker(AgentWorkflow):
    """Writes a packing list with the OpenAI Agents SDK, then adds what the buyer asks for."""

    description = "A packing list for a city, written by an OpenAI Agents SDK agent with a tool."
    input_form = Form(id="trip", title="Trip", fields=[Field.text("city", "City", min=2, max=80)])
    activities = (forecast,)
    plugins = (
        OpenAIAgentsPlugin(
            model_params=ModelActivityParameters(start_to_close_timeout=timedelta(minutes=2)),
            model_provider=OpenAIProvider(use_responses=False),  # Chat Completions
        ),
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        city = str(self.validated_input(job)["city"])
        packer = _packer()
        draft = await Runner.run(packer, f"What should I pack for {city}?")
        await self._meter_run("openai-agents draft", draft)
        await self.emit("draft packing list", {"draft": str(draft.final_output)})
        answer = await self.ask(EXTRAS, timeout=timedelta(hours=1))
        more: TResponseInputItem = {
            "role": "user",
            "content": f"Add this to the list: {answer['extra']}",
        }
        follow_up = [*draft.to_input_list(), more]
        final = await Runner.run(packer, follow_up)
        await self._meter_run("openai-agents final", final)
        return str(final.final_output)

    async def _meter_run(self, label: str, run: object) -> None:
        usage = run.context_wrapper.usage  # type: ignore[attr-defined]
        await self.meter(
            label,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            llm_calls=usage.requests,
        )

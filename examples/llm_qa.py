"""Ask the buyer a question with a form, ask the LLM, return the answer.

Needs an LLM on the worker (DURASUMI_LLM_BASE_URL, DURASUMI_LLM_API_KEY,
DURASUMI_LLM_MODEL); without one the job fails at the LLM call with a message naming
those settings. The tokens the call used show up in the job's usage.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import JsonValue
from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form

QUESTION = Form(
    id="question",
    title="What would you like to know?",
    fields=[
        Field.textarea("question", "Your question", min=3, max=2000),
        Field.option("length", "Answer length", ["short", "detailed"], optional=True),
    ],
)

SYSTEM = "You are a careful assistant. Say so when you do not know."


@workflow.defn(name="llm-qa")
class LlmQa(AgentWorkflow):
    """One question, one LLM answer."""

    description = "Answers your question with the platform's LLM (needs DURASUMI_LLM_* settings)."
    needs = frozenset({"llm"})
    input_form = Form(
        id="start",
        title="Topic",
        fields=[Field.text("topic", "Topic (optional)", optional=True, max=200)],
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        answer = await self.ask(QUESTION, timeout=timedelta(hours=1))
        detailed = answer.get("length") == "detailed"
        topic = f" The topic is {data['topic']}." if data.get("topic") else ""
        await self.emit("asking the LLM")
        reply = await self.llm(
            str(answer["question"]),
            system=SYSTEM + topic + (" Answer in detail." if detailed else " Answer briefly."),
            max_tokens=800 if detailed else 200,
        )
        return {
            "question": answer["question"],
            "answer": reply.text,
            "model": reply.model,
            "tokens": {"in": reply.input_tokens, "out": reply.output_tokens},
        }

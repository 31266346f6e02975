"""Agent frameworks inside durasumi agents: pydantic-ai and the OpenAI Agents SDK.

Each example agent's framework runs its model requests and tool calls as Temporal
activities (read back from the agent workflow's history), against the loopback
OpenAI-compatible server (tests/fake_llm.py) on the real Chat Completions wire protocol;
``ask``/``emit`` work between the framework's runs; the tokens land in the job's usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from durasumi.client import jobs
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import EventKind, JobStatus, Submission
from tests.conftest import Stack
from tests.fake_llm import FakeLLM, Reply


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    # Both frameworks' OpenAI clients read the endpoint from the worker's environment.
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield server
    await server.stop()


async def activity_types(stack: Stack, job_id: str) -> list[str]:
    """The activities the agent workflow scheduled, in order."""
    handle = stack.client.get_workflow_handle(child_workflow_id(job_id))
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.event_type is EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def run_with_a_question(
    stack: Stack, agent: str, input_data: dict[str, Any], answer: dict[str, Any]
) -> jobs.JobView:
    started = await stack.start(agent, input_data)
    try:
        waiting = await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    except AssertionError:
        view = await jobs.job_view(stack.client, started.job_id)
        raise AssertionError(f"{agent} job {view.status.value}: {view.error}") from None
    assert waiting.pending_form is not None
    events = await jobs.job_events(stack.client, started.job_id)
    assert any(e.kind is EventKind.PROGRESS for e in events)  # emit() between the runs
    await jobs.submit_form(
        stack.client,
        started.job_id,
        Submission(request_id=waiting.pending_form.request_id, values=answer),
    )
    return await stack.wait_for(started.job_id, JobStatus.COMPLETED)


def tool_result_sent(fake: FakeLLM, text: str) -> bool:
    """Whether a request carried a tool message with ``text`` (the tool's answer)."""
    return any(
        m.get("role") == "tool" and text in json.dumps(m.get("content"), ensure_ascii=False)
        for seen in fake.requests
        for m in seen.body.get("messages", [])
    )


async def test_pydantic_ai_agent_with_a_tool(stack: Stack, fake: FakeLLM) -> None:
    from durasumi.examples.frameworks.pydantic_ai_packer import PydanticAiPacker

    fake.push(
        Reply.tool_call("forecast", {"city": "Oslo"}, input_tokens=30, output_tokens=5),
        Reply.ok("Coat, umbrella.", input_tokens=50, output_tokens=4),
        Reply.ok("Coat, umbrella, camera.", input_tokens=70, output_tokens=6),
    )
    async with stack.serving([PydanticAiPacker]):  # agent_worker, as `durasumi worker` builds
        done = await run_with_a_question(
            stack, "pydantic-ai-packer", {"city": "Oslo"}, {"extra": "camera"}
        )
        kinds = await activity_types(stack, done.job_id)
    assert done.result == "Coat, umbrella, camera."
    assert tool_result_sent(fake, "Oslo: 4 °C, rain in the afternoon")
    assert len(fake.requests) == 3
    # Model requests and the tool call ran as activities of the agent workflow.
    assert sum("model" in k.lower() and "request" in k.lower() for k in kinds) == 3, kinds
    assert sum("tool" in k.lower() for k in kinds) == 1, kinds
    assert (done.usage.input_tokens, done.usage.output_tokens) == (150, 15)
    assert done.usage.llm_calls == 3


async def test_openai_agents_sdk_agent_with_a_tool(stack: Stack, fake: FakeLLM) -> None:
    from durasumi.examples.frameworks.openai_agents_packer import OpenAiAgentsPacker

    fake.push(
        Reply.tool_call("forecast", {"city": "Oslo"}, input_tokens=30, output_tokens=5),
        Reply.ok("Coat, umbrella.", input_tokens=50, output_tokens=4),
        Reply.ok("Coat, umbrella, camera.", input_tokens=70, output_tokens=6),
    )
    async with stack.serving([OpenAiAgentsPacker]):
        done = await run_with_a_question(
            stack, "openai-agents-packer", {"city": "Oslo"}, {"extra": "camera"}
        )
        kinds = await activity_types(stack, done.job_id)
    assert done.result == "Coat, umbrella, camera."
    assert tool_result_sent(fake, "Oslo: 4 °C, rain in the afternoon")
    assert len(fake.requests) == 3
    assert kinds.count("forecast") == 1, kinds
    assert sum("model" in k.lower() for k in kinds) == 3, kinds
    assert (done.usage.input_tokens, done.usage.output_tokens) == (150, 15)
    assert done.usage.llm_calls == 3

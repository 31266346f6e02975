"""The LLM activity in real jobs: the real openai client against a loopback server.

Every test runs a JobWorkflow on the real dev server whose agent calls self.llm(); the
activity streams from tests/fake_llm.py, which plays scripted replies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
from temporalio.api.enums.v1 import EventType

from durasumi.activities.llm import LlmActivities, LlmSettings
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.examples.llm_qa import LlmQa
from durasumi.workers.settings import Settings
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import CancelRequest, EventKind, JobStatus, Submission
from tests.ai_agents import LlmProbe
from tests.conftest import Stack
from tests.fake_llm import FakeLLM, Reply


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def llm_worker(stack: Stack, fake: FakeLLM, idle: float = 1.0) -> AbstractAsyncContextManager[None]:
    """An agent worker for the LLM agents whose LLM is the fake server."""
    settings = LlmSettings(
        base_url=fake.url, api_key="sk-test", model="fake-model", idle_timeout=idle
    )
    return stack.serving([LlmProbe, LlmQa], llm=LlmActivities(settings))


async def activity_attempts(stack: Stack, job_id: str) -> list[int]:
    """The attempt number of every LLM activity the agent ran (from its history)."""
    handle = stack.client.get_workflow_handle(child_workflow_id(job_id))
    return [
        e.activity_task_started_event_attributes.attempt
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]


async def test_example_asks_a_form_then_the_llm(stack: Stack, fake: FakeLLM) -> None:
    fake.push(Reply.ok("Lisbon is the capital.", input_tokens=31, output_tokens=6))
    async with llm_worker(stack, fake):
        started = await stack.start("llm-qa", {"topic": "geography"})
        await stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
        await jobs.submit_form(
            stack.client,
            started.job_id,
            Submission(values={"question": "What is the capital of Portugal?"}),
        )
        result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.result == {
        "question": "What is the capital of Portugal?",
        "answer": "Lisbon is the capital.",
        "model": "fake-model",
        "tokens": {"in": 31, "out": 6},
    }
    sent = fake.requests[0].body
    assert sent["model"] == "fake-model" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "geography" in sent["messages"][0]["content"]
    view = await jobs.job_view(stack.client, started.job_id)
    assert (view.usage.input_tokens, view.usage.output_tokens, view.usage.llm_calls) == (31, 6, 1)


async def test_usage_is_summed_per_job(stack: Stack, fake: FakeLLM) -> None:
    fake.push(Reply.ok("a", 10, 5), Reply.ok("b", 7, 3), Reply.ok("c", 1, 1))
    async with llm_worker(stack, fake):
        started = await stack.start("llm-probe", {"calls": 3})
        result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.result == {"texts": ["a", "b", "c"]}
    assert result.detail["usage"] == {
        "input_tokens": 18,
        "output_tokens": 9,
        "gpu_seconds": 0.0,
        "llm_calls": 3,
        "gpu_calls": 0,
        "hires": 0,
        "hire_lovelace": 0,
    }
    view = await jobs.job_view(stack.client, started.job_id)
    assert view.usage.input_tokens == 18 and view.usage.output_tokens == 9
    usage_events = [
        e for e in await jobs.job_events(stack.client, started.job_id) if e.kind is EventKind.USAGE
    ]
    assert [e.data["input_tokens"] for e in usage_events] == [10, 7, 1]
    body = fake.requests[0].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50


async def test_rate_limit_and_server_errors_are_retried(stack: Stack, fake: FakeLLM) -> None:
    fake.push(
        Reply.error(429, "slow down", retry_after="2"),
        Reply.error(503, "overloaded"),
        Reply.ok("fine"),
    )
    async with llm_worker(stack, fake):
        started = await stack.start("llm-probe", {"calls": 1})
        result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.result == {"texts": ["fine"]}
    first, second, third = (r.at for r in fake.requests)
    # Retry-After: 2 wins over the policy's 0.2 s interval; the 503 (no Retry-After) gets 0.2 s.
    assert second - first >= 1.9
    assert third - second < 1.5
    assert await activity_attempts(stack, started.job_id) == [3]


async def test_a_silent_provider_is_noticed_and_retried(stack: Stack, fake: FakeLLM) -> None:
    fake.push(Reply.stall(chunks=1), Reply.hang(), Reply.ok("at last"))
    async with llm_worker(stack, fake, idle=1.0):
        started = await stack.start("llm-probe", {"calls": 1})
        result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.result == {"texts": ["at last"]}
    # The client gave up on the silent streams and closed their connections.
    await fake.wait_for(lambda f: [r.outcome for r in f.requests[:2]] == ["disconnected"] * 2, 10)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "model 'gpt-9' does not exist"),
        (401, "Incorrect API key provided"),
        (403, "Project does not have access"),
        (404, "The model `x` was not found"),
    ],
)
async def test_a_refused_request_fails_the_job_with_the_providers_message(
    stack: Stack, fake: FakeLLM, status: int, message: str
) -> None:
    fake.push(Reply.error(status, message))
    async with llm_worker(stack, fake):
        started = await stack.start("llm-probe", {"calls": 1})
        result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error == f"LlmRequestRejected: the LLM provider answered {status}: {message}"
    assert len(fake.requests) == 1  # never retried


async def test_cancel_mid_call_aborts_the_http_request(stack: Stack, fake: FakeLLM) -> None:
    fake.push(Reply.hang())
    async with llm_worker(stack, fake, idle=120):
        started = await stack.start("llm-probe", {"calls": 2})
        await fake.wait_for(lambda f: len(f.requests) == 1)
        await jobs.cancel_job(stack.client, started.job_id, CancelRequest(reason="too slow"))
        result = await job_result(started.handle)
        # The activity saw the cancellation and closed the connection: the request is gone.
        await fake.wait_for(lambda f: f.requests[0].outcome == "disconnected", 10)
    assert result.status is JobStatus.CANCELLED
    assert len(fake.requests) == 1  # the second call never started
    ended = fake.requests[0].ended
    assert ended is not None


async def test_structured_output_is_validated(stack: Stack, fake: FakeLLM) -> None:
    fake.push(Reply.ok('{"country": "Portugal", "capital": "Lisbon"}'), Reply.ok("Lisbon, I think"))
    async with llm_worker(stack, fake):
        good = await job_result(
            (await stack.start("llm-probe", {"calls": 1, "structured": True})).handle
        )
        bad = await job_result(
            (await stack.start("llm-probe", {"calls": 1, "structured": True})).handle
        )
    assert good.result == {"country": "Portugal", "capital": "Lisbon"}
    schema = fake.requests[0].body["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["name"] == "Capital"
    assert schema["json_schema"]["schema"]["required"] == ["country", "capital"]
    assert bad.status is JobStatus.FAILED
    assert bad.error is not None and bad.error.startswith(
        "LlmInvalidOutput: the model's answer does not fit Capital"
    )
    assert bad.detail["usage"]["output_tokens"] == 7  # tokens of a refused answer still count


async def test_without_an_llm_the_job_fails_naming_the_settings(stack: Stack) -> None:
    async with stack.serving([LlmProbe]):  # the worker's default: no LLM configured
        started = await stack.start("llm-probe", {"calls": 1})
        result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and result.error.startswith("LlmNotConfigured:")
    for setting in ("DURASUMI_LLM_BASE_URL", "DURASUMI_LLM_API_KEY", "DURASUMI_LLM_MODEL"):
        assert setting in result.error


def test_worker_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURASUMI_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("DURASUMI_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("DURASUMI_LLM_MODEL", "llama3.2")
    monkeypatch.setenv("RAY_ADDRESS", "ray-head:6379")
    monkeypatch.setenv("DURASUMI_RAY_NUM_GPUS", "2")
    settings = Settings()
    llm = settings.llm_settings()
    assert (
        llm.configured and llm.model == "llama3.2" and llm.base_url == "http://127.0.0.1:11434/v1"
    )
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)
    ray_settings = settings.ray_settings()
    assert ray_settings.address == "ray-head:6379" and not ray_settings.local
    assert ray_settings.local_num_gpus == 2
    monkeypatch.setenv("DURASUMI_RAY_ADDRESS", "10.0.0.5:6379")  # the durasumi name wins
    assert Settings().ray_address == "10.0.0.5:6379"
    for name in (
        "DURASUMI_LLM_BASE_URL",
        "DURASUMI_LLM_API_KEY",
        "RAY_ADDRESS",
        "DURASUMI_RAY_ADDRESS",
    ):
        monkeypatch.delenv(name)
    assert not Settings().llm_settings().configured and Settings().ray_settings().local

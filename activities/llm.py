"""The LLM activity: OpenAI-compatible Chat Completions through the ``openai`` SDK.

Any provider that speaks the Chat Completions protocol works (OpenAI, vLLM, Ollama, a
LiteLLM proxy): the worker passes :class:`LlmSettings` (base URL, API key, default model).

* The call always streams, though the agent gets the whole answer: a stream lets the
  activity heartbeat while tokens arrive and notice a provider that stopped sending (no
  byte for ``idle_timeout`` seconds fails the attempt, and Temporal retries it).
* Temporal owns retries (the SDK's own are off): 429, 408, 409, 5xx, connection errors and
  timeouts are retryable, honouring the provider's Retry-After through
  ``next_retry_delay``; any other 4xx (400, 401, 403, 404, 422...) is non-retryable and
  carries the provider's message.
* Cancelling the activity (the job was cancelled) closes the HTTP stream at once.
* Token usage comes back in the result (``stream_options.include_usage``), and the agent
  reports it to the job.

``openai`` is imported on the first call, not with this module: the workflow sandbox, the
CLI and the API import this module for its models and activity references, and importing
openai costs about half a second.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, JsonValue, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.activities.heartbeat import heartbeating

if TYPE_CHECKING:
    from openai import APIStatusError, AsyncOpenAI

__all__ = [
    "LLM_INVALID_OUTPUT",
    "LLM_NOT_CONFIGURED",
    "LLM_PROVIDER_ERROR",
    "LLM_RATE_LIMITED",
    "LLM_REQUEST_REJECTED",
    "LLM_TIMEOUT",
    "LLM_UNAVAILABLE",
    "ChatMessage",
    "LlmActivities",
    "LlmRequest",
    "LlmResult",
    "LlmSettings",
]

log = logging.getLogger(__name__)

# ApplicationError types: clients and agents tell failures apart by these, never by text.
LLM_NOT_CONFIGURED = "LlmNotConfigured"  # non-retryable
LLM_REQUEST_REJECTED = "LlmRequestRejected"  # non-retryable: a 4xx other than 408/409/429
LLM_INVALID_OUTPUT = "LlmInvalidOutput"  # non-retryable: structured output did not validate
LLM_RATE_LIMITED = "LlmRateLimited"  # retryable (429)
LLM_PROVIDER_ERROR = "LlmProviderError"  # retryable (5xx, 408, 409, an error inside the stream)
LLM_TIMEOUT = "LlmTimeout"  # retryable (nothing received for idle_timeout seconds)
LLM_UNAVAILABLE = "LlmUnavailable"  # retryable (connection refused or dropped)

NOT_CONFIGURED_MESSAGE = (
    "no LLM is configured for this agent's worker: set DURASUMI_LLM_BASE_URL (an "
    "OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama), "
    "DURASUMI_LLM_API_KEY and DURASUMI_LLM_MODEL, then restart `durasumi worker`"
)

# Statuses a retry can cure, as the OpenAI SDK itself treats them.
_RETRYABLE_STATUS = {408, 409, 429}
# A provider asking for more than this is treated as asking for this.
_MAX_RETRY_AFTER = timedelta(hours=1)


class LlmSettings(BaseModel):
    """Where the worker's LLM is; built by the worker from its settings, never from env here.

    Example:
        >>> LlmSettings(base_url="http://127.0.0.1:11434/v1", model="llama3.2").configured
        True
    """

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = Field(None, description="Default model when a call names none.")
    idle_timeout: float = Field(
        120.0, gt=0, description="Seconds without a byte from the provider before an attempt fails."
    )
    heartbeat_interval: float = Field(1.0, gt=0)

    @property
    def configured(self) -> bool:
        """Whether an LLM endpoint was given (a base URL, or an API key for OpenAI itself)."""
        return self.base_url is not None or self.api_key is not None


class ChatMessage(BaseModel):
    """One message of a chat."""

    role: Literal["system", "user", "assistant"]
    content: str


class LlmRequest(BaseModel):
    """One Chat Completions call.

    ``json_schema`` asks for structured output (``response_format`` ``json_schema``); the
    agent validates the answer against its pydantic model.
    """

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    json_schema: dict[str, JsonValue] | None = None
    schema_name: str = Field("output", pattern=r"^[A-Za-z0-9_-]{1,64}$")


class LlmResult(BaseModel):
    """The whole answer of one call, with its token usage."""

    text: str
    model: str
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: bool = Field(
        True, description="False when the provider sent no usage (tokens then count as 0)."
    )


class LlmActivities:
    """The LLM activity, built once per worker with its settings (and optionally a client).

    Example:
        >>> llm = LlmActivities(LlmSettings(base_url="http://127.0.0.1:8000/v1", model="m"))
        >>> worker = Worker(client, task_queue="q", activities=[llm.chat])  # doctest: +SKIP
    """

    def __init__(self, settings: LlmSettings, client: AsyncOpenAI | None = None) -> None:
        self.settings = settings
        self._client = client

    @activity.defn(name="durasumi.llm.chat")
    async def chat(self, request: LlmRequest) -> LlmResult:
        """Run one Chat Completions call to the end, streaming internally.

        Raises:
            ApplicationError: typed as the ``LLM_*`` constants of this module.
        """
        import openai

        model = request.model or self.settings.model
        if not self.settings.configured:
            raise ApplicationError(
                NOT_CONFIGURED_MESSAGE, type=LLM_NOT_CONFIGURED, non_retryable=True
            )
        if model is None:
            raise ApplicationError(
                "no model named: pass model= to llm() or set DURASUMI_LLM_MODEL on the worker",
                type=LLM_NOT_CONFIGURED,
                non_retryable=True,
            )
        stream = _Stream()
        try:
            async with heartbeating(self.settings.heartbeat_interval, stream.progress):
                return await stream.run(self._openai(), model, request, self.settings.idle_timeout)
        except openai.APIStatusError as err:
            raise _status_failure(err) from None
        except openai.APITimeoutError:
            raise ApplicationError(
                f"the provider sent nothing for {self.settings.idle_timeout:g} s "
                f"(after {stream.chunks} chunk(s))",
                type=LLM_TIMEOUT,
            ) from None
        except openai.APIConnectionError as err:
            raise ApplicationError(
                f"cannot reach the LLM provider: {err}", type=LLM_UNAVAILABLE
            ) from None
        except openai.APIError as err:  # an error event inside the stream
            raise ApplicationError(
                f"the provider failed mid-stream: {err.message}", type=LLM_PROVIDER_ERROR
            ) from None

    async def close(self) -> None:
        """Close the HTTP connections of the client this object made."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            key = self.settings.api_key
            self._client = AsyncOpenAI(
                base_url=self.settings.base_url,
                # Local servers (Ollama, vLLM) need no key, but the SDK insists on one.
                api_key=key.get_secret_value() if key else "unused",
                max_retries=0,  # Temporal retries, with backoff and Retry-After
            )
        return self._client


class _Stream:
    """One streamed call, collecting the text and the usage chunk."""

    def __init__(self) -> None:
        self.chunks = 0
        self.started = time.monotonic()

    def progress(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "seconds": round(time.monotonic() - self.started, 1)}

    async def run(
        self, client: AsyncOpenAI, model: str, request: LlmRequest, idle_timeout: float
    ) -> LlmResult:
        extra: dict[str, Any] = {}
        if request.temperature is not None:
            extra["temperature"] = request.temperature
        if request.max_tokens is not None:
            extra["max_tokens"] = request.max_tokens
        if request.json_schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.json_schema},
            }
        parts: list[str] = []
        finish: str | None = None
        usage: Any = None
        answered_by = model
        # Optional parameters go in only when set (a null is refused by some servers); the
        # SDK's overloads cannot see through **extra.
        response = await client.chat.completions.create(  # type: ignore[call-overload]
            model=model,
            messages=[m.model_dump() for m in request.messages],
            stream=True,
            stream_options={"include_usage": True},
            # A float timeout bounds each read, so it measures silence, not the whole answer.
            timeout=idle_timeout,
            **extra,
        )
        # Leaving this block, normally or by cancellation, closes the HTTP response.
        async with response as chunks:
            async for chunk in chunks:
                self.chunks += 1
                answered_by = chunk.model or answered_by
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        if usage is None:
            log.warning("provider sent no token usage for model %s", answered_by)
        return LlmResult(
            text="".join(parts),
            model=answered_by,
            finish_reason=finish,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            usage_reported=usage is not None,
        )


def _status_failure(err: APIStatusError) -> ApplicationError:
    """An HTTP error status as a typed ApplicationError, retryable or not."""
    status = err.status_code
    body = err.body
    message = body.get("message") if isinstance(body, dict) else None
    detail = message if isinstance(message, str) and message else err.message
    text = f"the LLM provider answered {status}: {detail}"
    if status == 429:
        return ApplicationError(
            text, type=LLM_RATE_LIMITED, next_retry_delay=_retry_after(err.response.headers)
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        return ApplicationError(
            text, type=LLM_PROVIDER_ERROR, next_retry_delay=_retry_after(err.response.headers)
        )
    return ApplicationError(text, {"status": status}, type=LLM_REQUEST_REJECTED, non_retryable=True)


def _retry_after(headers: Any) -> timedelta | None:
    """The delay a provider asked for (retry-after-ms, or Retry-After in seconds or a date)."""
    delay: float | None = None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            delay = float(ms) / 1000
        elif (value := headers.get("retry-after")) is not None:
            try:
                delay = float(value)
            except ValueError:
                delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None
    if delay is None:
        return None
    return min(timedelta(seconds=max(delay, 0.0)), _MAX_RETRY_AFTER)

"""What every command needs, built once from the settings at the CLI's edge.

Nothing heavy is imported here at module level: the settings (pydantic-settings), the
Temporal SDK and the HTTP API client are loaded by the first command that uses them, so
``durasumi --help`` and a quick read (``status`` over the HTTP API) stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer

from durasumi.cli.output import BAD_INPUT, FAILURE, fail

if TYPE_CHECKING:
    from temporalio.client import Client, Interceptor
    from temporalio.runtime import Runtime

    from durasumi.client.temporal_http import TemporalHttp, TemporalHttpError
    from durasumi.db.registry import AgentRecord, Registry
    from durasumi.workers.settings import Settings

__all__ = ["Ctx", "get_ctx", "run"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Ctx:
    """The global options, and the settings and clients made from them on first use."""

    address: str | None = None
    namespace: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """The settings (DURASUMI_*), with ``--address``/``--namespace`` over them."""
        if self._settings is None:
            self._settings = _read_settings(self.address, self.namespace)
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    async def client(
        self, *, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()
    ) -> Client:
        """The Temporal client, connected on first use (with ``runtime`` and ``interceptors``)."""
        from durasumi.client.connect import connect

        if self._client is None:
            try:
                self._client = await connect(
                    self.settings, runtime=runtime, interceptors=interceptors
                )
            except RuntimeError as err:  # the SDK's connect failure carries no RPC status
                fail(
                    f"cannot reach Temporal: {err}. Is `durasumi dev` running?", error="unreachable"
                )
        return self._client

    def http(self) -> TemporalHttp | None:
        """Temporal's HTTP API client, when one is configured (see ``http_api_for``)."""
        from durasumi.client.quick_settings import quick_read_settings
        from durasumi.client.temporal_http import TemporalHttp, http_api_for

        if self._settings is None:  # a quick read need not build the full settings
            quick = quick_read_settings(self.address, self.namespace)
            if quick is not None:
                api = http_api_for(quick)
                return TemporalHttp(api, quick.codec_keyring()) if api else None
        api = http_api_for(self.settings)
        return TemporalHttp(api, self.settings.codec_keyring()) if api else None

    def read(
        self,
        over_http: Callable[[TemporalHttp], T],
        over_grpc: Callable[[Client], Awaitable[T]],
    ) -> T:
        """One read: over the HTTP API where there is one, else with the gRPC client.

        A configured HTTP API that does not answer as Temporal (the dev stack of an older
        durasumi, another program on the port) falls back to gRPC, which has the last word
        on whether Temporal is reachable.
        """
        from durasumi.client.temporal_http import (
            HttpApiUnavailable,
            PayloadError,
            TemporalHttpError,
        )

        api = self.http()
        if api is not None:
            try:
                return over_http(api)
            except HttpApiUnavailable:
                pass
            except TemporalHttpError as err:
                _http_failure(err)
            except PayloadError as err:
                fail(f"cannot read the answer: {err}", FAILURE, error="payload")

        @run
        async def go() -> T:
            return await over_grpc(await self.client())

        return go()

    @property
    def registry(self) -> Registry:
        """The agent registry in the app database (the platform extra)."""
        from durasumi.db.registry import Registry

        return Registry(self.settings.db_url)

    def agent(self, name: str) -> AgentRecord:
        """A registered agent, or a bad-input error listing the known ones."""
        record = self.registry.get(name)
        if record is None:
            known = ", ".join(a.name for a in self.registry.all()) or "none registered yet"
            fail(f"unknown agent {name!r} (known: {known})", BAD_INPUT, error="unknown_agent")
        return record


def _read_settings(address: str | None, namespace: str | None) -> Settings:
    from pydantic import ValidationError

    from durasumi.workers.settings import Settings

    overrides: dict[str, Any] = {"temporal_address": address, "temporal_namespace": namespace}
    try:
        return Settings(**{k: v for k, v in overrides.items() if v})
    except ValidationError as err:
        fail(f"invalid settings: {_one_line(err)}", BAD_INPUT, error="invalid_settings")


def get_ctx(typer_ctx: typer.Context) -> Ctx:
    """The Ctx the main callback stored (a fresh one when a command runs on its own)."""
    root = typer_ctx.find_root()
    if not isinstance(root.obj, Ctx):
        root.obj = Ctx()
    return root.obj


def run(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body, turning Temporal and validation errors into exit codes."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        import asyncio  # (here: the quick reads never need an event loop)

        try:
            return asyncio.run(fn(*args, **kwargs))
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # known types become exit codes, the rest propagates
            _exit_for(err)

    return wrapper


def _exit_for(err: Exception) -> NoReturn:
    """The exit for an error from a command's body; unknown errors propagate.

    The SDK and the workflow models are only consulted if the command loaded them: an
    error of a type never imported cannot be one of theirs.
    """
    forms = sys.modules.get("durasumi.workflows.forms")
    if forms is not None and isinstance(err, forms.FormValidationError):
        details = [f"{e.field}: {e.message}" for e in err.errors]
        fail("input refused", BAD_INPUT, details, error="invalid_input")
    keyring = sys.modules.get("durasumi.workers.keyring")
    if keyring is not None and isinstance(err, keyring.CodecError):
        fail(str(err), FAILURE, error="payload")
    if "temporalio.client" in sys.modules:
        from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
        from temporalio.exceptions import ApplicationError
        from temporalio.service import RPCError

        if isinstance(err, WorkflowUpdateFailedError):
            cause = err.cause
            if isinstance(cause, ApplicationError):
                from durasumi.workflows.errors import field_errors_from_details

                errors = field_errors_from_details(cause.details)
                details = [f"{e.field}: {e.message}" for e in errors]
                fail(cause.message, BAD_INPUT, details, error="refused")
            fail(f"update failed: {cause or err}", FAILURE, error="update_failed")
        if isinstance(err, WorkflowQueryFailedError):
            fail(f"the job could not answer: {err}", FAILURE, error="query_failed")
        if isinstance(err, RPCError):
            _rpc_failure(err)
    raise err


def _rpc_failure(err: Any) -> NoReturn:
    from temporalio.service import RPCStatusCode

    _status_failure(int(err.status), err.message, RPCStatusCode)


def _http_failure(err: TemporalHttpError) -> NoReturn:
    from durasumi.client.temporal_http import StatusCode

    _status_failure(err.code, err.message, StatusCode)


def _status_failure(code: int, message: str, codes: Any) -> NoReturn:
    if code == codes.NOT_FOUND:
        fail(f"not found: {message}", BAD_INPUT, error="not_found")
    if code == codes.INVALID_ARGUMENT:
        fail(f"Temporal refused the request: {message}", BAD_INPUT, error="invalid_argument")
    if code == codes.UNAVAILABLE:
        fail(f"cannot reach Temporal ({message}): is `durasumi dev` running?", error="unreachable")
    if code == codes.DEADLINE_EXCEEDED:  # a query waits for a worker that never came
        fail(
            f"no answer in time ({message}): is Temporal up, with a platform worker "
            "(`durasumi dev` or `durasumi worker --platform`)?",
            error="timeout",
        )
    fail(f"Temporal refused the request: {message}", FAILURE, error="refused")


def _one_line(err: Any) -> str:
    # A whole-model check (the codec keyring) has no field location.
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
        for e in err.errors()
    )

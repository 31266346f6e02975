"""What every command needs, built once from the settings at the CLI's edge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client, Interceptor, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from durasumi.cli.output import BAD_INPUT, FAILURE, fail
from durasumi.client.connect import connect
from durasumi.workers.settings import Settings
from durasumi.workflows.errors import field_errors_from_details
from durasumi.workflows.forms import FormValidationError

if TYPE_CHECKING:
    from durasumi.db.registry import AgentRecord, Registry

__all__ = ["Ctx", "get_ctx", "run"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Ctx:
    """Settings plus lazily made clients."""

    settings: Settings
    _client: Client | None = field(default=None, repr=False)

    async def client(
        self, *, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] = ()
    ) -> Client:
        """The Temporal client, connected on first use (with ``runtime`` and ``interceptors``)."""
        if self._client is None:
            try:
                self._client = await connect(
                    self.settings, runtime=runtime, interceptors=interceptors
                )
            except RuntimeError as err:  # the SDK's connect failure carries no RPC status
                fail(f"cannot reach Temporal: {err}. Is `durasumi dev` running?", FAILURE)
        return self._client

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
            fail(f"unknown agent {name!r} (known: {known})", BAD_INPUT)
        return record


def get_ctx(typer_ctx: typer.Context) -> Ctx:
    """The Ctx the main callback stored."""
    ctx = typer_ctx.find_root().obj
    if not isinstance(ctx, Ctx):
        try:
            ctx = Ctx(Settings())
        except ValidationError as err:
            fail(f"invalid settings: {_one_line(err)}", BAD_INPUT)
        typer_ctx.find_root().obj = ctx
    return ctx


def run(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body, turning Temporal and validation errors into exit codes."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except FormValidationError as err:
            fail("input refused", BAD_INPUT, [f"{e.field}: {e.message}" for e in err.errors])
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                errors = field_errors_from_details(cause.details)
                fail(cause.message, BAD_INPUT, [f"{e.field}: {e.message}" for e in errors])
            fail(f"update failed: {cause or err}", FAILURE)
        except RPCError as err:
            _rpc_failure(err)

    return wrapper


def _rpc_failure(err: RPCError) -> NoReturn:
    if err.status == RPCStatusCode.NOT_FOUND:
        fail(f"not found: {err.message}", BAD_INPUT)
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        fail(f"cannot reach Temporal ({err.message}): is `durasumi dev` running?", FAILURE)
    fail(f"Temporal refused the request: {err.message}", FAILURE)


def _one_line(err: ValidationError) -> str:
    # A whole-model check (the codec keyring) has no field location.
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
        for e in err.errors()
    )

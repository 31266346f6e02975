r"""Request bodies parsed as strict JSON, so hostile text is a 4xx and never reaches a route.

Starlette parses bodies with ``json.loads``, which accepts what later breaks a request
half-way: lone UTF-16 surrogates (``"\ud800"`` decodes to a ``str`` that no UTF-8 encoder,
hash or Temporal payload can take), nesting deep enough to exhaust Python's recursion, and
``NaN``/``Infinity``. pydantic's own parser refuses the first two (it stops at a nesting depth
of about 200, far beyond any form) and, with ``allow_inf_nan=False``, the third; numbers that
overflow to infinity (``1e400``) are refused here as well. A refused body raises
``json.JSONDecodeError``, which FastAPI turns into a ``json_invalid`` validation error, so it
answers in the usual error shape (400 on MIP-003 input routes, 422 elsewhere).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["StrictJsonRequest", "StrictJsonRoute", "parse_strict_json"]


def parse_strict_json(body: bytes) -> Any:
    """Parse ``body`` as standard JSON: valid UTF-8, finite numbers, bounded nesting.

    Raises:
        json.JSONDecodeError: the body is not such JSON (the message says why and where).
    """
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as err:
        raise json.JSONDecodeError(str(err), body.decode(errors="replace"), 0) from None
    if not _finite(value):
        raise json.JSONDecodeError(
            "a number is too large to be finite", body.decode(errors="replace"), 0
        )
    return value


def _finite(value: Any) -> bool:
    # Iterative: the parser bounds the depth, but a walk needs no recursion at all.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


class StrictJsonRequest(Request):
    """A request whose ``json()`` is :func:`parse_strict_json`."""

    async def json(self) -> Any:
        """The body as strict JSON (parsed once)."""
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_strict_json(await self.body())
        return self._strict_json


class StrictJsonRoute(APIRoute):
    """A route that parses its JSON body strictly (FastAPI's custom request class pattern)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given a :class:`StrictJsonRequest`."""
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler

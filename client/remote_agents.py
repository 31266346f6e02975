"""Reading a remote MIP-003 agent: its /input_schema at registration, its /availability.

Used by ``POST /agents`` and ``durasumi add-remote`` (the input schema becomes the agent's
input form) and by :func:`durasumi.client.availability.availability` (the remote's health).
The jobs themselves are driven by the platform worker (``activities/remote.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from durasumi.workflows.forms import Form
from durasumi.workflows.schema_form import form_from_input_schema

__all__ = [
    "RemoteAgentError",
    "RemoteHealth",
    "input_form_of",
    "parse_header",
    "remote_health",
    "remote_url_problem",
]

# Token characters of an HTTP header name (RFC 9110).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class RemoteAgentError(ValueError):
    """A remote agent cannot be registered: unreachable, or no usable input schema."""


@dataclass(frozen=True)
class RemoteHealth:
    """What a remote agent's /availability says."""

    available: bool
    reason: str | None = None


def remote_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a remote agent's base URL (None: it can).

    Example:
        >>> remote_url_problem("ftp://agent.example") is not None
        True
    """
    parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        return "remote_url must be an http:// or https:// URL with a host"
    if parsed.query or parsed.fragment:
        return "remote_url must not carry a query or fragment"
    return None


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` (or ``Name=value``) as a header pair.

    Raises:
        ValueError: not a valid header.

    Example:
        >>> parse_header("Authorization: Bearer abc")
        ('Authorization', 'Bearer abc')
    """
    for sep in (":", "="):
        name, found, value = text.partition(sep)
        if found:
            break
    else:
        raise ValueError(f"header {text!r} is not NAME:VALUE")
    check_header(name.strip(), value.strip())
    return name.strip(), value.strip()


def check_header(name: str, value: str) -> None:
    """Raise ValueError unless ``name: value`` is a header httpx can send."""
    if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"header {name!r} has an invalid name or value")


async def input_form_of(
    url: str,
    headers: dict[str, str],
    *,
    name: str,
    timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Form:
    """The remote's GET /input_schema as the agent's input :class:`Form`.

    Raises:
        RemoteAgentError: unreachable, an error status, or a schema that makes no form.
    """
    data = await _get_json(url, "/input_schema", headers, timeout, transport)
    try:
        return form_from_input_schema(data, form_id="input", title=f"{name} input")
    except ValueError as err:
        raise RemoteAgentError(f"the remote agent's input_schema is unusable: {err}") from None


async def remote_health(
    url: str,
    headers: dict[str, str],
    *,
    timeout: float = 3.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RemoteHealth:
    """The remote's GET /availability: available only on 2xx with status "available"."""
    try:
        data = await _get_json(url, "/availability", headers, timeout, transport)
    except RemoteAgentError as err:
        return RemoteHealth(False, str(err))
    if data.get("status") != "available":
        message = data.get("message")
        return RemoteHealth(
            False, f"the remote agent says it is unavailable: {message or data.get('status')}"
        )
    return RemoteHealth(True)


async def _get_json(
    url: str,
    path: str,
    headers: dict[str, str],
    timeout: float,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, Any]:
    target = url.rstrip("/") + path
    try:
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
            answer = await http.get(target, headers=headers)
    except httpx.HTTPError as err:
        raise RemoteAgentError(
            f"cannot reach the remote agent at {target}: {type(err).__name__}"
        ) from None
    if answer.status_code >= 400:
        raise RemoteAgentError(
            f"the remote agent answered GET {path} with HTTP {answer.status_code}"
        )
    try:
        data = answer.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RemoteAgentError(f"the remote agent's GET {path} is not a JSON object")
    return data

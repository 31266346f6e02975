"""Temporal's HTTP API: quick reads for the CLI without importing the Temporal SDK.

``import temporalio.client`` alone takes longer than the CLI's budget for ``durasumi status``
(docs/benchmarks.md). The frontend also serves its API as JSON over HTTP (the dev server on
``--http-port``, which ``durasumi dev`` sets), so the reads the CLI does most often (a
query, a describe, a visibility list, the close event) go through the standard library
here. Payloads come back as Payload JSON (``noPayloadShorthand``) and are decrypted with the
keyring, which needs only ``cryptography`` (workers/keyring.py).

Anything that is not a Temporal answer (nothing listening, another program on the port)
raises :class:`HttpApiUnavailable`, and the caller uses the gRPC client instead.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durasumi.workers.keyring import ENCODING, KEY_ID, Keyring, Sealer

if TYPE_CHECKING:
    from durasumi.client.quick_settings import QuickReadSettings
    from durasumi.workers.settings import Settings

__all__ = [
    "HttpApi",
    "HttpApiUnavailable",
    "PayloadError",
    "StatusCode",
    "TemporalHttp",
    "TemporalHttpError",
    "http_api_for",
    "parse_payload",
]


class StatusCode:
    """The gRPC status codes the CLI tells apart (the HTTP API's ``code`` field)."""

    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    UNAVAILABLE = 14


# temporalio's external-storage reference (workers/claim_check.py), in history instead of a
# big payload: the HTTP path does not read the store, the gRPC client's converter does.
_STORED_PAYLOAD = b"temporal.api.sdk.v1.ExternalStorageReference"


class HttpApiUnavailable(Exception):
    """No Temporal HTTP API answered at the address: use the gRPC client."""


class StoredPayload(HttpApiUnavailable):
    """A payload is in the payload store (claim check): the gRPC client, which reads it, answers."""


class TemporalHttpError(Exception):
    """Temporal answered with an error (its gRPC status code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PayloadError(ValueError):
    """A payload this process cannot read (unknown encoding, key or format)."""


@dataclass(frozen=True)
class HttpApi:
    """Where the HTTP API is, and the namespace to read."""

    base_url: str
    namespace: str


def http_api_for(settings: Settings | QuickReadSettings) -> HttpApi | None:
    """The HTTP API to read through, or None to use the gRPC client.

    ``DURASUMI_TEMPORAL_HTTP_URL`` names it. Without it, a client aimed at the dev stack
    (``127.0.0.1:DEV_TEMPORAL_PORT``, no envconfig profile in play) reads the dev server's
    HTTP API on ``DEV_TEMPORAL_HTTP_PORT``. The namespace must be known without reading an
    envconfig profile (that would import the SDK): ``DURASUMI_TEMPORAL_NAMESPACE``, else
    ``default`` when no profile is in play; otherwise the gRPC client reads it.
    """
    profile = _envconfig_in_play(settings)
    namespace = settings.temporal_namespace or (None if profile else "default")
    if namespace is None:
        return None
    if settings.temporal_http_url:
        return HttpApi(settings.temporal_http_url.rstrip("/"), namespace)
    dev = {f"{host}:{settings.dev_temporal_port}" for host in ("127.0.0.1", "localhost")}
    address = settings.temporal_address
    if (address is None and not profile) or address in dev:
        return HttpApi(f"http://127.0.0.1:{settings.dev_temporal_http_port}", namespace)
    return None


def _envconfig_in_play(settings: Settings | QuickReadSettings) -> bool:
    """Whether an envconfig profile may change the address or namespace (client/connect.py)."""
    if settings.temporal_profile or settings.temporal_config_file:
        return True
    if any(name.startswith("TEMPORAL_") for name in os.environ):
        return True
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return (Path(config_home) / "temporalio" / "temporal.toml").exists()


class TemporalHttp:
    """A few WorkflowService calls over the HTTP API, payloads decoded to JSON values.

    Example:
        >>> api = TemporalHttp(HttpApi("http://127.0.0.1:7243", "default"), keyring=None)
        >>> api.url("workflows/job-1")
        'http://127.0.0.1:7243/api/v1/namespaces/default/workflows/job-1'
    """

    def __init__(self, api: HttpApi, keyring: Keyring | None, timeout: float = 10.0) -> None:
        self.api = api
        self.timeout = timeout
        self._sealer = Sealer(keyring) if keyring is not None else None

    def url(self, path: str, **params: str) -> str:
        """The URL of ``path`` in the namespace, with query parameters."""
        namespace = urllib.parse.quote(self.api.namespace, safe="")
        url = f"{self.api.base_url}/api/v1/namespaces/{namespace}/{path}"
        return f"{url}?{urllib.parse.urlencode(params)}" if params else url

    def query(
        self, workflow_id: str, query_type: str, *, reject_not_open: bool = False
    ) -> tuple[Any, str | None]:
        """A workflow query without arguments: (its answer as a JSON value, None).

        With ``reject_not_open``, a closed workflow is not queried: (None, its status),
        e.g. ``WORKFLOW_EXECUTION_STATUS_COMPLETED``.
        """
        path = f"workflows/{_quote(workflow_id)}/query/{_quote(query_type)}"
        body: dict[str, Any] = {}
        if reject_not_open:
            body["queryRejectCondition"] = "QUERY_REJECT_CONDITION_NOT_OPEN"
        answer = self._call("POST", path, body=body)
        rejected = answer.get("queryRejected")
        if rejected is not None:
            return None, str(rejected.get("status", ""))
        payloads = (answer.get("queryResult") or {}).get("payloads") or []
        return (self.decode(payloads[0]) if payloads else None), None

    def describe(self, workflow_id: str) -> dict[str, Any]:
        """DescribeWorkflowExecution's ``workflowExecutionInfo`` (status, times, attributes)."""
        answer = self._call("GET", f"workflows/{_quote(workflow_id)}")
        info: dict[str, Any] = answer.get("workflowExecutionInfo") or {}
        return info

    def close_event(self, workflow_id: str) -> dict[str, Any] | None:
        """The workflow's close event, or None if it did not close within one long poll.

        The server holds the request until the workflow closes (about 20 s at most).
        """
        answer = self._call(
            "GET",
            f"workflows/{_quote(workflow_id)}/history",
            params={
                "historyEventFilterType": "HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT",
                "waitNewEvent": "true",
            },
            timeout=self.timeout + 30,
        )
        events = (answer.get("history") or {}).get("events") or []
        return events[-1] if events else None

    def list_workflows(
        self, query: str, page_size: int, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a visibility query: the executions and the next page's token."""
        params = {"query": query, "pageSize": str(page_size)}
        if page_token:
            params["nextPageToken"] = page_token
        answer = self._call("GET", "workflows", params=params)
        return list(answer.get("executions") or []), answer.get("nextPageToken") or None

    def search_attributes(self, execution: Mapping[str, Any]) -> dict[str, Any]:
        """An execution's search attributes as JSON values."""
        fields = (execution.get("searchAttributes") or {}).get("indexedFields") or {}
        return {name: self.decode(payload) for name, payload in fields.items()}

    def decode(self, payload: Mapping[str, Any]) -> Any:
        """A Payload's JSON value, decrypted first if it is encrypted.

        Raises:
            PayloadError: an encoding other than JSON, or an encrypted payload this
                process has no key for.
        """
        metadata = {k: base64.b64decode(v) for k, v in (payload.get("metadata") or {}).items()}
        return self._value(metadata, base64.b64decode(payload.get("data") or ""))

    def _value(self, metadata: Mapping[str, bytes], data: bytes) -> Any:
        encoding = metadata.get("encoding", b"")
        if encoding == ENCODING:
            if self._sealer is None:
                raise PayloadError(
                    "the payload is encrypted and no codec keys are configured here: set "
                    "DURASUMI_CODEC_KEYS or DURASUMI_CODEC_KEYS_FILE"
                )
            key_id = metadata.get(KEY_ID, b"").decode(errors="replace")
            try:
                inner = self._sealer.open(key_id, data)
            except ValueError as err:  # CodecError
                raise PayloadError(str(err)) from err
            return self._value(*parse_payload(inner))
        if encoding == b"binary/null":
            return None
        if metadata.get("messageType") == _STORED_PAYLOAD:
            raise StoredPayload("the answer is in the payload store")
        if encoding == b"json/plain":
            return json.loads(data)
        raise PayloadError(f"cannot read a payload with encoding {encoding.decode()!r}")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        # grpc-gateway's options: full Payload JSON, and the server-side deadline.
        url = self.url(path, **(params or {}), noPayloadShorthand="true")
        wait = timeout or self.timeout
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Grpc-Timeout": f"{int(wait)}S"},
        )
        try:
            with urllib.request.urlopen(request, timeout=wait + 5) as response:
                return _json_object(response.read(), url)
        except urllib.error.HTTPError as err:
            answer = _json_object(err.read(), url)
            if not isinstance(answer.get("code"), int):
                raise HttpApiUnavailable(
                    f"{url}: HTTP {err.code} without a Temporal error"
                ) from None
            raise TemporalHttpError(answer["code"], str(answer.get("message", ""))) from None
        except (OSError, ValueError) as err:  # refused, reset, timeout, not HTTP
            raise HttpApiUnavailable(f"{url}: {err}") from err


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _json_object(raw: bytes, url: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError as err:
        raise HttpApiUnavailable(f"{url}: not a Temporal answer") from err
    if not isinstance(value, dict):
        raise HttpApiUnavailable(f"{url}: not a Temporal answer")
    return value


def parse_payload(raw: bytes) -> tuple[dict[str, bytes], bytes]:
    r"""A serialized ``temporal.api.common.v1.Payload``: (metadata, data).

    The encrypted payloads hold the original Payload's protobuf bytes; reading its two
    fields (``map<string, bytes> metadata = 1``, ``bytes data = 2``) by hand spares the CLI
    the SDK's generated classes. Unknown fields are skipped.

    Example:
        >>> parse_payload(b"\n\x16\n\x08encoding\x12\njson/plain\x12\x02{}")
        ({'encoding': b'json/plain'}, b'{}')
    """
    metadata: dict[str, bytes] = {}
    data = b""
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            entry = dict(_fields(value))
            key, item = entry.get(1, b""), entry.get(2, b"")
            if isinstance(key, bytes) and isinstance(item, bytes):
                metadata[key.decode()] = item
        elif number == 2 and isinstance(value, bytes):
            data = value
    return metadata, data


def _fields(raw: bytes) -> list[tuple[int, bytes | int]]:
    """The (field number, value) pairs of a protobuf message; bytes for length-delimited."""
    out: list[tuple[int, bytes | int]] = []
    pos = 0
    while pos < len(raw):
        tag, pos = _varint(raw, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(raw, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(raw, pos)
            if pos + size > len(raw):
                raise PayloadError("truncated payload")
            out.append((number, raw[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise PayloadError(f"unsupported protobuf wire type {wire}")
    return out


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise PayloadError("truncated payload")
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7

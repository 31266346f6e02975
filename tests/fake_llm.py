"""An OpenAI-compatible Chat Completions server on loopback, with scripted replies.

The tests (and bench/activities.py) drive the real ``openai`` client against it, so the
wire protocol is the real one: SSE streaming with a usage chunk, JSON error bodies,
Retry-After headers, keep-alive connections. Written on asyncio streams rather than a web
framework so a test sees exactly when a client hangs up (a cancelled call must close its
connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FakeLLM", "Reply", "Seen"]


@dataclass
class Reply:
    """What the server does with one request."""

    kind: Literal["ok", "error", "hang", "stall"] = "ok"
    text: str = "Lisbon is the capital of Portugal."
    input_tokens: int = 12
    output_tokens: int = 7
    chunks: int = 3  # content chunks the text is split into
    delay: float = 0.0  # seconds before the first byte
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # non-streamed answers only

    @classmethod
    def tool_call(
        cls, name: str, arguments: dict[str, Any], input_tokens: int = 12, output_tokens: int = 7
    ) -> Reply:
        """An answer that calls the tool ``name`` with ``arguments`` (Chat Completions shape)."""
        call = {
            "id": f"call_{name}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return cls(
            "ok", text="", input_tokens=input_tokens, output_tokens=output_tokens, tool_calls=[call]
        )

    @classmethod
    def ok(cls, text: str = "Lisbon.", input_tokens: int = 12, output_tokens: int = 7) -> Reply:
        """A streamed answer with a usage chunk."""
        return cls("ok", text=text, input_tokens=input_tokens, output_tokens=output_tokens)

    @classmethod
    def error(cls, status: int, message: str, retry_after: str | None = None) -> Reply:
        """An HTTP error with an OpenAI-style JSON body."""
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls("error", status=status, message=message, headers=headers)

    @classmethod
    def hang(cls) -> Reply:
        """Read the request, then send nothing until the client hangs up."""
        return cls("hang")

    @classmethod
    def stall(cls, chunks: int = 1) -> Reply:
        """Send the headers and ``chunks`` chunks, then nothing until the client hangs up."""
        return cls("stall", chunks=chunks)


@dataclass
class Seen:
    """A request the server received, and how it ended."""

    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    reply: Reply
    outcome: str = "open"  # answered | disconnected
    ended: float | None = None


class FakeLLM:
    """The server: ``push`` replies, point a client at ``url``, read ``requests``.

    Unscripted requests get ``default`` (a plain answer).
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply.ok()
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        """The base URL for the openai client."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def push(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self.script.extend(replies)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and close the connections still open (their handlers then end)."""
        if self._server is not None:
            self._server.close()
        for writer in self._open.values():
            writer.close()
        if self._open:
            await asyncio.wait(list(self._open), timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Wait until ``predicate(self)`` holds (checked whenever a request changes)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()

    # -- HTTP -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                path, body = request
                if not path.endswith("/chat/completions"):
                    await _send_json(writer, 404, {"error": {"message": f"no route {path}"}})
                    continue
                reply = self.script.popleft() if self.script else self.default
                seen = Seen(body=body, at=time.monotonic(), reply=reply)
                self.requests.append(seen)
                self._note()
                if not await self._answer(reader, writer, seen):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            del self._open[task]

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen
    ) -> bool:
        """Answer one request; False when the connection is finished with."""
        reply, body = seen.reply, seen.body
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.kind == "error":
            error = {"message": reply.message, "type": "invalid_request_error", "code": None}
            await _send_json(writer, reply.status, {"error": error}, reply.headers)
            self._end(seen, "answered")
            return True
        if reply.kind == "hang":
            await self._until_hangup(reader, seen)
            return False
        model = str(body.get("model", "unknown"))
        if not body.get("stream"):
            await _send_json(writer, 200, _completion(model, reply))
            self._end(seen, "answered")
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        events = _stream_events(
            model, reply, bool(body.get("stream_options", {}).get("include_usage"))
        )
        if reply.kind == "stall":
            for event in events[: reply.chunks]:
                await _send_chunk(writer, event)
            await self._until_hangup(reader, seen)
            return False
        for event in events:
            await _send_chunk(writer, event)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        self._end(seen, "answered")
        return True

    async def _until_hangup(self, reader: asyncio.StreamReader, seen: Seen) -> None:
        while await reader.read(1024):
            pass
        self._end(seen, "disconnected")

    def _end(self, seen: Seen, outcome: str) -> None:
        seen.outcome = outcome
        seen.ended = time.monotonic()
        self._note()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, Any]] | None:
    """(path, JSON body) of the next request on the connection, or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    _, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    raw = await reader.readexactly(length) if length else b""
    return path, json.loads(raw) if raw else {}


async def _send_json(
    writer: asyncio.StreamWriter,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n{extra}\r\n".encode()
        + data
    )
    await writer.drain()


async def _send_chunk(writer: asyncio.StreamWriter, event: str) -> None:
    data = event.encode()
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


def _pieces(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // max(n, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_events(model: str, reply: Reply, include_usage: bool) -> list[str]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}}]}
        for piece in _pieces(reply.text, reply.chunks)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        events.append({**base, "choices": [], "usage": _usage(reply)})
    return [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
            if not reply.tool_calls
            else {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": reply.tool_calls},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": _usage(reply),
    }


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }

"""Request body size limits: 413 with a JSON body before anything is parsed.

JSON bodies get ``DURASUMI_MAX_BODY_BYTES`` (1 MiB); a few routes take bigger bodies (file
uploads: ``DURASUMI_MAX_FILE_BYTES``) and name their own limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes``.

    A declared Content-Length over the limit is refused at once; a body without one (chunked)
    is read up to the limit first and handed on only if it fits, so the app never sees a
    truncated body. ``larger`` maps exact paths (``/files``) to their own limit; such a
    route with a declared length in its limit gets the body as a stream, and counts it
    itself.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the size, then pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.larger.get(path, self.max_bytes)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > limit:
                await self._refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        if path in self.larger:  # a streaming route (uploads) counts its own body
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "error": "payload_too_large",
                "message": f"request body over {limit} bytes",
                "errors": [],
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

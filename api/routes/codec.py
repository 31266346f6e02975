"""The codec endpoint: Temporal's codec-server protocol, so operators see plaintext.

``POST /codec/decode`` and ``POST /codec/encode`` take and return ``{"payloads": [...]}``,
each payload as protobuf JSON (``metadata`` values and ``data`` in base64), the way the
Temporal Web UI and ``temporal --codec-endpoint`` send them. They run the process's own
payload codec (``workers.codec``), so they decode exactly what this deployment encrypts.

Only operators may call them. An operator proves it with an API key: ``X-API-Key``,
``Authorization: Bearer <key>`` (``temporal workflow show --codec-auth "Bearer <key>"``),
or a session cookie for browsers. The Web UI's "pass access token" setting sends its
OIDC token, and only to an HTTPS endpoint, so a Web UI without OIDC (the dev server's)
authenticates with the cookie instead: the operator signs in once at ``GET /codec/login``
and turns on "Include cross-origin credentials" in the UI's codec settings. The UI's
origins get CORS for ``/codec/*`` (``CodecCors``); the cookie is SameSite=Strict, so
the UI must be opened on the same host name as the API (127.0.0.1 with 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request, Security, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf.message import DecodeError
from pydantic import BaseModel, Field, ValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from durasumi.api.deps import Services, ServicesDep, require_roles
from durasumi.api.schemas import ErrorBody
from durasumi.db.keys import Principal, Role
from durasumi.workflows.forms import FieldError

__all__ = ["SESSION_COOKIE", "CodecCors", "CodecPayload", "CodecPayloads", "router"]

router = APIRouter(prefix="/codec", tags=["codec"])

SESSION_COOKIE = "durasumi_codec"
SESSION_SECONDS = 8 * 3600
# What the Web UI sends (data-encoder.ts): JSON, the namespace, and with "pass access
# token" an Authorization (+ Authorization-Extras) header.
CORS_HEADERS = ["Authorization", "Authorization-Extras", "Content-Type", "X-Namespace", "X-API-Key"]


class CodecPayload(BaseModel):
    """One Temporal Payload in protobuf JSON: base64 metadata values and data."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecPayloads(BaseModel):
    """The codec-server protocol's body, both ways."""

    payloads: list[CodecPayload]


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An operator key.")
_bearer = HTTPBearer(auto_error=False, description="An operator key as a bearer token.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Set by POST /codec/session."
)


def _verify(services: Services, key: str | None) -> Principal:
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an operator API key is required (X-API-Key, Authorization: Bearer, or sign in "
            "at /codec/login)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = services.cache.get(f"key:{key}", lambda: services.keys.verify(key))
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key")
    require_roles(principal, Role.OPERATOR)
    return principal


def _operator(
    services: ServicesDep,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> Principal:
    return _verify(services, api_key or (bearer.credentials if bearer else None) or cookie)


Operator = Annotated[Principal, Depends(_operator)]


class _BadBody(Exception):
    """The body is not a codec Payloads object: a 400 with the field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("bad codec body")
        self.errors = errors

    def response(self) -> JSONResponse:
        body = ErrorBody(
            error="invalid_request",
            message='the body must be {"payloads": [{"metadata": {...}, "data": "<base64>"}]}',
            errors=self.errors,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=400)


def _b64(text: str) -> bytes:
    # protobuf JSON bytes: standard or URL-safe base64, padding optional
    padded = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)


async def _payloads(request: Request) -> list[Payload]:
    try:
        body = CodecPayloads.model_validate_json(await request.body())
    except ValidationError as err:
        raise _BadBody(
            [
                FieldError(
                    field=".".join(map(str, e["loc"])) or "body",
                    code=str(e["type"]),
                    message=str(e["msg"]),
                )
                for e in err.errors()
            ]
        ) from None
    out = []
    for i, p in enumerate(body.payloads):
        try:
            metadata = {k: _b64(v) for k, v in p.metadata.items()}
            out.append(Payload(metadata=metadata, data=_b64(p.data)))
        except (binascii.Error, ValueError):
            raise _BadBody(
                [FieldError(field=f"payloads.{i}", code="base64", message="not valid base64")]
            ) from None
    return out


def _answer(payloads: Sequence[Payload]) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CodecPayloads"}}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Not a Payloads body, or a payload that cannot be decoded.",
    },
    401: {"model": ErrorBody, "description": "No valid API key."},
    403: {"model": ErrorBody, "description": "The key is not an operator's."},
}


@router.post(
    "/decode", response_model=CodecPayloads, openapi_extra={"requestBody": _BODY}, responses=_ERRORS
)
async def decode(request: Request, services: ServicesDep, principal: Operator) -> JSONResponse:
    """Decrypt payloads (codec-server protocol); plain payloads come back unchanged."""
    try:
        payloads = await _payloads(request)
    except _BadBody as bad:
        return bad.response()
    codec = services.client.data_converter.payload_codec
    if codec is not None:
        try:
            payloads = await codec.decode(payloads)
        except (ValueError, DecodeError) as err:  # unknown key id, tampered ciphertext
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    return JSONResponse(_answer(payloads))


@router.post(
    "/encode", response_model=CodecPayloads, openapi_extra={"requestBody": _BODY}, responses=_ERRORS
)
async def encode(request: Request, services: ServicesDep, principal: Operator) -> JSONResponse:
    """Encrypt payloads with the active key (codec-server protocol)."""
    try:
        payloads = await _payloads(request)
    except _BadBody as bad:
        return bad.response()
    codec = services.client.data_converter.payload_codec
    if codec is not None:
        payloads = await codec.encode(payloads)
    return JSONResponse(_answer(payloads))


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>durasumi codec</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">{body}</body></html>"""

_LOGIN = """<h1>Decode payloads in the Temporal Web UI</h1>
<p>Sign in with an operator API key (<code>durasumi keys create --role operator --owner
you</code>). Then, in the Web UI's Codec Server settings, keep this endpoint and turn on
<em>Include cross-origin credentials</em>.</p>
<form method="post" action="session"><label>Operator key
<input type="password" name="key" autocomplete="off" size="60"></label>
<button type="submit">Sign in</button></form>"""


@router.get("/login", response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    """A sign-in page for operators who use the Web UI without OIDC."""
    return HTMLResponse(_PAGE.format(body=_LOGIN))


@router.post("/session", responses=_ERRORS)
async def sign_in(
    request: Request,
    services: ServicesDep,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """Set the codec session cookie from an operator key (form field ``key`` or a header).

    The cookie holds the key itself (HttpOnly, SameSite=Strict, path /codec, 8 hours), so
    revoking the key ends the session at once.
    """
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    key = api_key or (bearer.credentials if bearer else None)
    if form and not key:
        fields = parse_qs((await request.body()).decode(errors="replace"))
        key = (fields.get("key") or [""])[0].strip()
    principal = _verify(services, key)
    if form:
        text = (
            f"<h1>Signed in</h1><p>Operator <b>{escape(principal.owner)}</b> for 8 hours. "
            "The Temporal Web UI can now decode payloads (with <em>Include cross-origin "
            "credentials</em> on in its Codec Server settings).</p>"
        )
        response: Response = HTMLResponse(_PAGE.format(body=text))
    else:
        response = JSONResponse({"owner": principal.owner, "expires_in": SESSION_SECONDS})
    response.set_cookie(
        SESSION_COOKIE,
        str(key),
        max_age=SESSION_SECONDS,
        path="/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out() -> Response:
    """Clear the codec session cookie."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/codec")
    return response


class CodecCors:
    """CORS for ``/codec/*`` only: the Web UI is another origin and sends credentials.

    Example:
        >>> app.add_middleware(CodecCors, origins=["http://127.0.0.1:8233"])  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=CORS_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route /codec/ requests through the CORS middleware, the rest straight on."""
        if scope["type"] == "http" and scope["path"].startswith("/codec/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

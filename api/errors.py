"""Errors as JSON: Temporal errors mapped to HTTP by exception type, never by message text."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.schemas import ErrorBody
from durasumi.workflows.errors import (
    INVALID_SUBMISSION,
    NO_PENDING_FORM,
    WRONG_FORM,
    field_errors_from_details,
)
from durasumi.workflows.forms import FieldError, FormValidationError

__all__ = ["MIP003_PREFIX_MARKERS", "Unavailable", "install", "refused_status"]


class Unavailable(HTTPException):
    """503 with ``Retry-After`` and a stable error code: a dependency is down, nothing lost.

    Example:
        >>> Unavailable("platform_unavailable", "no platform worker", retry_after=5).headers
        {'Retry-After': '5'}
    """

    def __init__(self, error: str, message: str, *, retry_after: int, code: int = 503) -> None:
        super().__init__(code, message, headers={"Retry-After": str(retry_after)})
        self.error = error


# MIP-003 says 400 for bad input on its endpoints; the jobs API answers 422.
MIP003_PREFIX_MARKERS = ("/start_job", "/provide_input")

_RPC_STATUS = {
    RPCStatusCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RPCStatusCode.ALREADY_EXISTS: status.HTTP_409_CONFLICT,
    RPCStatusCode.INVALID_ARGUMENT: status.HTTP_400_BAD_REQUEST,
    RPCStatusCode.FAILED_PRECONDITION: status.HTTP_409_CONFLICT,
    RPCStatusCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED: status.HTTP_504_GATEWAY_TIMEOUT,
    RPCStatusCode.RESOURCE_EXHAUSTED: status.HTTP_429_TOO_MANY_REQUESTS,
    RPCStatusCode.PERMISSION_DENIED: status.HTTP_403_FORBIDDEN,
}

# The client's own deadline (CANCELLED) or the server's (DEADLINE_EXCEEDED) on a read.
_BUSY = {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED}

_APPLICATION_STATUS = {
    INVALID_SUBMISSION: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NO_PENDING_FORM: status.HTTP_409_CONFLICT,
    WRONG_FORM: status.HTTP_409_CONFLICT,
}


def refused_status(request: Request) -> int:
    """400 on MIP-003 input endpoints, 422 elsewhere."""
    path = request.url.path
    if any(path.endswith(m) for m in MIP003_PREFIX_MARKERS):
        return status.HTTP_400_BAD_REQUEST
    return status.HTTP_422_UNPROCESSABLE_CONTENT


def _body(
    code: int, error: str, message: str, errors: list[FieldError] | None = None
) -> JSONResponse:
    content = ErrorBody(error=error, message=message, errors=errors or [])
    return JSONResponse(content.model_dump(mode="json"), status_code=code)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    # Starlette's class, which FastAPI's subclasses: routing's own 404 and 405 answer JSON too.
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        error = exc.error if isinstance(exc, Unavailable) else _name(exc.status_code)
        response = _body(exc.status_code, error, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        message = "the request is invalid"
        if any(e.code == "json_invalid" for e in errors):
            message = "the body is not valid JSON"
        return _body(refused_status(request), "invalid_request", message, errors)

    @app.exception_handler(FormValidationError)
    async def bad_input(request: Request, exc: FormValidationError) -> JSONResponse:
        return _body(refused_status(request), "invalid_input", "input_data refused", exc.errors)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def refused(request: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            code = _APPLICATION_STATUS.get(cause.type or "", status.HTTP_409_CONFLICT)
            if cause.type == INVALID_SUBMISSION:
                code = refused_status(request)
            errors = field_errors_from_details(cause.details)
            return _body(code, cause.type or "refused", cause.message, errors)
        return _body(status.HTTP_409_CONFLICT, "update_failed", str(cause or exc))

    @app.exception_handler(WorkflowQueryFailedError)
    async def query_failed(_: Request, exc: WorkflowQueryFailedError) -> JSONResponse:
        return _body(status.HTTP_502_BAD_GATEWAY, "query_failed", exc.message)

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        code = _RPC_STATUS.get(exc.status, status.HTTP_502_BAD_GATEWAY)
        if exc.status is RPCStatusCode.UNAVAILABLE:  # Temporal itself is down or restarting
            message = f"Temporal is unreachable: {exc.message}"
            response = _body(code, "temporal_unavailable", message)
            response.headers["Retry-After"] = "5"
            return response
        if exc.status in _BUSY:  # Temporal did not answer in time: overloaded, not broken
            message = f"Temporal did not answer in time ({exc.message}): try again shortly"
            response = _body(status.HTTP_503_SERVICE_UNAVAILABLE, "temporal_busy", message)
            response.headers["Retry-After"] = "2"
            return response
        return _body(code, _name(code), exc.message)

    # A bug still answers in the error shape; Starlette re-raises it afterwards (so the server
    # logs the traceback).
    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        return _body(
            status.HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error"
        )


def _field_error(error: dict[str, Any]) -> FieldError:
    """One pydantic/FastAPI validation error as a field error."""
    if error["type"] == "json_invalid":  # loc is (body, character offset): say why instead
        reason = (error.get("ctx") or {}).get("error") or error["msg"]
        return FieldError(field="body", code="json_invalid", message=str(reason))
    field = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "path", "header"))
    return FieldError(field=field or "body", code=str(error["type"]), message=str(error["msg"]))


def _name(code: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "invalid_request",
        429: "too_many_requests",
        503: "unavailable",
    }.get(code, "error")

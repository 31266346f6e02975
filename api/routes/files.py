"""Files over HTTP: upload a ``file`` field's file, download a file through a signed link."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from durasumi.api.deps import CurrentPrincipal, ServicesDep, agent_or_404, visible_job
from durasumi.db.keys import Principal, Role
from durasumi.workers.codec import CodecError, KeyringCodec
from durasumi.workers.file_rules import accepts, file_field_accept
from durasumi.workers.files import FileMeta, FileMissing, FileStore, file_url, sign_link
from durasumi.workers.files import check_link as link_problem
from durasumi.workers.object_store import object_store
from durasumi.workers.settings import Settings
from durasumi.workflows.forms import Form

__all__ = ["FileOut", "LinkOut", "install", "router"]

router = APIRouter(prefix="/files", tags=["files"])

_NAME_MAX = 255


class FileOut(BaseModel):
    """A stored file: its URL is the value for the ``file`` field."""

    file_id: str
    url: str
    name: str
    content_type: str
    size: int
    sha256: str


class LinkOut(BaseModel):
    """A signed download link, valid until ``expires_at``."""

    url: str
    expires_at: datetime


@dataclass
class Files:
    """What the routes need, made once when the app is built."""

    store: FileStore | None
    link_secret: bytes
    link_seconds: int
    max_bytes: int


def install(app: FastAPI, settings: Settings) -> None:
    """Add the routes to ``app`` with the settings' payload store, codec and limits."""
    objects = object_store(settings)
    keyring = settings.codec_keyring()
    codec = KeyringCodec(keyring) if keyring is not None else None
    secret = _link_key(settings.signing_secret_bytes())
    app.state.files = Files(
        store=FileStore(objects, codec) if objects is not None else None,
        link_secret=secret,
        link_seconds=settings.file_link_seconds,
        max_bytes=settings.max_file_bytes,
    )
    app.include_router(router)


def _link_key(master: bytes) -> bytes:
    """The link-signing key: a key of its own, derived from the platform's master secret."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt=None, info=b"durasumi-file-links-v1").derive(master)


def _files(request: Request) -> Files:
    files: Files = request.app.state.files
    if files.store is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "file storage is off (DURASUMI_PAYLOAD_STORE)"
        )
    return files


def _store(files: Files) -> FileStore:
    if files.store is None:  # _files refused the request already
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "file storage is off")
    return files.store


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FileOut)
async def upload(
    request: Request,
    services: ServicesDep,
    principal: CurrentPrincipal,
    field: Annotated[str, Query(min_length=1, max_length=200, description="The file field.")],
    agent: Annotated[
        str | None, Query(max_length=63, description="The agent whose input form has the field.")
    ] = None,
    job: Annotated[
        str | None, Query(max_length=200, description="A job whose pending form has the field.")
    ] = None,
    name: Annotated[str, Query(min_length=1, max_length=_NAME_MAX)] = "file",
    content_type: Annotated[str, Header()] = "application/octet-stream",
) -> FileOut:
    """Upload one file (the raw body) for a ``file`` field; its URL goes in the field."""
    files = _files(request)
    if principal.role not in (Role.BUYER, Role.OPERATOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "files are uploaded with a buyer key")
    form, agent_name = await _form_for(services, principal, agent, job)
    accept = file_field_accept(form, field)
    if accept is False:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field!r} is not a file field of this form"
        )
    if accept and not accepts(accept, content_type, name):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"{content_type!r} ({name!r}) is not accepted by field {field!r} (accept: {accept})",
        )
    data = await _read_body(request, files.max_bytes)
    meta = await _store(files).put(
        data,
        name=name,
        content_type=content_type.split(";")[0].strip() or "application/octet-stream",
        agent=agent_name,
        owner=principal.owner,
    )
    return _out(request, meta)


async def _form_for(
    services: ServicesDep, principal: Principal, agent: str | None, job: str | None
) -> tuple[Form, str]:
    if (agent is None) == (job is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "name exactly one of agent or job"
        )
    if job is not None:
        view = await visible_job(services, principal, job)
        if view.pending_form is None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"job {job} is not waiting for a form")
        return view.pending_form.form, view.agent
    record = agent_or_404(services, agent or "")
    if record.input_form is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{agent} has no input form")
    return Form.model_validate(record.input_form), record.name


async def _read_body(request: Request, max_bytes: int) -> bytes:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE, f"file over {max_bytes} bytes"
                )
    except ClientDisconnect:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload was cut off") from None
    if not body:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the file is empty")
    return bytes(body)


def _out(request: Request, meta: FileMeta) -> FileOut:
    return FileOut(
        file_id=meta.file_id,
        url=file_url(str(request.base_url), meta.file_id),
        name=meta.name,
        content_type=meta.content_type,
        size=meta.size,
        sha256=meta.sha256,
    )


async def _readable(
    request: Request, services: ServicesDep, principal: Principal, file_id: str
) -> FileMeta:
    """The file's metadata if the caller may download it; anyone else's file is a 404."""
    files = _files(request)
    try:
        meta = await _store(files).meta(file_id)
    except (FileMissing, CodecError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"file {file_id[:64]!r} not found") from None
    if principal.role is Role.OPERATOR:
        return meta
    if principal.role is Role.BUYER:
        if meta.job_id is not None:
            await visible_job(services, principal, meta.job_id)  # the job's buyer only
            return meta
        if meta.owner == principal.owner:
            return meta
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"file {file_id} not found")


def _link(request: Request, files: Files, file_id: str) -> LinkOut:
    expires = int(time.time()) + files.link_seconds
    signature = sign_link(files.link_secret, file_id, expires)
    url = request.url_for("download", file_id=file_id).include_query_params(
        expires=expires, signature=signature
    )
    return LinkOut(url=str(url), expires_at=datetime.fromtimestamp(expires, UTC))


@router.get("/{file_id}/link", response_model=LinkOut)
async def link(
    file_id: str, request: Request, services: ServicesDep, principal: CurrentPrincipal
) -> LinkOut:
    """A signed, expiring download link, for the job's buyer (or the uploader)."""
    await _readable(request, services, principal, file_id)
    return _link(request, _files(request), file_id)


@router.get("/{file_id}", status_code=status.HTTP_307_TEMPORARY_REDIRECT)
async def file_redirect(
    file_id: str, request: Request, services: ServicesDep, principal: CurrentPrincipal
) -> RedirectResponse:
    """Redirect to a signed, expiring download link (the URL a result names)."""
    await _readable(request, services, principal, file_id)
    return RedirectResponse(_link(request, _files(request), file_id).url)


@router.get("/{file_id}/content", name="download")
async def download(
    file_id: str,
    request: Request,
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """The file's bytes, for a link signed by this API that has not expired (no key needed)."""
    files = _files(request)
    problem = link_problem(files.link_secret, file_id, expires, signature, time.time())
    if problem is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, problem)
    try:
        meta = await _store(files).meta(file_id)
        data = await _store(files).read(file_id)
    except (FileMissing, CodecError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"file {file_id[:64]!r} not found") from None
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in meta.name
    )
    return Response(
        data,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(meta.name, safe='')}"
            ),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",  # an uploaded page never runs as the API
        },
    )

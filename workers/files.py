"""Files: MIP-003 ``file`` inputs uploaded through the API and files agents write as results.

A file is two objects in the payload store (workers/object_store.py), both sealed by the
payload codec with the key of the agent the file belongs to, so the agent's vendor reads
it with its own key and nobody reads it without one:

- ``files/<id>/data``: the bytes, as a sealed ``binary/plain`` Payload;
- ``files/<id>/meta``: :class:`FileMeta` (name, type, size, digest, agent, uploader or job).

A file id is 128 random bits, and a file's URL is ``<API>/files/<id>``: the API serves it
only to the job's buyer (or the uploader) and only through a signed, expiring link
(:func:`sign_link`); an agent reads a file by its URL in an activity
(``durasumi.activities.files.read_file``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.api.common.v1 import Payload

from durasumi.workers.codec import KeyringCodec
from durasumi.workers.object_store import ObjectMissing, ObjectStore

__all__ = [
    "FileMeta",
    "FileMissing",
    "FileStore",
    "check_link",
    "file_id_from_url",
    "file_url",
    "new_file_id",
    "sign_link",
]

FILE_ID = re.compile(r"^[0-9a-f]{32}$")
_URL_ID = re.compile(r"/files/([0-9a-f]{32})(?:[/?#]|$)")
_ENCODING = b"binary/plain"


class FileMissing(LookupError):
    """No file with that id (or it cannot be read with this process's keys)."""


class FileMeta(BaseModel):
    """What the platform knows of a stored file."""

    file_id: str
    name: str = "file"
    content_type: str = "application/octet-stream"
    size: int
    sha256: str
    agent: str | None = None
    owner: str | None = None  # the buyer who uploaded it
    job_id: str | None = None  # the job whose agent wrote it
    created_at: datetime


def new_file_id() -> str:
    """A fresh, unguessable file id (32 hex)."""
    return secrets.token_hex(16)


def file_url(api_url: str, file_id: str) -> str:
    """The file's URL on the platform's API."""
    return f"{api_url.rstrip('/')}/files/{file_id}"


def file_id_from_url(url: str) -> str | None:
    """The file id in a file URL (or a bare file id), else None.

    Example:
        >>> file_id_from_url("http://127.0.0.1:8000/files/" + "ab" * 16)
        'abababababababababababababababab'
    """
    if FILE_ID.match(url):
        return url
    match = _URL_ID.search(url)
    return match.group(1) if match else None


class FileStore:
    """Files sealed with the payload codec, in an object store.

    Args:
        objects: The payload store's objects.
        codec: The payload codec (None: files are stored plain, like payloads without keys).
    """

    def __init__(self, objects: ObjectStore, codec: KeyringCodec | None) -> None:
        self.objects = objects
        self.codec = codec

    async def put(
        self,
        data: bytes,
        *,
        name: str,
        content_type: str,
        agent: str | None,
        owner: str | None = None,
        job_id: str | None = None,
    ) -> FileMeta:
        """Store ``data`` sealed with ``agent``'s key; its metadata."""
        meta = FileMeta(
            file_id=new_file_id(),
            name=name,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            agent=agent,
            owner=owner,
            job_id=job_id,
            created_at=datetime.now(UTC),
        )
        body = self._seal(Payload(metadata={"encoding": _ENCODING}, data=data), agent)
        await self.objects.put(f"files/{meta.file_id}/data", body)
        head = Payload(metadata={"encoding": b"json/plain"}, data=meta.model_dump_json().encode())
        await self.objects.put(f"files/{meta.file_id}/meta", self._seal(head, agent))
        return meta

    async def meta(self, file_id: str) -> FileMeta:
        """The file's metadata.

        Raises:
            FileMissing: no such file.
        """
        return FileMeta.model_validate_json(await self._open(file_id, "meta"))

    async def read(self, file_id: str) -> bytes:
        """The file's bytes.

        Raises:
            FileMissing: no such file.
        """
        return await self._open(file_id, "data")

    def _seal(self, payload: Payload, agent: str | None) -> bytes:
        if self.codec is not None:
            payload = self.codec.for_agent(agent).encrypt(payload)
        return payload.SerializeToString()

    async def _open(self, file_id: str, part: str) -> bytes:
        if not FILE_ID.match(file_id):
            raise FileMissing(f"not a file id: {file_id[:80]!r}")
        try:
            raw = await self.objects.get(f"files/{file_id}/{part}")
        except ObjectMissing:
            raise FileMissing(f"no file {file_id}") from None
        payload = Payload.FromString(raw)
        if self.codec is not None:
            payload = self.codec.decrypt(payload)
        return payload.data


def sign_link(secret: bytes, file_id: str, expires: int) -> str:
    """The signature of a download link for ``file_id`` valid until ``expires`` (Unix s)."""
    message = f"durasumi-file-link-v1\n{file_id}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_link(secret: bytes, file_id: str, expires: int, signature: str, now: float) -> str | None:
    """Why a download link is refused, or None when it is good.

    Example:
        >>> sig = sign_link(b"k" * 32, "ab" * 16, 2000)
        >>> check_link(b"k" * 32, "ab" * 16, 2000, sig, now=1000) is None
        True
        >>> check_link(b"k" * 32, "ab" * 16, 2000, sig, now=3000)
        'the link has expired'
    """
    expected = sign_link(secret, file_id, expires).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return "the link's signature is not valid"
    if now >= expires:
        return "the link has expired"
    return None

"""Object storage for big payloads and files: a folder in dev, an S3-compatible bucket in prod.

Both hold opaque bytes under ``/``-separated keys; durasumi writes only ciphertext to them
when codec keys are configured (the claim check stores codec-encoded payloads, files are
sealed the same way). The S3 store speaks to any S3-compatible service (AWS S3, MinIO,
Ceph, R2) through boto3, the ``s3`` extra; it is imported only when that store is used.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from durasumi.workers.settings import Settings

__all__ = [
    "FolderStore",
    "ObjectMissing",
    "ObjectStore",
    "S3Store",
    "object_store",
]

# Keys durasumi makes: lower-case hex, letters, digits, '-', '_', '.', '/' (never '..').
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_./-]{0,500}$")


class ObjectMissing(KeyError):
    """No object under that key."""


class ObjectStore(Protocol):
    """Bytes under keys; writes are whole objects, last one wins."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`ObjectMissing` if there are none."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def describe(self) -> str:
        """Where the objects are, for messages."""


def _check(key: str) -> str:
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not an object key: {key[:80]!r}")
    return key


class FolderStore:
    """Objects as files under a folder (the dev stack's ``HOME/objects``).

    A write goes to a temporary file first and is renamed into place, so a reader never
    sees half an object and a crash leaves no torn one.

    Example:
        >>> import asyncio, tempfile
        >>> store = FolderStore(Path(tempfile.mkdtemp()))
        >>> asyncio.run(store.put("a/b", b"x")); asyncio.run(store.get("a/b"))
        b'x'
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check(key)

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (atomically)."""
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    async def exists(self, key: str) -> bool:
        """Whether ``key`` has an object."""
        return self._path(key).is_file()

    def describe(self) -> str:
        """The folder."""
        return f"folder {self.root}"


class S3Store:
    """Objects in an S3-compatible bucket, through boto3 (blocking calls run in threads).

    Args:
        bucket: The bucket (it must exist).
        prefix: Prepended to every key (several deployments can share a bucket).
        endpoint_url: A non-AWS service's URL (MinIO, Ceph, R2, moto); None: AWS.
        region: The bucket's region.
        access_key_id: Credentials; None: boto3's own chain (environment, profile, role).
        secret_access_key: The secret of ``access_key_id``.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as err:  # pragma: no cover - the s3 extra is missing
            from durasumi._extras import MissingExtra

            raise MissingExtra(
                "S3 payload storage needs boto3: pip install 'durasumi[s3]'"
            ) from err
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _key(self, key: str) -> str:
        return self.prefix + _check(key)

    async def put(self, key: str, data: bytes) -> None:
        """PutObject."""
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data
        )

    async def get(self, key: str) -> bytes:
        """GetObject."""
        return await asyncio.to_thread(self._get, self._key(key))

    def _get(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            raise ObjectMissing(key) from None
        body: bytes = answer["Body"].read()
        return body

    async def exists(self, key: str) -> bool:
        """HeadObject: True on 200, False on 404."""
        return await asyncio.to_thread(self._exists, self._key(key))

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def describe(self) -> str:
        """The bucket (and endpoint)."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"bucket s3://{self.bucket}/{self.prefix}{where}"


def object_store(settings: Settings) -> ObjectStore | None:
    """The object store the settings name (None: ``payload_store=off``)."""
    if settings.payload_store == "off":
        return None
    if settings.payload_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("payload_store is s3 but no s3_bucket is set")
        secret = settings.s3_secret_access_key
        return S3Store(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )
    return FolderStore(settings.payload_store_folder or settings.home / "objects")

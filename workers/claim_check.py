"""The claim check: payloads over a threshold live in object storage, history holds a reference.

Temporal refuses a payload over 2 MB and a gRPC message over 4 MB; a job whose result or
answer is bigger never completes. temporalio's external storage (``DataConverter.
external_storage``) swaps such a payload for a small reference after the payload codec has
run, and back before the codec runs on the way in, so what lands in storage is the
codec's output: AES-GCM ciphertext with the keyring's keys. :class:`PayloadStore` is the
driver behind it, over durasumi's object store (a folder in dev, an S3-compatible bucket
in production, workers/object_store.py):

- an object's key is ``payloads/sha256/<digest of the stored bytes>``: the same payload
  stored twice (a retried activity, the same query answered twice: big payloads are sealed
  with a synthetic nonce, see workers/codec.py) is one object;
- the reference names only that key (and the payload's size), never user data;
- a retrieved object must hash to its key, so a swapped or damaged object is refused.

Every process that builds a client or worker through ``client/connect.connect`` (API,
CLI, ``durasumi worker``, ``durasumi dev``) gets the same store from the settings. The
driver also carries the API's base URL for file links (workers/files.py), so an activity
finds both through its worker's client.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from durasumi.workers.object_store import ObjectMissing, ObjectStore, object_store

if TYPE_CHECKING:
    from durasumi.workers.settings import Settings

__all__ = [
    "DRIVER_NAME",
    "PayloadStore",
    "StoredPayloadMissing",
    "payload_storage",
    "payload_store_of",
]

DRIVER_NAME = "durasumi-objects"
_KEY = re.compile(r"^payloads/sha256/([0-9a-f]{64})$")


class StoredPayloadMissing(LookupError):
    """A reference names an object the store does not have (or that fails its digest)."""


class PayloadStore(StorageDriver):
    """temporalio storage driver over a durasumi object store.

    Args:
        objects: Where the objects go.
        api_url: The platform API's base URL, for links to files written by activities.

    Example:
        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from durasumi.workers.object_store import FolderStore
        >>> store = PayloadStore(FolderStore(Path(tempfile.mkdtemp())))
        >>> big = Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * 10)
        >>> claims = asyncio.run(store.store(StorageDriverStoreContext(), [big]))
        >>> asyncio.run(store.retrieve(StorageDriverRetrieveContext(), claims)) == [big]
        True
    """

    def __init__(self, objects: ObjectStore, *, api_url: str | None = None) -> None:
        self.objects = objects
        self.api_url = api_url

    def name(self) -> str:
        """The name references carry: a process reads them with a driver of this name."""
        return DRIVER_NAME

    def type(self) -> str:
        """The driver's kind."""
        return "durasumi.PayloadStore"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Store each payload under its digest (once); a claim naming the key for each."""
        return list(await asyncio.gather(*(self._store_one(p) for p in payloads)))

    async def _store_one(self, payload: Payload) -> StorageDriverClaim:
        data = payload.SerializeToString(deterministic=True)
        key = f"payloads/sha256/{hashlib.sha256(data).hexdigest()}"
        if not await self.objects.exists(key):
            await self.objects.put(key, data)
        return StorageDriverClaim(claim_data={"key": key})

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The payload of each claim, checked against its digest.

        Raises:
            StoredPayloadMissing: the object is gone, or its bytes do not match the key.
        """
        return list(await asyncio.gather(*(self._retrieve_one(c) for c in claims)))

    async def _retrieve_one(self, claim: StorageDriverClaim) -> Payload:
        key = claim.claim_data.get("key", "")
        match = _KEY.match(key)
        if match is None:
            raise StoredPayloadMissing(f"not a durasumi payload reference: {key[:100]!r}")
        try:
            data = await self.objects.get(key)
        except ObjectMissing:
            raise StoredPayloadMissing(
                f"stored payload {key} is missing from {self.objects.describe()}: every "
                "process must use the same payload store (DURASUMI_PAYLOAD_STORE)"
            ) from None
        if hashlib.sha256(data).hexdigest() != match.group(1):
            raise StoredPayloadMissing(f"stored payload {key} does not match its digest")
        return Payload.FromString(data)


def payload_storage(settings: Settings) -> ExternalStorage | None:
    """The claim check the settings describe (None: ``DURASUMI_PAYLOAD_STORE=off``)."""
    objects = object_store(settings)
    if objects is None:
        return None
    return ExternalStorage(
        drivers=[PayloadStore(objects, api_url=settings.api_base_url)],
        payload_size_threshold=settings.payload_store_threshold,
    )


def payload_store_of(converter: DataConverter) -> PayloadStore | None:
    """The durasumi payload store in a data converter, if it has one."""
    storage = converter.external_storage
    for driver in storage.drivers if storage is not None else ():
        if isinstance(driver, PayloadStore):
            return driver
    return None

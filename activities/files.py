"""Files in an agent's activities: read an uploaded ``file`` input, write a file result.

A MIP-003 ``file`` field's value is the file's URL on the platform's API
(``<API>/files/<id>``, from ``POST /files``). An agent passes that URL to one of its
activities, which reads the bytes with :func:`read_file`; an activity that makes a file
(a report, an image) stores it with :func:`write_file` and returns its URL as the job's
result (a result field with ``outputFormat: url``). The buyer downloads it through a
signed, expiring link from the API (``GET /files/<id>``); the bytes never pass through
Temporal's history.

Both helpers run only inside an activity of a worker built with durasumi's client
(``durasumi worker``, or ``client/connect.connect``): they use that worker's payload store
and codec, so a vendor's worker reads and writes with its own key. Their I/O is the object
store's: call them from an activity, never from workflow code.

Example:
    >>> from temporalio import activity
    >>> from durasumi.activities.files import read_file, write_file
    >>> @activity.defn
    ... async def shout(url: str) -> str:
    ...     text = (await read_file(url)).decode()
    ...     return await write_file(text.upper().encode(), content_type="text/plain")
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.workers.claim_check import payload_store_of
from durasumi.workers.codec import CodecError, KeyringCodec
from durasumi.workers.files import FileMissing, FileStore, file_id_from_url, file_url
from durasumi.workers.keyring import agent_of

__all__ = ["FILE_NOT_FOUND", "NO_FILE_STORE", "read_file", "write_file"]

FILE_NOT_FOUND = "FileNotFound"
NO_FILE_STORE = "NoFileStore"
_AGENT_SUFFIX = "-agent"


def _store() -> tuple[FileStore, str | None]:
    converter = activity.client().data_converter
    store = payload_store_of(converter)
    if store is None:
        raise ApplicationError(
            "this worker has no payload store (DURASUMI_PAYLOAD_STORE is off, or its client "
            "was not built by durasumi): files cannot be read or written",
            type=NO_FILE_STORE,
            non_retryable=True,
        )
    codec = converter.payload_codec
    return FileStore(store.objects, codec if isinstance(codec, KeyringCodec) else None), (
        store.api_url
    )


async def read_file(url: str) -> bytes:
    """The bytes of the file at ``url`` (a ``file`` field's value, or a file id).

    Only the agent the file was uploaded for may read it.

    Raises:
        ApplicationError: ``FileNotFound`` (not retried) when there is no such file for
            this agent.
    """
    store, _ = _store()
    agent = agent_of(activity.info().workflow_id)
    file_id = file_id_from_url(url)
    try:
        if file_id is None:
            raise FileMissing(f"not a durasumi file URL: {url[:200]!r}")
        meta = await store.meta(file_id)
        if meta.agent is not None and agent is not None and meta.agent != agent:
            raise FileMissing(f"file {file_id} was not given to agent {agent!r}")
        return await store.read(file_id)
    except (FileMissing, CodecError) as err:
        raise ApplicationError(str(err), type=FILE_NOT_FOUND, non_retryable=True) from None


async def write_file(
    data: bytes, *, content_type: str = "application/octet-stream", name: str = "result"
) -> str:
    """Store ``data`` as a file of this job; its URL, for the job's result.

    Only the job's buyer can download it, through a signed link from the API. A retried
    activity stores a second copy and returns its URL; the result names one of them.
    """
    store, api_url = _store()
    workflow_id = activity.info().workflow_id or ""
    agent = agent_of(workflow_id)
    job_id = workflow_id.removesuffix(_AGENT_SUFFIX) if agent else None
    meta = await store.put(data, name=name, content_type=content_type, agent=agent, job_id=job_id)
    return file_url(api_url or "", meta.file_id)

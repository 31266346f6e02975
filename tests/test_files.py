"""Files: upload for a ``file`` field, read in an agent's activity, result downloaded by link."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from durasumi.workers.codec import ENCODING, KEY_ID
from tests.api_fixtures import Api
from tests.file_agents import ECHO_PREFIX
from tests.storage_fixtures import Stored, s3_server, stored, stored_api  # noqa: F401
from tests.test_codec import payloads_in, raw_history

MARKER = b"durasumi-upload-plaintext-"
SIZE = 50_000_000
UPLOAD = {"agent": "file-echo", "field": "doc", "name": "doc.bin"}
OCTETS = {"content-type": "application/octet-stream"}


def link_for(file_id: str, expires: int) -> str:
    """A download link signed here, from docs/limits.md's description (not the API's code)."""
    key = HKDF(hashes.SHA256(), 32, salt=None, info=b"durasumi-file-links-v1").derive(
        bytes.fromhex("11" * 32)  # the test API's DURASUMI_SIGNING_SECRET
    )
    message = f"durasumi-file-link-v1\n{file_id}\n{expires}".encode()
    signature = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"/files/{file_id}/content?expires={expires}&signature={signature}"


async def declared_only(api: Api, length: int) -> bytes:
    """Send only the headers of an upload declaring ``length`` bytes: the answer comes first."""
    host, port = urlsplit(api.url).netloc.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    query = "agent=file-echo&field=doc&name=doc.bin"
    writer.write(
        f"POST /files?{query} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {api.keys['alice']}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    await writer.drain()
    answer = b""
    while not answer.endswith(b"}"):  # the JSON error body ends the answer
        chunk = await asyncio.wait_for(reader.read(4096), 10)
        if not chunk:
            break
        answer += chunk
    writer.close()
    return answer


async def finish(stored: Stored, job_id: str) -> dict:  # noqa: F811
    done = await asyncio.wait_for(stored.platform.get_workflow_handle(job_id).result(), 90)
    assert done["status"] == "completed", str(done)[:500]
    return done["result"]


async def test_a_50_mb_file_round_trips_through_an_agent(
    stored: Stored,  # noqa: F811
    stored_api: Api,  # noqa: F811
    client: Client,
) -> None:
    data = (MARKER * (SIZE // len(MARKER) + 1))[:SIZE]
    async with stored_api.client("alice") as http:
        resp = await http.post("/files", params=UPLOAD, content=data, headers=OCTETS)
        assert resp.status_code == 201, resp.text
        upload = resp.json()
        assert upload["size"] == SIZE and upload["sha256"] == hashlib.sha256(data).hexdigest()
        assert upload["url"] == f"{stored_api.url}/files/{upload['file_id']}"
        resp = await http.post(
            "/agents/file-echo/start_job",
            json={
                "identifier_from_purchaser": secrets.token_hex(8),
                "input_data": {"doc": upload["url"]},
            },
        )
        assert resp.status_code == 200, resp.text
        job_id = resp.json()["job_id"]
        result = await finish(stored, job_id)
        # The agent's activity read exactly the uploaded bytes.
        assert result["sha256"] == hashlib.sha256(data).hexdigest() and result["size"] == SIZE
        file_id = result["file"].rsplit("/", 1)[1]
        assert result["file"].endswith(f"/files/{file_id}")
        # The buyer gets a signed, expiring link, and downloads without a key.
        resp = await http.get(f"/files/{file_id}/link")
        assert resp.status_code == 200, resp.text
        link = resp.json()["url"]
        query = parse_qs(urlsplit(link).query)
        assert 0 < int(query["expires"][0]) - time.time() <= 61
        redirect = await http.get(f"/files/{file_id}")
        assert redirect.status_code == 307 and "/content?" in redirect.headers["location"]
    async with httpx.AsyncClient(timeout=60) as anyone:
        got = await anyone.get(link)
        assert got.status_code == 200
        assert got.content == ECHO_PREFIX + data
        assert got.headers["content-type"] == "application/octet-stream"
        assert 'filename="e.bin"' in got.headers["content-disposition"]
        # The uploader downloads the upload the same way.
    async with stored_api.client("alice") as http:
        own = (await http.get(f"/files/{upload['file_id']}/link")).json()["url"]
    async with httpx.AsyncClient(timeout=60) as anyone:
        assert (await anyone.get(own)).content == data
    # Nothing big in history: the bytes went through the store only.
    for workflow_id in (job_id, f"{job_id}-agent"):
        raw = await raw_history(client, workflow_id)
        assert len(raw) < 100_000 and MARKER not in raw
        assert max(p.ByteSize() for p in payloads_in(raw)) < 10_000
    # At rest: sealed with the vendor's key, no plaintext anywhere in the bucket.
    objects = stored.objects()
    for name in (upload["file_id"], file_id):
        sealed = Payload.FromString(objects[f"files/{name}/data"])
        assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"acme-1"
    assert not [key for key, body in objects.items() if MARKER in body]


async def test_only_the_jobs_buyer_gets_a_link_and_links_are_checked(
    stored: Stored,  # noqa: F811
    stored_api: Api,  # noqa: F811
) -> None:
    async with stored_api.client("alice") as http:
        resp = await http.post("/files", params=UPLOAD, content=b"tiny", headers=OCTETS)
        upload_id = resp.json()["file_id"]
        resp = await http.post(
            "/agents/file-echo/start_job",
            json={
                "identifier_from_purchaser": secrets.token_hex(8),
                "input_data": {"doc": resp.json()["url"]},
            },
        )
        result = await finish(stored, resp.json()["job_id"])
    file_id = result["file"].rsplit("/", 1)[1]
    for who in ("bob", "vendor", "other-vendor"):
        async with stored_api.client(who) as http:
            for path in (f"/files/{file_id}/link", f"/files/{upload_id}/link"):
                resp = await http.get(path)
                assert resp.status_code == 404, (who, resp.text)
                assert resp.json()["error"] == "not_found"
    async with stored_api.client("operator") as http:
        assert (await http.get(f"/files/{file_id}/link")).status_code == 200
    async with stored_api.client() as anyone:
        assert (await anyone.get(f"/files/{file_id}/link")).status_code == 401
        # A link signed as the API signs it works; expired or forged ones are refused.
        good = await anyone.get(link_for(file_id, int(time.time()) + 30))
        assert good.status_code == 200 and good.content == ECHO_PREFIX + b"tiny"
        expired = await anyone.get(link_for(file_id, int(time.time()) - 1))
        assert expired.status_code == 403 and "expired" in expired.json()["message"]
        forged = link_for(file_id, int(time.time()) + 30)[:-4] + "0000"
        resp = await anyone.get(forged)
        assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
        other = link_for(upload_id, int(time.time()) + 30).replace(upload_id, file_id)
        assert (await anyone.get(other)).status_code == 403  # one file's link opens no other


async def test_uploads_are_refused_clearly(
    stored: Stored,  # noqa: F811
    stored_api: Api,  # noqa: F811
) -> None:
    async with stored_api.client("alice") as http:
        # Not what the field accepts (application/octet-stream or .bin).
        resp = await http.post(
            "/files",
            params=UPLOAD | {"name": "a.txt"},
            content=b"x",
            headers={"content-type": "text/plain"},
        )
        assert resp.status_code == 415 and resp.json()["error"] == "unsupported_media_type"
        ok = await http.post(
            "/files",
            params=UPLOAD | {"name": "a.bin"},
            content=b"x",
            headers={"content-type": "text/plain"},
        )
        assert ok.status_code == 201  # the extension is accepted
        resp = await http.post(
            "/files", params=UPLOAD | {"field": "nope"}, content=b"x", headers=OCTETS
        )
        assert resp.status_code == 422
        resp = await http.post("/files", params={"agent": "nobody", "field": "doc"}, content=b"x")
        assert resp.status_code == 404
        # Over DURASUMI_MAX_FILE_BYTES (60 MB here): declared, and streamed without a length.
        declared = await declared_only(stored_api, 60_000_001)
        assert declared.startswith(b"HTTP/1.1 413 ")
        assert json.loads(declared.split(b"\r\n\r\n", 1)[1]) == {
            "error": "payload_too_large",
            "message": "request body over 60000000 bytes",
            "errors": [],
        }

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(61):
                yield b"y" * 1_000_000

        streamed = await http.post("/files", params=UPLOAD, content=chunks(), headers=OCTETS)
        assert streamed.status_code == 413 and streamed.json()["error"] == "payload_too_large"
        # JSON bodies keep the API's own limit (64 KiB in tests), the same shape.
        big = {"identifier_from_purchaser": "0123456789abcdef", "input_data": {"doc": "x" * 70_000}}
        resp = await http.post("/agents/file-echo/start_job", json=big)
        assert resp.status_code == 413 and resp.json()["error"] == "payload_too_large"
    async with stored_api.client("vendor") as http:
        resp = await http.post("/files", params=UPLOAD, content=b"x", headers=OCTETS)
        assert resp.status_code == 403


async def test_a_file_for_a_form_asked_during_the_job(
    stored: Stored,  # noqa: F811
    stored_api: Api,  # noqa: F811
) -> None:
    text = b"an attachment, uploaded for the pending form"
    async with stored_api.client("alice") as http:
        resp = await http.post(
            "/agents/file-ask/start_job",
            json={"identifier_from_purchaser": secrets.token_hex(8), "input_data": {"note": "n"}},
        )
        job_id = resp.json()["job_id"]
        for _ in range(100):
            view = (await http.get(f"/jobs/{job_id}")).json()
            if view["status"] == "awaiting_input":
                break
            await asyncio.sleep(0.1)
        params = {"job": job_id, "field": "attachment", "name": "a.txt"}
        refused = await http.post("/files", params=params, content=text, headers=OCTETS)
        assert refused.status_code == 415  # the form's field accepts text/* only
        resp = await http.post(
            "/files", params=params, content=text, headers={"content-type": "text/plain"}
        )
        assert resp.status_code == 201, resp.text
        resp = await http.post(
            f"/jobs/{job_id}/input",
            json={"form_id": "attach", "values": {"attachment": resp.json()["url"]}},
        )
        assert resp.status_code == 200, resp.text
    async with stored_api.client("bob") as http:  # not bob's job: no upload for its form
        resp = await http.post(
            "/files", params=params, content=text, headers={"content-type": "text/plain"}
        )
        assert resp.status_code == 404
    result = await finish(stored, job_id)
    assert result == {"size": len(text), "sha256": hashlib.sha256(text).hexdigest()}


async def test_odd_links_are_refused_not_errors(stored_api: Api) -> None:  # noqa: F811
    async with stored_api.client() as anyone:
        for path in (
            "/files/%F1%99%B9%B1T/content?expires=140&signature=%C2%AF%C2%A0",
            f"/files/{'ab' * 16}/content?expires=99999999999&signature={'0' * 64}",
            f"/files/{'ab' * 16}/content?expires=-1&signature=x",
        ):
            resp = await anyone.get(path)
            assert resp.status_code in (403, 422), (path, resp.status_code)
    async with stored_api.client("alice") as http:
        for path in ("/files/%F1%99%B9/link", f"/files/{'ab' * 16}", "/files/..%2f..%2fetc"):
            assert (await http.get(path)).status_code == 404, path

"""The claim check: big payloads live in the store as ciphertext, history holds a reference."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from durasumi.client.temporal_http import HttpApi, StoredPayload, TemporalHttp
from durasumi.workers.claim_check import DRIVER_NAME, StoredPayloadMissing, payload_storage
from durasumi.workers.codec import ENCODING, KEY_ID, Keyring, KeyringCodec, data_converter
from durasumi.workers.plugin import DurasumiPlugin
from durasumi.workers.settings import Settings
from tests.conftest import ROOT
from tests.file_agents import MARKER, big_text
from tests.storage_fixtures import Stored, s3_server, stored, stored_api  # noqa: F401
from tests.test_codec import payloads_in, raw_history

MEGABYTES = 20
REFERENCE_TYPE = b"temporal.api.sdk.v1.ExternalStorageReference"
KEYS = Keyring({"k1": bytes(32)}, active="k1")


def folder_converter(tmp_path: Path, threshold: int = 64 * 1024):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path, payload_store_threshold=threshold)
    return data_converter(KEYS, payload_storage(settings)), tmp_path / "objects"


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_folder_store_round_trip_and_ciphertext_at_rest(tmp_path: Path) -> None:
    converter, root = folder_converter(tmp_path)
    secret = f"secret-{secrets.token_hex(8)}"
    big = {"text": secret * (200_000 // len(secret))}
    [reference] = await converter.encode([big])
    # History would hold this: a reference naming the object, with no user data in it.
    assert reference.metadata["messageType"] == REFERENCE_TYPE
    assert reference.ByteSize() < 1024 and secret.encode() not in reference.SerializeToString()
    assert DRIVER_NAME.encode() in reference.data
    [obj] = stored_files(root)
    at_rest = obj.read_bytes()
    assert secret.encode() not in at_rest
    sealed = Payload.FromString(at_rest)
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    # Content-addressed: the key is the SHA-256 of the stored bytes (computed here by hand).
    assert obj.name == hashlib.sha256(at_rest).hexdigest()
    assert await converter.decode([reference], [dict]) == [big]
    # The same value written again (a query answered twice) is the same object.
    [again] = await converter.encode([big])
    assert again == reference and len(stored_files(root)) == 1
    # Small payloads stay inline (encrypted as before).
    [small] = await converter.encode([{"text": secret}])
    assert small.metadata["encoding"] == ENCODING and len(stored_files(root)) == 1


async def test_a_damaged_or_missing_object_is_refused(tmp_path: Path) -> None:
    converter, root = folder_converter(tmp_path)
    [reference] = await converter.encode(["x" * 100_000])
    [obj] = stored_files(root)
    raw = bytearray(obj.read_bytes())
    raw[-1] ^= 1
    obj.write_bytes(bytes(raw))
    with pytest.raises(StoredPayloadMissing, match="does not match its digest"):
        await converter.decode([reference], [str])
    obj.unlink()
    with pytest.raises(StoredPayloadMissing, match="missing from folder"):
        await converter.decode([reference], [str])


async def test_a_20_mb_result_round_trips(
    stored: Stored,  # noqa: F811
    stored_api,  # noqa: F811
    client: Client,
) -> None:
    async with stored_api.client("alice") as http:
        resp = await http.post(
            "/agents/big-result/start_job",
            json={
                "identifier_from_purchaser": secrets.token_hex(8),
                "input_data": {"megabytes": MEGABYTES},
            },
        )
        assert resp.status_code == 200, resp.text
        job_id = resp.json()["job_id"]
        handle = stored.platform.get_workflow_handle(job_id)
        done = await asyncio.wait_for(handle.result(), 60)
        assert done["status"] == "completed", str(done)[:300]
        # The buyer reads it through the API, whose client resolves the reference.
        resp = await http.get(f"/jobs/{job_id}")
        assert resp.status_code == 200
        body = resp.json()
    expected = big_text(MEGABYTES)
    assert body["status"] == "completed" and body["result"]["text"] == expected
    for workflow_id in (job_id, f"{job_id}-agent"):
        # The session's client has no codec and no store: it sees what Temporal stores.
        raw = await raw_history(client, workflow_id)
        assert len(raw) < 200_000, (workflow_id, len(raw))
        assert MARKER.encode() not in raw
        references = [
            p for p in payloads_in(raw) if p.metadata.get("messageType") == REFERENCE_TYPE
        ]
        assert references, workflow_id
        assert max(p.ByteSize() for p in payloads_in(raw)) < 256 * 1024
    objects = stored.objects()
    big = [body for key, body in objects.items() if len(body) > MEGABYTES * 1_000_000]
    assert len(big) >= 2  # the agent's result (vendor key) and the job's (platform key)
    for key, at_rest in objects.items():
        assert MARKER.encode() not in at_rest, key
        sealed = Payload.FromString(at_rest)
        assert sealed.metadata["encoding"] == ENCODING, key
    key_ids = {Payload.FromString(b).metadata[KEY_ID] for b in big}
    assert key_ids == {b"platform-1", b"acme-1"}


async def test_the_cli_reads_a_claim_checked_result(stored: Stored) -> None:  # noqa: F811
    started = await stored.stack.start("big-result", {"megabytes": 3})
    await asyncio.wait_for(stored.platform.get_workflow_handle(started.job_id).result(), 60)
    # The CLI's quick read (Temporal's HTTP API) meets the reference and falls back to the
    # SDK's client, whose converter reads the store: the same settings as every process.
    store_env = {f"DURASUMI_{k.upper()}": str(v) for k, v in stored.store_settings.items() if v}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "result", started.job_id,
        cwd=ROOT, env=stored.stack.env() | store_env | {"NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out) == {"text": big_text(3)}


async def test_the_http_read_path_hands_stored_payloads_to_the_sdk(tmp_path: Path) -> None:
    converter, _ = folder_converter(tmp_path)
    [reference] = await converter.encode(["x" * 100_000])
    http = TemporalHttp(HttpApi("http://127.0.0.1:9", "default"), keyring=KEYS)
    as_json = {
        "metadata": {k: base64.b64encode(v).decode() for k, v in reference.metadata.items()},
        "data": base64.b64encode(reference.data).decode(),
    }
    with pytest.raises(StoredPayload):  # an HttpApiUnavailable: the CLI asks gRPC instead
        http.decode(as_json)


def test_a_vendors_own_worker_gets_the_claim_check_from_the_plugin(tmp_path: Path) -> None:
    storage = payload_storage(Settings(home=tmp_path))
    plugin = DurasumiPlugin(keyring=KEYS, storage=storage, agents=False)
    converter = plugin._converter_for(None)
    assert converter.external_storage is storage
    assert isinstance(converter.payload_codec, KeyringCodec)

"""Encrypted payloads: the keyring codec, a real job's history, and the codec endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, MarkerRecordedEventAttributes
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext
from temporalio.worker import Worker

from durasumi.client import jobs
from durasumi.db.registry import describe
from durasumi.workers.codec import (
    ENCODING,
    KEY_ID,
    CodecError,
    Keyring,
    KeyringCodec,
    agent_of,
    create_keyring_file,
    data_converter,
)
from durasumi.workers.devserver import DevServer
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workers.settings import Settings
from durasumi.workflows.models import JobStatus, Submission
from tests.agents import CounterAgent
from tests.api_fixtures import Api, serve_api
from tests.conftest import ROOT, Stack

PLAIN = Payload(metadata={"encoding": b"json/plain", "x-extra": b"kept"}, data=b'{"a": "hello"}')
CHILD = "job-counter-" + "ab" * 12 + "-agent"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def keys(*ids: str) -> dict[str, bytes]:
    return {i: os.urandom(32) for i in ids}


def as_json(p: Payload) -> dict[str, Any]:
    return {"metadata": {k: b64(v) for k, v in p.metadata.items()}, "data": b64(p.data)}


# --- the codec itself -----------------------------------------------------------------


async def test_roundtrip_restores_the_exact_payload() -> None:
    codec = KeyringCodec(Keyring(keys("k1"), active="k1"))
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"hello" not in sealed.data and b"json/plain" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == PLAIN  # metadata (its own encoding included) and data, byte for byte
    assert (await codec.encode([PLAIN]))[0].data != sealed.data  # a fresh nonce each time


async def test_old_payloads_decode_after_rotation() -> None:
    ring = keys("2025", "2026")
    old = KeyringCodec(Keyring({"2025": ring["2025"]}, active="2025"))
    [sealed_old] = await old.encode([PLAIN])
    rotated = KeyringCodec(Keyring(ring, active="2026"))
    [sealed_new] = await rotated.encode([PLAIN])
    assert sealed_new.metadata[KEY_ID] == b"2026"
    assert await rotated.decode([sealed_old, sealed_new]) == [PLAIN, PLAIN]


async def test_an_unknown_key_id_is_named() -> None:
    [sealed] = await KeyringCodec(Keyring(keys("gone-1"), active="gone-1")).encode([PLAIN])
    other = KeyringCodec(Keyring(keys("new-2"), active="new-2"))
    with pytest.raises(CodecError, match=r"key 'gone-1'.*keyring: new-2"):
        await other.decode([sealed])


async def test_tampered_ciphertext_is_rejected() -> None:
    ring = keys("a", "b")
    codec = KeyringCodec(Keyring(ring, active="a"))
    [sealed] = await codec.encode([PLAIN])
    flipped = Payload(
        metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"b"}, data=sealed.data)
    with pytest.raises(CodecError, match="key 'b' failed authentication"):
        await codec.decode([relabelled])


async def test_plain_payloads_pass_and_nothing_is_encrypted_twice() -> None:
    codec = KeyringCodec(Keyring(keys("k"), active="k"))
    assert await codec.decode([PLAIN]) == [PLAIN]  # written before encryption was on
    [sealed] = await codec.encode([PLAIN])
    assert await codec.encode([sealed]) == [sealed]


def test_agent_payloads_use_their_vendor_key() -> None:
    ring = Keyring(keys("platform", "acme", "other"), "platform", {"counter": "acme", "*": "other"})
    codec = KeyringCodec(ring)
    assert agent_of(CHILD) == "counter" and agent_of(CHILD.removesuffix("-agent")) is None
    assert codec.with_context(WorkflowSerializationContext("ns", CHILD)).key_id == "acme"
    job = CHILD.removesuffix("-agent")
    assert codec.with_context(WorkflowSerializationContext("ns", job)).key_id == "platform"
    trip = "job-trip-planner-" + "0" * 24 + "-agent"
    assert codec.with_context(WorkflowSerializationContext("ns", trip)).key_id == "other"
    assert codec.key_id == "platform"  # with_context returns a copy


KEY = b64(bytes(32))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"codec_keys": "k1:not base64!"}, "key 'k1': not valid base64"),
        ({"codec_keys": f"k1:{b64(bytes(16))}"}, "key 'k1': 16 bytes, a key must be 32 bytes"),
        ({"codec_keys": f"k1:{KEY},k2:{KEY}"}, "set DURASUMI_CODEC_ACTIVE_KEY"),
        ({"codec_keys": f"k1:{KEY}", "codec_active_key": "k9"}, "active key 'k9' is not in"),
        ({"codec_keys": f"k1:{KEY}", "codec_agent_keys": "counter:k9"}, "agent 'counter' maps"),
        ({"codec_keys": KEY}, "expected id:base64key"),
        ({"codec_active_key": "k1"}, "no codec keys"),
    ],
)
def test_bad_key_settings_are_named(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        Settings(home=tmp_path, **env)  # type: ignore[arg-type]
    assert KEY not in str(err.value)  # never echo key material


def test_keys_from_a_file_and_from_settings(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).codec_keyring() is None  # no keys: payloads stay plain
    assert data_converter(None).payload_codec is None
    made = create_keyring_file(tmp_path / "codec-keys.json", vendors=["acme"])
    assert oct((tmp_path / "codec-keys.json").stat().st_mode & 0o777) == "0o600"
    ring = Settings(home=tmp_path).codec_keyring()  # the dev file in home is found
    assert ring is not None and ring.active == made.active and ring.keys == made.keys
    assert ring.key_id_for("anything").startswith("vendor-acme-")
    more = Settings(home=tmp_path, codec_keys=SecretStr(f"next:{KEY}"), codec_active_key="next")
    ring = more.codec_keyring()
    assert ring is not None and ring.active == "next" and made.active in ring.keys
    (tmp_path / "codec-keys.json").write_text("{not json")
    with pytest.raises(ValidationError, match="codec keys file"):
        Settings(home=tmp_path)


async def test_cli_names_a_bad_key_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DURASUMI_HOME": str(tmp_path), "DURASUMI_CODEC_KEYS": "k1:abc"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "agents", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, (out, err)
    assert err.decode().strip().count("\n") == 0 and "key 'k1'" in err.decode()


# --- a real job: platform and vendor hold different keyrings --------------------------


@dataclass
class Encrypted:
    platform: Client  # platform, API: every key
    vendor: Client  # the vendor's worker: its own key only
    stack: Stack
    ring: dict[str, bytes] = field(repr=False)


@asynccontextmanager
async def serving(
    address: str, home: Path, prefix: str, full: Keyring, vendor_only: Keyring
) -> AsyncIterator[Encrypted]:
    """Platform worker and client with ``full``; the agent's worker with ``vendor_only``."""
    platform = await Client.connect(address, data_converter=data_converter(full))
    vendor = await Client.connect(address, data_converter=data_converter(vendor_only))
    stack = Stack(platform, address, home, f"{prefix}-platform", prefix)
    stack.records["counter"] = describe(
        CounterAgent, task_queue=stack.queue("counter"), vendor="acme"
    )
    workers: list[Worker] = [
        platform_worker(platform, stack.platform_queue),
        agent_worker(vendor, [CounterAgent], stack.queue("counter")),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield Encrypted(platform, vendor, stack, dict(full.keys))
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def encrypted(temporal: DevServer, tmp_path: Path) -> AsyncIterator[Encrypted]:
    ring = keys("platform-1", "acme-1")
    full = Keyring(ring, "platform-1", {"counter": "acme-1"})
    vendor_only = Keyring({"acme-1": ring["acme-1"]}, "acme-1")
    prefix = f"codec-{uuid.uuid4().hex[:8]}"
    async with serving(temporal.address, tmp_path, prefix, full, vendor_only) as e:
        yield e


async def run_job(e: Encrypted, secret: str) -> str:
    trace = str(e.stack.home / "trace")
    started = await e.stack.start(
        "counter", {"trace": trace, "before": 0, "after": 1, "step_seconds": 0}
    )
    await e.stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    await jobs.submit_form(
        e.platform, started.job_id, Submission(form_id="answer", values={"text": secret})
    )
    view = await e.stack.wait_for(started.job_id, JobStatus.COMPLETED)
    assert view.result == {"answer": secret, "steps": 1}  # decoded on the way back
    return started.job_id


async def raw_history(client: Client, workflow_id: str) -> bytes:
    """The workflow's history as Temporal stores it, serialized."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return History(events=history.events).SerializeToString()


def payloads_in(history_bytes: bytes, *, data: bool = False) -> list[Payload]:
    """Every payload in a serialized history; with ``data``, not search attributes or UI
    metadata (summaries) nor the SDK's patch markers, only what workflows and activities
    exchange."""
    found: list[Payload] = []
    skip = {"user_metadata", "search_attributes"} if data else set()

    def walk(message: Message) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        if data and isinstance(message, MarkerRecordedEventAttributes):
            if message.marker_name == "core_patch":  # the SDK's patch id, written plain
                return
        for fd, value in message.ListFields():
            if fd.message_type is None or fd.name in skip:  # a scalar, or not data
                continue
            if isinstance(value, Message):
                items: list[Any] = [value]
            elif fd.message_type.GetOptions().map_entry:
                items = list(value.values())
            else:
                items = list(value)  # a repeated message field
            for item in items:
                if isinstance(item, Message):
                    walk(item)

    walk(History.FromString(history_bytes))
    return found


async def test_no_plaintext_in_a_real_jobs_history(encrypted: Encrypted, client: Client) -> None:
    secret = f"form-answer-{uuid.uuid4().hex}"
    job_id = await run_job(encrypted, secret)
    for workflow_id in (job_id, f"{job_id}-agent"):
        # The session's client has no codec: it reads what Temporal stores.
        raw = await raw_history(client, workflow_id)
        assert secret.encode() not in raw and b"form-answer" not in raw
        sealed = [p for p in payloads_in(raw) if p.metadata.get("encoding") == ENCODING]
        assert len(sealed) >= 3
        plain = [p for p in payloads_in(raw, data=True) if p.metadata.get("encoding") != ENCODING]
        assert not plain, plain
        key_ids = {p.metadata[KEY_ID] for p in payloads_in(raw, data=True)}
        # The job's own payloads use the platform key, except what the vendor's worker
        # wrote (agent events signalled to the job, the agent's result); every data
        # payload of the agent child uses the vendor key. (The child's Web UI summary is
        # the job's, so platform-keyed; it names the agent and the job, no user data.)
        want = {b"platform-1", b"acme-1"} if workflow_id == job_id else {b"acme-1"}
        assert key_ids == want, workflow_id
    job_input = (
        (await client.get_workflow_handle(job_id).fetch_history())
        .events[0]
        .workflow_execution_started_event_attributes.input.payloads[0]
    )
    assert job_input.metadata[KEY_ID] == b"platform-1"
    # The vendor's keyring cannot open the platform's payloads, naming the missing key.
    vendor_codec = encrypted.vendor.data_converter.payload_codec
    assert vendor_codec is not None
    with pytest.raises(CodecError, match="platform-1"):
        await vendor_codec.decode([job_input])


async def test_a_paused_job_survives_key_rotation(
    temporal: DevServer, tmp_path: Path, client: Client
) -> None:
    """Paused under the old keys, answered and finished after both keys rotated."""
    old, new = keys("platform-1", "acme-1"), keys("platform-2", "acme-2")
    prefix = f"rot-{uuid.uuid4().hex[:8]}"
    trace = str(tmp_path / "trace")
    async with serving(
        temporal.address, tmp_path, prefix,
        Keyring(old, "platform-1", {"counter": "acme-1"}), Keyring({"acme-1": old["acme-1"]}, "acme-1"),
    ) as before:  # fmt: skip
        started = await before.stack.start(
            "counter", {"trace": trace, "before": 0, "after": 1, "step_seconds": 0}
        )
        await before.stack.wait_for(started.job_id, JobStatus.AWAITING_INPUT)
    # Rotation: every process gets the new keys as active and keeps the old ones to read.
    both = old | new
    async with serving(
        temporal.address, tmp_path, prefix,
        Keyring(both, "platform-2", {"counter": "acme-2"}),
        Keyring({"acme-1": old["acme-1"], "acme-2": new["acme-2"]}, "acme-2"),
    ) as after:  # fmt: skip
        await jobs.submit_form(
            after.platform, started.job_id, Submission(form_id="answer", values={"text": "late"})
        )
        view = await after.stack.wait_for(started.job_id, JobStatus.COMPLETED)
        assert view.result == {"answer": "late", "steps": 1}
    child = payloads_in(await raw_history(client, f"{started.job_id}-agent"), data=True)
    assert {p.metadata[KEY_ID] for p in child} == {b"acme-1", b"acme-2"}  # old and new, read


# --- the codec endpoint ----------------------------------------------------------------


@pytest.fixture
async def codec_api(encrypted: Encrypted) -> AsyncIterator[Api]:
    db_url = f"sqlite:///{encrypted.stack.home / 'api.db'}"
    async for api in serve_api(encrypted.stack, db_url, encrypted.stack.home):
        yield api


UI = "http://127.0.0.1:8233"  # the default allowed origin: the dev Web UI


async def test_decode_endpoint_opens_a_real_jobs_payloads(
    codec_api: Api, encrypted: Encrypted, client: Client
) -> None:
    secret = f"decode-me-{uuid.uuid4().hex}"
    job_id = await run_job(encrypted, secret)
    raw = await raw_history(client, f"{job_id}-agent")
    sealed = [p for p in payloads_in(raw) if p.metadata.get("encoding") == ENCODING]
    body = {"payloads": [as_json(p) for p in sealed]}
    async with codec_api.client("operator") as http:
        r = await http.post("/codec/decode", json=body, headers={"X-Namespace": "default"})
    assert r.status_code == 200, r.text
    opened = r.json()["payloads"]
    assert len(opened) == len(sealed)
    texts = [base64.b64decode(p.get("data", "")).decode() for p in opened]
    assert any(secret in t for t in texts)
    assert all(base64.b64decode(p["metadata"]["encoding"]) != ENCODING for p in opened)


async def test_encode_then_decode_over_http(codec_api: Api) -> None:
    body = {"payloads": [as_json(PLAIN)]}
    async with codec_api.client("operator") as http:
        sealed = (await http.post("/codec/encode", json=body)).json()
        assert base64.b64decode(sealed["payloads"][0]["metadata"][KEY_ID]) == b"platform-1"
        assert b"hello" not in base64.b64decode(sealed["payloads"][0]["data"])
        opened = (await http.post("/codec/decode", json=sealed)).json()
    assert opened == body


async def test_only_operators_may_decode(codec_api: Api) -> None:
    body = {"payloads": [as_json(PLAIN)]}
    async with codec_api.client() as anon:
        r = await anon.post("/codec/decode", json=body)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = await anon.post("/codec/decode", json=body, headers={"X-API-Key": "dsk_no_such"})
        assert r.status_code == 401
        for who in ("alice", "vendor"):
            r = await anon.post(
                "/codec/decode", json=body, headers={"X-API-Key": codec_api.keys[who]}
            )
            assert r.status_code == 403 and "operator" in r.json()["message"], who
        bearer = {"Authorization": f"Bearer {codec_api.keys['operator']}"}
        assert (await anon.post("/codec/decode", json=body, headers=bearer)).status_code == 200
        # The browser's way: sign in once, then the HttpOnly session cookie authenticates.
        r = await anon.post("/codec/session", data={"key": codec_api.keys["alice"]})
        assert r.status_code == 403 and "durasumi_codec" not in r.cookies
        r = await anon.post("/codec/session", data={"key": codec_api.keys["operator"]})
        assert r.status_code == 200 and "Signed in" in r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/codec" in cookie
        assert (await anon.post("/codec/decode", json=body)).status_code == 200
        assert (await anon.delete("/codec/session")).status_code == 204
        anon.cookies.clear()
        assert (await anon.post("/codec/decode", json=body)).status_code == 401
        login = await anon.get("/codec/login")
        assert login.status_code == 200 and 'name="key"' in login.text


async def test_cors_for_the_web_ui(codec_api: Api) -> None:
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with codec_api.client() as http:
        r = await http.options("/codec/decode", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == UI
        assert r.headers["access-control-allow-credentials"] == "true"
        allowed = r.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-namespace", "authorization"} <= set(allowed.split(", "))
        evil = await http.options(
            "/codec/decode", headers={**preflight, "Origin": "http://evil.example"}
        )
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
        # The answers themselves, refusals included, carry the headers the browser needs.
        denied = await http.post("/codec/decode", json={"payloads": []}, headers={"Origin": UI})
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == UI
        ok = await http.post(
            "/codec/decode", json={"payloads": []},
            headers={"Origin": UI, "X-API-Key": codec_api.keys["operator"]},
        )  # fmt: skip
        assert ok.status_code == 200 and ok.json() == {"payloads": []}
        assert ok.headers["access-control-allow-credentials"] == "true"
        # Other routes get no CORS.
        other = await http.options("/jobs", headers=preflight)
        assert "access-control-allow-origin" not in other.headers


async def test_bad_bodies_are_400_json(codec_api: Api, encrypted: Encrypted) -> None:
    gone = KeyringCodec(Keyring(keys("retired-0"), active="retired-0"))
    [unknown] = await gone.encode([PLAIN])
    codec = encrypted.platform.data_converter.payload_codec
    assert codec is not None
    [sealed] = await codec.encode([PLAIN])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    cases: list[tuple[Any, str]] = [
        (b"not json", "payloads"),
        ({"payloads": "nope"}, "payloads"),
        ({}, "payloads"),
        ({"payloads": [{"metadata": {"encoding": "%%%"}, "data": ""}]}, "base64"),
        ({"payloads": [as_json(unknown)]}, "key 'retired-0'"),
        ({"payloads": [as_json(tampered)]}, "failed authentication"),
    ]
    async with codec_api.client("operator") as http:
        for body, needle in cases:
            if isinstance(body, bytes):
                r = await http.post(
                    "/codec/decode", content=body, headers={"content-type": "application/json"}
                )
            else:
                r = await http.post("/codec/decode", json=body)
            assert r.status_code == 400, (body, r.text)
            answer = r.json()
            assert answer["error"] in {"invalid_request", "bad_request"}, answer
            assert needle in json.dumps(answer), (needle, answer)

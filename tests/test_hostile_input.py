"""Hostile input: every request the facade refuses gets a clear 4xx JSON error, never a 5xx.

Each case here was once a 500, a dropped connection or a hang (issue 15): lone surrogates,
non-ASCII digits, deep nesting, huge numbers, quotes and backslashes in owner names (the
visibility query), an agent child's id used as a job id, registrations that broke
``GET /agents`` for everyone, and answers to closed jobs. Bodies are sent raw (``content=``)
where a JSON encoder would refuse or normalise them. The generated cases at the end assert
the same for arbitrary text in every text field, run bounded and deterministic.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from durasumi.api.app import create_app
from durasumi.api.deps import job_still_open
from durasumi.client import jobs
from durasumi.client.jobs import jobs_query
from durasumi.client.visibility import visibility_literal
from durasumi.db.engine import engine_for
from durasumi.db.keys import ApiKey, KeyStore, Role, check_owner
from durasumi.db.registry import AgentRecord, Registry
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workflows import search
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import Submission
from tests.api_fixtures import Api
from tests.test_api_fuzz import fresh_namespace
from tests.test_api_jobs import start, wait_job

ADA_SUPPLY_LOVELACE = 45_000_000_000_000_000
JSON = {"content-type": "application/json"}
# Values that once broke a query, a parser or an encoder somewhere (or would have).
TRICKY = [
    "o'brien",
    "back\\slash",
    "trailing\\",
    'double"quote',
    "x' OR 1=1 OR 'a'='a",
    "z\\' OR DurasumiBuyer != '",
    "'; --",
    "'alice",
    "Zoë 日本 🎉",
    "²",
    "١٢٣",
    "a\nb",
    "tab\there",
    "nul\x00byte",
    "\u202eevil",
    "%00",
    "%",
    "_",
    "",
    " ",
    "x" * 300,
]


def assert_error(resp: httpx.Response, *codes: int) -> dict[str, Any]:
    """A 4xx with the JSON error shape ``{error, message, errors}`` (one of ``codes``)."""
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:500])
    if codes:
        assert resp.status_code in codes, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert set(body) == {"error", "message", "errors"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], list)
    return body


@pytest.fixture
async def roomy_api(sqlite_api: Api) -> AsyncIterator[Api]:
    """The same facade and database with the production body limit (1 MiB), not 64 KiB."""
    settings_ = sqlite_api.settings.model_copy(update={"max_body_bytes": 1024 * 1024})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings_, sqlite_api.stack.client),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield Api(f"http://127.0.0.1:{port}", settings_, sqlite_api.stack, sqlite_api.keys)
    server.should_exit = True
    await task


def buyer_key(api: Api, owner: str) -> str:
    """A buyer key for ``owner`` in the facade's database."""
    return KeyStore(api.settings.db_url).create(Role.BUYER, owner).key


def legacy_buyer_key(api: Api, owner: str) -> str:
    """A buyer key whose owner was stored before owner names were checked."""
    issued = KeyStore(api.settings.db_url).create(Role.BUYER, "placeholder")
    with Session(engine_for(api.settings.db_url)) as session:
        row = session.get(ApiKey, issued.principal.key_id)
        assert row is not None
        row.owner = owner
        session.add(row)
        session.commit()
    return issued.key


def as_key(api: Api, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": key}, timeout=30)


# --- bodies -----------------------------------------------------------------------------


async def test_lone_surrogates_and_bad_json_in_every_body(sqlite_api: Api) -> None:
    api = sqlite_api
    job_id = await start(api, "alice", "trip-planner", {"destination": "Quito"})
    surrogate = '"\\ud800"'
    start_path = "/agents/trip-planner/start_job"
    bodies: list[tuple[str, str, str | bytes]] = [
        # start_job: in a value, in a key, in the identifier
        ("alice", start_path, '{"identifier_from_purchaser": "0123456789abcdef", '
         f'"input_data": {{"destination": {surrogate}}}}}'),
        ("alice", start_path, '{"identifier_from_purchaser": "0123456789abcdef", '
         f'"input_data": {{{surrogate}: 1}}}}'),
        ("alice", start_path, f'{{"identifier_from_purchaser": {surrogate}, "input_data": {{}}}}'),
        ("alice", start_path, '{"identifier_from_purchaser": "0123456789abcdef", '
         '"input_data": {"destination": "\\udc00\\ud800"}}'),
        # answers: the jobs API and MIP-003
        ("alice", f"/jobs/{job_id}/input", f'{{"values": {{"adults": {surrogate}}}}}'),
        ("alice", f"/jobs/{job_id}/input", f'{{"form_id": {surrogate}, "values": {{}}}}'),
        ("alice", "/agents/trip-planner/provide_input",
         f'{{"job_id": "{job_id}", "status_id": {surrogate}, "input_data": {{}}}}'),
        ("alice", f"/jobs/{job_id}/cancel", f'{{"reason": {surrogate}}}'),
        # registration
        ("vendor", "/agents", f'{{"name": "surrogate", "description": {surrogate}}}'),
        ("vendor", "/agents", f'{{"name": {surrogate}}}'),
        ("vendor", "/agents", f'{{"name": "surrogate", "example": {{"input": {surrogate}}}}}'),
        # not JSON at all, or JSON the standard does not allow
        ("alice", start_path, '{"identifier_from_purchaser": "0123456789abcdef", '
         '"input_data": {"destination": NaN}}'),
        ("alice", start_path, b'{"identifier_from_purchaser": "\xff\xfe"}'),
        ("alice", start_path, '{"identifier_from_purchaser": '),
        ("vendor", "/agents", '{"name": "big", "price_lovelace": ' + "9" * 5000 + "}"),
    ]  # fmt: skip
    for who, path, body in bodies:
        async with api.client(who) as http:
            resp = await http.post(path, content=body, headers=JSON)
            found = assert_error(resp, 400, 422)
            assert found["error"] in ("invalid_request", "bad_request"), found
    async with api.client("alice") as http:  # nothing was refused half-way: the job still waits
        assert (await http.get(f"/jobs/{job_id}")).json()["status"] == "awaiting_input"
        assert (await http.get("/agents/surrogate")).status_code == 404


async def test_deeply_nested_json(roomy_api: Api) -> None:
    deep = b"[" * 100_000  # unclosed, as reported
    closed = b"[" * 30_000 + b"]" * 30_000
    for inner in (deep, closed, b'{"a":' * 30_000 + b"1" + b"}" * 30_000):
        body = b'{"identifier_from_purchaser": "0123456789abcdef", "input_data": {"x": ' + inner
        body += b"}}"
        async with roomy_api.client("alice") as http:
            resp = await http.post("/agents/trip-planner/start_job", content=body, headers=JSON)
            assert assert_error(resp, 400)["errors"][0]["code"] == "json_invalid"
        async with roomy_api.client("vendor") as http:
            resp = await http.post(
                "/agents", content=b'{"name": "nest", "example": ' + inner + b"}", headers=JSON
            )
            assert assert_error(resp, 422)["errors"][0]["code"] == "json_invalid"
    # Nesting a real form can use is fine (the limit is far above it).
    shallow = {"identifier_from_purchaser": "0123456789abcdef", "input_data": {"x": [[["deep"]]]}}
    async with roomy_api.client("alice") as http:
        resp = await http.post("/agents/trip-planner/start_job", json=shallow)
        assert resp.status_code in (200, 400), resp.text
        assert resp.json().get("error") != "invalid_request", resp.text


async def test_identifier_from_purchaser_must_match_whole(sqlite_api: Api) -> None:
    async with sqlite_api.client("alice") as http:
        for ident in ("0123456789abcdef\n", "\n0123456789abcdef", "0123456789abcdef\r\n",
                      "0123456789abcdeg", "0" * 27, "0" * 13, "٠١٢٣٤٥٦٧٨٩٠١٢٣٤"):  # fmt: skip
            resp = await http.post(
                "/agents/trip-planner/start_job",
                json={"identifier_from_purchaser": ident, "input_data": {"destination": "Rome"}},
            )
            body = assert_error(resp, 400)
            assert "hexadecimal" in body["message"]


# --- headers, query parameters and ids --------------------------------------------------


async def test_event_offsets_and_job_ids(sqlite_api: Api) -> None:
    api = sqlite_api
    job_id = await start(api, "alice", "trip-planner", {"destination": "Oslo"})
    async with api.client("alice") as http:
        await wait_job(http, job_id, "awaiting_input")
        events = f"/jobs/{job_id}/events"
        for value in ("²".encode("latin-1"), "²".encode(), b"\xb9\xb2", b"1e3", b"-1", b"0x1",
                      b"1" * 20, b"9" * 19):  # fmt: skip
            resp = await http.get(events, headers={b"Last-Event-ID": value})
            assert_error(resp, 400, 422)
        for after in ("1" * 30, "-1", "1e3", "²", "9" * 19):
            resp = await asyncio.wait_for(http.get(events, params={"after": after}), 10)
            assert_error(resp, 400, 422)

        # An agent child's workflow id is not a job id, whoever asks.
        child = f"{job_id}-agent"
        for who in ("alice", "operator"):
            async with api.client(who) as other:
                for path in (f"/jobs/{child}", f"/jobs/{child}/events"):
                    assert_error(await other.get(path), 404)
                assert_error(await other.post(f"/jobs/{child}/cancel"), 404)
                assert_error(await other.post(f"/jobs/{child}/input", json={"values": {}}), 404)
                resp = await other.get("/agents/trip-planner/status", params={"job_id": child})
                assert_error(resp, 404)
        for bad in ("x" * 5000, "job-" + "a" * 1000, "job-trip-planner-" + "0" * 24 + "\n"):
            assert_error(await http.get(f"/jobs/{quote(bad, safe='')}"), 404)


async def test_owner_names_in_visibility_queries(sqlite_api: Api) -> None:
    api = sqlite_api
    tag = uuid.uuid4().hex[:6]
    alices = await start(api, "alice", "trip-planner", {"destination": "Cusco"})
    owners = {
        "quote": f"o'brien-{tag}",
        "injection": f"x' OR DurasumiBuyer != 'none-{tag}",
        "unicode": f"Zoë 日本 {tag}",
        "sql comment": f"x'; -- {tag}",
    }
    keys = {label: buyer_key(api, owner) for label, owner in owners.items()}
    # Stored before owner names were checked: still answered, never a 5xx.
    legacy = {
        "backslash": legacy_buyer_key(api, f"back\\slash-{tag}"),
        "double quote": legacy_buyer_key(api, f'dq"{tag}'),
        "escaped quote": legacy_buyer_key(api, f"z\\' OR 1=1 OR '{tag}"),
    }
    # Temporal strips a filter value's edge quotes: 'alice would list alice's jobs. Refused.
    edge_quote = legacy_buyer_key(api, "'alice")
    ids = {}
    for label, key in keys.items():
        async with as_key(api, key) as http:
            resp = await http.post(
                "/agents/trip-planner/start_job",
                json={
                    "identifier_from_purchaser": secrets.token_hex(8),
                    "input_data": {"destination": label},
                },
            )
            assert resp.status_code == 200, resp.text
            ids[label] = resp.json()["job_id"]
    for label, key in keys.items():
        async with as_key(api, key) as http:
            for _ in range(50):  # visibility is eventually consistent
                resp = await http.get("/jobs")
                assert resp.status_code == 200, (label, resp.text)
                rows = resp.json()["jobs"]
                if rows:
                    break
                await asyncio.sleep(0.2)
            assert [r["job_id"] for r in rows] == [ids[label]], (label, rows)
            assert all(r["buyer"] == owners[label] for r in rows)
    for label, key in legacy.items():
        async with as_key(api, key) as http:
            resp = await http.get("/jobs")
            assert resp.status_code == 200, (label, resp.text)
            assert resp.json()["jobs"] == [], label  # their own only, and they have none
            assert alices not in resp.text
    async with as_key(api, edge_quote) as http:
        body = assert_error(await http.get("/jobs"), 422)
        assert "quote" in body["message"]

    async with api.client("operator") as http:
        for label, owner in owners.items():
            resp = await http.get("/jobs", params={"buyer": owner})
            assert resp.status_code == 200, resp.text
            assert [r["job_id"] for r in resp.json()["jobs"]] == [ids[label]]
        for bad in ("a\nb", "nul\x00", "x" * 201, " padded", "back\\slash", 'dq"', "'alice", ""):
            assert_error(await http.get("/jobs", params={"buyer": bad}), 422)
        for agent in ("Trip", "trip\n", "a' OR '1'='1", "x" * 64):
            assert_error(await http.get("/jobs", params={"agent": agent}), 422)


def test_owner_names_are_checked() -> None:
    for owner in ("o'brien", "Zoë", "ops team", "日本", "a", "x" * 200, "alice@example.com"):
        assert check_owner(owner) == owner
    for owner in ("", " ", " alice", "alice ", "a\nb", "a\x00b", "a\tb", "\ud800", "a\\b",
                  'a"b', "x" * 201, "\u202eevil", "a\u2028b", "\ue000", "'alice", "alice'",
                  "''"):  # fmt: skip
        with pytest.raises(ValueError):
            check_owner(owner)
    store = KeyStore("sqlite://")
    with pytest.raises(ValueError, match="owner"):
        store.create(Role.BUYER, "a\\b")


def test_visibility_literals() -> None:
    assert visibility_literal("plain") == "'plain'"
    assert visibility_literal("o'brien") == "'o\\'brien'"
    assert visibility_literal("a\\b") == "'a\\\\b'"
    assert visibility_literal('a"b\n\x00') == "'a\\\"b\\n\\0'"
    assert visibility_literal("Zoë 日本") == "'Zoë 日本'"
    query = jobs_query(buyer="x' OR 1=1 OR 'y'='y", status="running")
    assert query == (
        "WorkflowType = 'JobWorkflow' AND ExecutionStatus != 'ContinuedAsNew' "
        "AND DurasumiStatus = 'running' "
        "AND DurasumiBuyer = 'x\\' OR 1=1 OR \\'y\\'=\\'y'"
    )
    assert visibility_literal("a''b") == "'a\\'\\'b'"
    for value in ("\ud800", "'alice", "alice'", "''", "'"):  # Temporal strips edge quotes
        with pytest.raises(ValueError):
            visibility_literal(value)


async def test_visibility_query_escaping_on_the_server(client: Client, temporal: DevServer) -> None:
    """Any text is one literal for Temporal's list-filter parser: nothing escapes it.

    Temporal's SQL visibility (SQLite here, PostgreSQL too) re-escapes backslashes, double
    quotes and control characters MySQL-style when it renders the query, so on those stores
    such values parse correctly but never match; they must still never match anything else.
    """
    ns_client = await fresh_namespace(client, temporal.address)
    tag = uuid.uuid4().hex[:8]
    exact = ["o'brien", "x' OR 1=1 OR 'y", "Zoë 日本 🎉", "pct%_", "a''b", "x'; --", "ctrl\x1aZ"]
    parsed_only = ["back\\slash", "trail\\", 'q"d', "a\nb", "z\\' OR DurasumiBuyer != 'x"]
    ids = {}
    for i, value in enumerate(exact + parsed_only):
        ids[value] = f"job-{tag}-{i}"
        await ns_client.start_workflow(
            JobWorkflow.__name__,
            id=ids[value],
            task_queue=f"nobody-{tag}",
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(search.BUYER, value), SearchAttributePair(search.AGENT, tag)]
            ),
        )
    everyone = set(ids.values())
    for _ in range(50):
        listed = {w.id async for w in ns_client.list_workflows(jobs_query(agent=tag))}
        if listed == everyone:
            break
        await asyncio.sleep(0.2)
    assert listed == everyone
    for value in exact + parsed_only:
        found = [w.id async for w in ns_client.list_workflows(jobs_query(agent=tag, buyer=value))]
        if value in exact:
            assert found == [ids[value]], value
        else:
            assert set(found) <= {ids[value]}, value
    # The same values as vendor and status filters parse too (and match nothing).
    for value in exact + parsed_only:
        query = jobs_query(agent=tag, vendor=value, status=value)
        assert [w.id async for w in ns_client.list_workflows(query)] == []


# --- agents -----------------------------------------------------------------------------


async def test_names_and_nul_on_both_databases(api: Api) -> None:
    """On SQLite and PostgreSQL (which refuses a NUL in a text parameter): 4xx, never 500."""
    names = ["%00", "a%00b", "trip-planner%00", "Trip-Planner", "trip-planner%0A", "x" * 300]
    async with api.client("alice") as http:
        for name in names:
            assert_error(await http.get(f"/agents/{name}"), 404)
            for tail in ("availability", "input_schema", "demo", "status?job_id=x"):
                assert_error(await http.get(f"/agents/{name}/{tail}"), 404)
            resp = await http.post(
                f"/agents/{name}/start_job",
                json={"identifier_from_purchaser": "0123456789abcdef", "input_data": {}},
            )
            assert_error(resp, 404)
    async with api.client("operator") as http:
        assert_error(await http.get("/jobs", params={"buyer": "nul\x00"}), 422)
    # NUL in registered text: refused where it would be a text column, kept inside JSON ones.
    async with api.client("vendor") as http:
        for body in ({"name": "nul-text", "description": "a\x00b"},
                     {"name": "nul-text", "worker_problem": "no\x00llm"}):  # fmt: skip
            assert_error(await http.post("/agents", json=body), 422)
        example = {"input": {"text": "a\x00b"}, "output": {"result": "\x00"}}
        resp = await http.post("/agents", json={"name": "nul-json", "example": example})
        assert resp.status_code == 201, resp.text
        assert (await http.get("/agents/nul-json/demo")).json() == example


async def test_registration_is_validated(sqlite_api: Api, roomy_api: Api) -> None:
    api = sqlite_api
    refused = [
        ({"name": "priced", "price_lovelace": 1e20}, 422),
        ({"name": "priced", "price_lovelace": 10**20}, 422),
        ({"name": "priced", "price_lovelace": ADA_SUPPLY_LOVELACE + 1}, 422),
        ({"name": "priced", "price_lovelace": -1}, 422),
        ({"name": "priced", "price_lovelace": 1.5}, 422),
        ({"name": "a" * 64}, 422),
        ({"name": "named\n"}, 422),
        ({"name": "Named"}, 422),
        ({"name": "queued", "task_queue": "q" * 1001}, 422),
        ({"name": "queued", "task_queue": "q" * 201}, 422),
        ({"name": "queued", "task_queue": "has space"}, 422),
        ({"name": "queued", "task_queue": "line\n"}, 422),
        ({"name": "queued", "task_queue": "/_sys/queued/1"}, 422),
        ({"name": "queued", "task_queue": ""}, 422),
        ({"name": "queued", "task_queue": "日本"}, 422),
        ({"name": "queued", "task_queue": api.settings.platform_task_queue}, 403),
        ({"name": "queued", "workflow_type": "x" * 64}, 422),
    ]
    async with api.client("vendor") as http:
        for body, code in refused:
            found = assert_error(await http.post("/agents", json=body), code)
            assert found["message"] and (found["errors"] or code != 422), found
        assert (await http.get("/agents/priced")).status_code == 404
        assert (await http.get("/agents/queued")).status_code == 404

        ok = await http.post("/agents", json={"name": "priced", "price_lovelace": 45 * 10**15})
        assert ok.status_code == 201 and ok.json()["price_lovelace"] == ADA_SUPPLY_LOVELACE
        # The platform gives each agent its queue: a vendor may repeat it, not choose another,
        # not even the queue of another of its own agents.
        same = await http.post(
            "/agents", json={"name": "sharer", "task_queue": api.stack.queue("counter")}
        )
        body = assert_error(same, 403)
        assert repr(api.stack.queue("sharer")) in body["message"], body
        given = await http.post("/agents", json={"name": "sharer"})
        assert given.status_code == 201 and given.json()["task_queue"] == api.stack.queue("sharer")
        again = await http.post(
            "/agents", json={"name": "sharer", "task_queue": api.stack.queue("sharer")}
        )
        assert again.status_code == 201, again.text
    # Another vendor's queue is not free to take, by a vendor or for one by an operator.
    async with api.client("other-vendor") as http:
        resp = await http.post(
            "/agents", json={"name": "squatter", "task_queue": api.stack.queue("trip-planner")}
        )
        assert_error(resp, 403)
        assert (await http.get("/agents/squatter")).status_code == 404
    async with api.client("operator") as http:
        resp = await http.post(
            "/agents", json={"name": "ops-agent", "task_queue": api.stack.queue("batch-report")}
        )
        assert_error(resp, 409)
        resp = await http.post(
            "/agents", json={"name": "ops-agent", "task_queue": api.settings.platform_task_queue}
        )
        assert_error(resp, 403)

    # The production body limit lets a 100,000-character queue through to validation.
    async with roomy_api.client("vendor") as http:
        resp = await http.post("/agents", json={"name": "huge", "task_queue": "q" * 100_000})
        assert_error(resp, 422)
        assert (await http.get("/agents/huge")).status_code == 404

    # A bad row stored before these checks no longer breaks GET /agents for everyone.
    Registry(api.settings.db_url).upsert(
        AgentRecord(name="legacy", task_queue="q" * 2000, workflow_type="legacy", vendor="tests")
    )
    async with api.client("alice") as http:
        resp = await http.get("/agents")
        assert resp.status_code == 200, resp.text
        agents = {a["name"]: a for a in resp.json()}
        assert agents["legacy"]["available"] is False and agents["legacy"]["unavailable_reason"]
        assert agents["trip-planner"]["available"] is True
        assert all(len(a["task_queue"]) <= 200 for n, a in agents.items() if n != "legacy")
        assert (await http.get("/agents/legacy")).status_code == 200


# --- closed jobs ------------------------------------------------------------------------


async def test_answering_a_closed_job_is_409(sqlite_api: Api) -> None:
    api = sqlite_api
    cancelled = await start(api, "alice", "trip-planner", {"destination": "Lima"})
    done = await start(api, "alice", "batch-report", {"chunks": 1, "seconds_per_chunk": 0})
    async with api.client("alice") as http:
        await wait_job(http, cancelled, "awaiting_input")
        assert (await http.post(f"/jobs/{cancelled}/cancel")).status_code == 202
        await wait_job(http, cancelled, "cancelled")
        await wait_job(http, done, "completed")
        for job_id in (cancelled, done):
            for _ in range(100):  # 409 while the job settles and once its workflow has closed
                resp = await http.post(
                    f"/jobs/{job_id}/input", json={"values": {"adults": 1, "children": False}}
                )
                body = assert_error(resp, 409)
                if (await api.stack.client.get_workflow_handle(job_id).describe()).close_time:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{job_id} never closed")
            assert "ended" in body["message"], body
            assert_error(await http.post(f"/jobs/{job_id}/cancel"), 409)
            resp = await http.post(
                "/agents/trip-planner/provide_input",
                json={"job_id": job_id, "status_id": "x", "input_data": {"adults": 1}},
            )
            assert_error(resp, 409 if job_id == cancelled else 404)  # done is batch-report's
    # A message that reaches a job closed since it was read: NOT_FOUND, answered as a 409.
    answer = Submission(values={"adults": 1}, submitted_by="alice")
    with pytest.raises(RPCError) as raised:
        await jobs.submit_form(api.stack.client, done, answer)
    assert raised.value.status is RPCStatusCode.NOT_FOUND
    with pytest.raises(HTTPException) as refused:
        with job_still_open(done):
            await jobs.submit_form(api.stack.client, done, answer)
    assert refused.value.status_code == 409


# --- generated text in every text field -------------------------------------------------

GENERATED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Any code point, surrogates and controls included; plus the values that once broke things.
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.text(ANY_CHAR, max_size=40),
    st.text(st.sampled_from("ab'\"\\%_ \n-0"), max_size=20),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def check(resp: httpx.Response, *ok: int) -> None:
    """Never a 5xx: a success we expect, or a 4xx with the JSON error shape."""
    if resp.status_code in ok:
        return
    assert_error(resp)


@contextmanager
def sync_client(api: Api, key: str) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=api.url, headers=headers, timeout=30, follow_redirects=True) as http:
        yield http


def body_of(value: dict[str, Any]) -> bytes:
    """Raw JSON (NaN and surrogates allowed through, as a hostile client would send)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def generated_cases(api: Api, job_id: str) -> None:
    """Every text field gets generated text (runs in a thread: the server is on the loop)."""
    keys = api.keys

    @GENERATED
    @given(owner=TEXT)
    def owner_names(owner: str) -> None:
        try:
            key = buyer_key(api, owner)
        except ValueError:
            return
        with sync_client(api, key) as http:
            check(http.get("/jobs"), 200)

    @GENERATED
    @given(buyer=TEXT, agent=TEXT, status=TEXT, token=TEXT)
    def filters(buyer: str, agent: str, status: str, token: str) -> None:
        for who in ("operator", "vendor"):
            with sync_client(api, keys[who]) as http:
                check(http.get("/jobs", params={"buyer": buyer}), 200)
                check(http.get("/jobs", params={"agent": agent, "status": status}), 200)
                check(http.get("/jobs", params={"page_token": token}), 200)

    @GENERATED
    @given(name=TEXT, queue=TEXT, description=TEXT, price=JSON_VALUES)
    def agents(name: str, queue: str, description: str, price: Any) -> None:
        body = {"name": name, "task_queue": queue, "description": description}
        with sync_client(api, keys["vendor"]) as http:
            check(http.post("/agents", content=body_of(body), headers=JSON), 201)
            check(http.post("/agents", content=body_of({"name": "p", "price_lovelace": price}),
                            headers=JSON), 201)  # fmt: skip
            check(http.get(f"/agents/{quote(name, safe='')}"), 200)
            check(http.get(f"/agents/{quote(name, safe='')}/input_schema"), 200)

    @GENERATED
    @given(ident=TEXT, value=JSON_VALUES, job=TEXT)
    def identifiers_and_inputs(ident: str, value: Any, job: str) -> None:
        body = {"identifier_from_purchaser": ident, "input_data": {"destination": value}}
        with sync_client(api, keys["alice"]) as http:
            check(
                http.post("/agents/trip-planner/start_job", content=body_of(body), headers=JSON),
                200,
            )
            check(http.get(f"/jobs/{quote(job, safe='')}"), 200)  # "" is GET /jobs
            check(http.get("/agents/trip-planner/status", params={"job_id": job}))
            check(http.post(f"/jobs/{quote(job, safe='')}/cancel"))

    @GENERATED
    @given(values=JSON_VALUES, form=TEXT)
    def answers(values: Any, form: str) -> None:
        with sync_client(api, keys["alice"]) as http:
            body = {"form_id": form, "values": {"adults": values, "children": values}}
            check(http.post(f"/jobs/{job_id}/input", content=body_of(body), headers=JSON), 200)
            check(http.post(f"/jobs/{job_id}/input", content=body_of({"values": values}),
                            headers=JSON), 200)  # fmt: skip

    for case in (owner_names, filters, agents, identifiers_and_inputs, answers):
        case()
    with sync_client(api, keys["alice"]) as http:  # and the listing still works for everyone
        check(http.get("/agents"), 200)
        assert http.get("/agents").status_code == 200


async def test_generated_text_never_gets_a_server_error(sqlite_api: Api) -> None:
    job_id = await start(sqlite_api, "alice", "trip-planner", {"destination": "Bogotá"})
    async with sqlite_api.client("alice") as http:
        await wait_job(http, job_id, "awaiting_input")
    await asyncio.to_thread(generated_cases, sqlite_api, job_id)

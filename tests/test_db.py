"""The app database on SQLite and PostgreSQL: migrations, registry, API keys."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect

from durasumi.client.registration import AgentRegistration
from durasumi.db.engine import engine_for, migrate
from durasumi.db.keys import KeyStore, Role
from durasumi.db.registry import AgentRecord, Registry
from tests.api_fixtures import PG_ADMIN


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else pg_url


def test_migrations_create_the_schema_and_are_idempotent(db_url: str) -> None:
    engine = engine_for(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"agents", "api_keys", "alembic_version"} <= tables
    migrate(db_url)  # a second run changes nothing and does not fail
    assert set(inspect(engine).get_table_names()) == tables


def test_registry_upsert_keeps_first_registration(db_url: str) -> None:
    reg = Registry(db_url)
    first = reg.upsert(
        AgentRecord(name="echo-db", task_queue="q1", workflow_type="echo-db", vendor="v")
    )
    second = reg.upsert(
        AgentRecord(
            name="echo-db",
            task_queue="q2",
            workflow_type="echo-db",
            vendor="v",
            input_form={"id": "f"},
        )
    )
    assert second.task_queue == "q2" and second.input_form == {"id": "f"}
    assert second.registered_at == first.registered_at and second.updated_at >= first.updated_at
    assert reg.get("echo-db") is not None and reg.get("nope") is None
    assert [a.name for a in reg.all(vendor="v")] == ["echo-db"]


def test_a_workers_registration_keeps_the_vendors_business_fields(db_url: str) -> None:
    """`durasumi dev` restarting writes what its workers know, and nothing the vendor set."""
    reg = Registry(db_url)
    demo = {"input": {"text": "hi"}, "output": {"result": "HI"}}
    tokens = [{"unit": "lovelace", "amount": "2000000"}]
    reg.upsert(
        AgentRecord(
            name="keeper", task_queue="old-q", workflow_type="keeper", vendor="v",
            description="old", price_lovelace=2_000_000, price_amounts=tokens, example=demo,
            agent_identifier="ab" * 30, remote_url="http://127.0.0.1:9/", remote_headers={"a": "b"},
        )
    )  # fmt: skip
    worker = AgentRegistration(
        name="keeper", description="new", workflow_type="keeper", input_form={"id": "start"}
    )
    after = reg.register_worker(worker, vendor="v", task_queue="new-q")
    assert (after.description, after.task_queue, after.input_form) == (
        "new",
        "new-q",
        {"id": "start"},
    )
    assert (after.price_lovelace, after.price_amounts, after.example) == (2_000_000, tokens, demo)
    assert after.agent_identifier == "ab" * 30
    assert (after.remote_url, after.remote_headers) == (None, None)  # a worker serves it now
    fresh = reg.register_worker(
        worker.model_copy(update={"name": "newcomer"}), vendor="v", task_queue="n-q"
    )
    assert (fresh.price_lovelace, fresh.task_queue, fresh.vendor) == (0, "n-q", "v")


def test_keys_are_stored_hashed_and_revocable(db_url: str) -> None:
    store = KeyStore(db_url)
    issued = store.create(Role.VENDOR, "acme")
    principal = store.verify(issued.key)
    assert principal is not None and principal.role is Role.VENDOR and principal.owner == "acme"
    secret = issued.key.split("_", 2)[2]
    assert all(secret not in row.secret_sha256 for row in store.all())
    assert store.verify(issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B")) is None
    assert store.verify("dsk_nope") is None and store.verify("garbage") is None
    assert store.revoke(principal.key_id) and store.verify(issued.key) is None
    assert not store.revoke("no-such-key")
    with pytest.raises(ValueError):
        store.create(Role.BUYER, " ")


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A PostgreSQL database nobody has migrated yet."""
    name = f"durasumi_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_upgrade_from_several_processes_at_once(empty_pg: str) -> None:
    """API replicas and workers starting together on PostgreSQL take turns on the migration."""
    env = {**os.environ, "DURASUMI_DATABASE_URL": empty_pg}
    argv = [sys.executable, "-m", "durasumi.cli.main", "db", "upgrade"]
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert "app database at revision" in out


def test_db_upgrade_names_an_unreachable_database() -> None:
    env = {**os.environ, "DURASUMI_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    argv = [sys.executable, "-m", "durasumi.cli.main", "db", "upgrade"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot migrate the app database" in lines[0], done.stderr

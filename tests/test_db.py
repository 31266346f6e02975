"""The app database on SQLite and PostgreSQL: migrations, registry, API keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from activities.db import engine_for, migrate
from activities.keys import KeyStore, Role
from activities.registry import AgentRecord, Registry


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

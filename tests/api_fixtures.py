"""Fixtures for the HTTP facade: a real uvicorn on loopback, SQLite or PostgreSQL, keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from pydantic import SecretStr

from durasumi.api.app import create_app
from durasumi.db.keys import KeyStore, Role
from durasumi.db.registry import Registry
from durasumi.workers.devserver import free_port
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import Telemetry
from tests.conftest import Stack

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped at the end)."""
    name = f"durasumi_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Api:
    """A running facade, its settings and a key per role."""

    url: str
    settings: Settings
    stack: Stack
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = None) -> httpx.AsyncClient:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


async def serve_api(
    stack: Stack,
    db_url: str,
    home: Path,
    telemetry: Telemetry | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Api]:
    settings = Settings(
        home=home,
        database_url=db_url,
        platform_task_queue=stack.platform_queue,
        agent_queue_prefix=stack.prefix,
        signing_secret=SecretStr("11" * 32),
        max_body_bytes=64 * 1024,
        temporal_address=stack.address,
        **settings_overrides,
    )
    registry = Registry(db_url)
    for record in stack.records.values():
        registry.upsert(record.model_copy())
    keys = KeyStore(db_url)
    api_keys = {
        "alice": keys.create(Role.BUYER, "alice").key,
        "bob": keys.create(Role.BUYER, "bob").key,
        "vendor": keys.create(Role.VENDOR, "tests").key,
        "other-vendor": keys.create(Role.VENDOR, "someone-else").key,
        "operator": keys.create(Role.OPERATOR, "ops").key,
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, stack.client, telemetry=telemetry),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield Api(f"http://127.0.0.1:{port}", settings, stack, api_keys)
    server.should_exit = True
    await task


@pytest.fixture(params=["sqlite", "postgresql"])
async def api(
    request: pytest.FixtureRequest, stack: Stack, tmp_path: Path, pg_url: str
) -> AsyncIterator[Api]:
    """The facade on SQLite and on PostgreSQL."""
    db_url = f"sqlite:///{tmp_path / 'api.db'}" if request.param == "sqlite" else pg_url
    async for api in serve_api(stack, db_url, tmp_path):
        yield api


@pytest.fixture
async def sqlite_api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    """The facade on SQLite only (for tests that do not touch the database differently)."""
    async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path):
        yield api

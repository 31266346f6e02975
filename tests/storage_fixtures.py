"""Fixtures for the payload store: moto's S3 server on loopback, workers and API using it."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from durasumi.client.connect import connect
from durasumi.db.registry import describe
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workers.settings import Settings
from tests.api_fixtures import Api, serve_api
from tests.conftest import Stack
from tests.file_agents import BigResult, FileAsk, FileEcho

PLATFORM_KEY = bytes(range(32))
VENDOR_KEY = bytes(range(100, 132))
CREDENTIALS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing"}


@dataclass
class S3Server:
    """moto's S3-compatible server in its own process, and a bucket on it."""

    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto in server mode on a loopback port (a real HTTP S3 API), one bucket."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"moto did not start: {log.read_text()}") from None
                time.sleep(0.1)
        server = S3Server(f"http://127.0.0.1:{port}", "durasumi-test")
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


def _keys(*pairs: tuple[str, bytes]) -> str:
    return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in pairs)


@dataclass
class Stored:
    """Platform and vendor workers, each on a client from ``connect`` with the S3 store."""

    stack: Stack
    platform: Client
    vendor: Client
    s3: S3Server
    prefix: str
    store_settings: dict[str, Any]

    def objects(self) -> dict[str, bytes]:
        """Every object this test stored, by key (without the prefix)."""
        s3 = self.s3.client()
        found: dict[str, bytes] = {}
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.s3.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=self.s3.bucket, Key=item["Key"])["Body"].read()
                found[item["Key"].removeprefix(self.prefix)] = body
        return found


@asynccontextmanager
async def stored_stack(temporal: DevServer, home: Path, s3: S3Server) -> AsyncIterator[Stored]:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    store = {
        "payload_store": "s3",
        "s3_bucket": s3.bucket,
        "s3_prefix": f"{prefix}/",
        "s3_endpoint_url": s3.endpoint,
        "s3_region": "us-east-1",
        **CREDENTIALS,
        "codec_keys": _keys(("platform-1", PLATFORM_KEY), ("acme-1", VENDOR_KEY)),
        "codec_active_key": "platform-1",
        "codec_agent_keys": "*:acme-1",
    }
    base = {"home": home, "temporal_address": temporal.address}
    platform = await connect(Settings(**base, **store))
    # The vendor's worker holds only its own key.
    vendor_only = store | {"codec_keys": _keys(("acme-1", VENDOR_KEY)), "codec_agent_keys": None}
    vendor_only.pop("codec_active_key")
    vendor = await connect(Settings(**base, **vendor_only))
    stack = Stack(platform, temporal.address, home, f"{prefix}-platform", prefix)
    agents = [BigResult, FileEcho, FileAsk]
    for agent in agents:
        stack.records[agent.name] = describe(agent, task_queue=stack.queue("files"), vendor="tests")
    workers: list[Worker] = [
        platform_worker(platform, stack.platform_queue),
        agent_worker(vendor, agents, stack.queue("files")),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield Stored(stack, platform, vendor, s3, f"{prefix}/", store)
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def stored(temporal: DevServer, tmp_path: Path, s3_server: S3Server) -> AsyncIterator[Stored]:
    async with stored_stack(temporal, tmp_path, s3_server) as s:
        yield s


@pytest.fixture
async def stored_api(stored: Stored, tmp_path: Path) -> AsyncIterator[Api]:
    """The API on the same store and keys, files up to 60 MB."""
    overrides = stored.store_settings | {"max_file_bytes": 60_000_000, "file_link_seconds": 60}
    async for api in serve_api(
        stored.stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path, **overrides
    ):
        yield api

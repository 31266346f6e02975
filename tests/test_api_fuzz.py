"""schemathesis against the facade's OpenAPI schema: no 5xx for any generated input.

It runs in a namespace of its own, so the jobs it lists and fetches are only its own (the
session's other tests leave jobs whose workers are gone).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.workers.devserver import DevServer
from durasumi.workflows import search
from tests.api_fixtures import Api, serve_api
from tests.conftest import running_stack


async def fresh_namespace(client: Client, address: str) -> Client:
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=name,
            search_attributes={
                k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in search.ALL
            },
        )
    )
    for _ in range(100):  # the namespace becomes usable after a short propagation delay
        try:
            ns_client = await Client.connect(
                address, namespace=name, data_converter=pydantic_data_converter
            )
            await ns_client.count_workflows()
            return ns_client
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError(f"namespace {name} never became usable")


async def fuzz(api: Api, who: str, extra: list[str]) -> tuple[int, str]:
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{api.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", "25",
        "--workers", "1",
        "--generation-deterministic",
        "--request-timeout", "20",
        "--header", f"X-API-Key: {api.keys[who]}",
        # The SSE stream waits for the job's end: fuzz it through its validation only.
        "--exclude-path-regex", r"/events$",
        *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    return proc.returncode or 0, out.decode()


async def test_no_server_errors_for_generated_requests(
    client: Client, temporal: DevServer, tmp_path: Path
) -> None:
    ns_client = await fresh_namespace(client, temporal.address)
    async with running_stack(ns_client, temporal.address, tmp_path) as stack:
        async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path):
            for who in ("operator", "alice"):
                code, out = await fuzz(api, who, [])
                assert code == 0, out[-6000:]
                assert "Server error" not in out and " generated" in out, out[-3000:]

"""status, list and result over Temporal's HTTP API: the same answers as gRPC, without the SDK.

A dev server of its own with the HTTP API on, and encrypted payloads as under `durasumi dev`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from durasumi.client import jobs
from durasumi.workers.codec import data_converter
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.keyring import Keyring
from durasumi.workflows.models import CancelRequest, JobStatus, Submission
from tests.conftest import ROOT, Stack, running_stack

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    home = tmp_path_factory.mktemp("temporal-http")
    server = DevServer(
        db_file=home / "temporal.db",
        port=free_port(),
        ui_port=None,
        http_port=free_port(),
        log_file=home / "log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def quick(
    http_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    ring = Keyring({"test-key": KEY}, active="test-key")
    client = await Client.connect(http_server.address, data_converter=data_converter(ring))
    async with running_stack(client, http_server.address, tmp_path_factory.mktemp("q")) as s:
        yield s


def env(stack: Stack, server: DevServer, **more: str) -> dict[str, str]:
    return stack.env() | {
        "DURASUMI_TEMPORAL_HTTP_URL": f"http://127.0.0.1:{server.http_port}",
        "DURASUMI_CODEC_KEYS": f"test-key:{base64.b64encode(KEY).decode()}",
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **more,
    }


# Runs the CLI and reports whether it imported the Temporal SDK or pydantic-settings (main()
# ends in os._exit).
PROBE = """
import os, sys
real_exit = os._exit
def leave(code):
    heavy = "temporalio" in sys.modules or "pydantic_settings" in sys.modules
    sys.stderr.write("\\nSDK " + str(heavy))
    sys.stderr.flush()
    real_exit(code)
os._exit = leave
from durasumi.cli.main import main
main()
"""


async def cli(
    stack: Stack, server: DevServer, *args: str, **more: str
) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, whether the SDK or the full settings were imported)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, *args, cwd=ROOT, env=env(stack, server, **more),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    text, _, sdk = err.decode().rpartition("\nSDK ")
    return proc.returncode or 0, out.decode(), text, sdk.strip() == "True"


# No HTTP API configured, and an address that is not the dev stack's: the gRPC client.
GRPC = {"DURASUMI_TEMPORAL_HTTP_URL": ""}


async def both(stack: Stack, server: DevServer, *args: str) -> tuple[int, str, str]:
    """Run over HTTP (checking the SDK stayed unloaded) and over gRPC: the same answer."""
    code, out, err, sdk = await cli(stack, server, *args)
    assert not sdk, f"{args} imported the Temporal SDK or pydantic-settings over the HTTP API"
    g_code, g_out, g_err, g_sdk = await cli(stack, server, *args, **GRPC)
    assert g_sdk
    assert (code, out) == (g_code, g_out), (args, out, g_out, err, g_err)
    return code, out, err


async def test_quick_reads_answer_as_grpc_does(quick: Stack, http_server: DevServer) -> None:
    waiting = await quick.start("trip-planner", {"destination": "Lima"})
    await quick.wait_for(waiting.job_id, JobStatus.AWAITING_INPUT)
    code, out, _ = await both(quick, http_server, "status", waiting.job_id)
    assert code == 0 and "awaiting_input (form travellers-1)" in out
    code, out, _ = await both(quick, http_server, "status", waiting.job_id, "--json")
    assert json.loads(out)["status"] == "awaiting_input"
    code, _, err = await both(quick, http_server, "result", waiting.job_id)
    assert code == 1 and "has not ended" in err

    done = await quick.start("batch-report", {"chunks": 2, "seconds_per_chunk": 0})
    await quick.wait_for(done.job_id, JobStatus.COMPLETED)
    code, out, _ = await both(quick, http_server, "result", done.job_id)
    assert code == 0 and json.loads(out)["chunks"] == 2
    code, out, _ = await both(quick, http_server, "result", done.job_id, "--json")
    assert json.loads(out)["status"] == "completed"

    broken = await quick.start("broken", {})
    await quick.wait_for(broken.job_id, JobStatus.AWAITING_INPUT)
    await jobs.submit_form(quick.client, broken.job_id, Submission(values={"text": "go"}))
    await quick.wait_for(broken.job_id, JobStatus.FAILED)
    code, _, err = await both(quick, http_server, "result", broken.job_id, "--wait")
    assert code == 1 and "division by zero" in err

    cancelled = await quick.start("trip-planner", {"destination": "Quito"})
    await quick.wait_for(cancelled.job_id, JobStatus.AWAITING_INPUT)
    await jobs.cancel_job(quick.client, cancelled.job_id, CancelRequest(reason="no more"))
    await quick.wait_for(cancelled.job_id, JobStatus.CANCELLED)
    code, _, err = await both(quick, http_server, "result", cancelled.job_id)
    assert code == 1 and "cancelled: no more" in err

    terminated = await quick.start("trip-planner", {"destination": "Cusco"})
    await quick.wait_for(terminated.job_id, JobStatus.AWAITING_INPUT)
    await jobs.job_handle(quick.client, terminated.job_id).terminate("operator")
    code, out, _ = await both(quick, http_server, "status", terminated.job_id, "--json")
    assert json.loads(out)["status"] == "failed" and "terminated" in json.loads(out)["error"]
    code, _, err = await both(quick, http_server, "result", terminated.job_id)
    assert code == 1 and "terminated" in err

    for _ in range(50):
        code, out, _ = await both(quick, http_server, "list", "--json")
        listed = [r["job_id"] for r in json.loads(out)]
        if listed[:2] == [terminated.job_id, cancelled.job_id]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"not newest first: {listed}")
    code, out, _ = await both(quick, http_server, "list", "--status", "completed")
    assert done.job_id in out and waiting.job_id not in out


async def test_quick_read_errors(quick: Stack, http_server: DevServer) -> None:
    code, _, err = await both(quick, http_server, "status", "job-nope", "--json")
    assert code == 2 and json.loads(err)["error"] == "not_found"
    code, _, err = await both(quick, http_server, "--namespace", "nowhere", "list")
    assert code == 2 and "nowhere" in err and "Traceback" not in err

    job = await quick.start("trip-planner", {"destination": "Accra"})
    await quick.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
    code, _, err, _ = await cli(quick, http_server, "status", job.job_id, DURASUMI_CODEC_KEYS="")
    assert code == 1 and "encrypted" in err and "DURASUMI_CODEC_KEYS" in err
    assert len(err.strip().splitlines()) == 1


async def test_an_http_api_that_does_not_answer_falls_back_to_grpc(
    quick: Stack, http_server: DevServer, tmp_path: Path
) -> None:
    job = await quick.start("trip-planner", {"destination": "Dakar"})
    await quick.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
    nothing = f"http://127.0.0.1:{free_port()}"
    code, out, _, sdk = await cli(
        quick, http_server, "status", job.job_id, DURASUMI_TEMPORAL_HTTP_URL=nothing
    )
    assert code == 0 and "awaiting_input" in out and sdk

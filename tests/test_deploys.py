"""Worker versioning: a job paused on v1 finishes on v1 after v2 of the agent becomes current."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowHandle
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker

from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import describe
from durasumi.workers.deployments import (
    describe_deployment,
    pinned_running,
    set_current_version,
    worker_version,
)
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workers.settings import Settings
from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.models import JobStatus, Submission
from tests.conftest import ROOT, Stack, lines, run_cli
from tests.deploy_agents import UpgradeV1, UpgradeV2


@asynccontextmanager
async def serving(
    stack: Stack, agent: type[AgentWorkflow], queue: str, version: WorkerDeploymentVersion | None
) -> AsyncIterator[None]:
    async with agent_worker(stack.client, [agent], queue, version=version):
        yield


def agent_handle(stack: Stack, job_id: str) -> WorkflowHandle[object, object]:
    return stack.client.get_workflow_handle(f"{job_id}-agent")


async def pinned_to(stack: Stack, job_id: str) -> tuple[str, str]:
    """(behavior, build id) the job's agent workflow runs under."""
    info = (await agent_handle(stack, job_id).describe()).raw_description
    versioning = info.workflow_execution_info.versioning_info
    return versioning.behavior, versioning.deployment_version.build_id


async def test_a_paused_job_finishes_on_its_version_after_an_incompatible_deploy(
    stack: Stack, tmp_path: Path
) -> None:
    deployment, queue = f"upgrade-{uuid.uuid4().hex[:8]}", f"{stack.prefix}-upgrade-demo"
    stack.records["upgrade-demo"] = describe(UpgradeV1, task_queue=queue, vendor="tests")
    trace = tmp_path / "trace"
    v1 = WorkerDeploymentVersion(deployment, "v1")
    v2 = WorkerDeploymentVersion(deployment, "v2")

    async with serving(stack, UpgradeV1, queue, v1):
        assert await set_current_version(stack.client, deployment, "v1", wait=30) is None
        old = await stack.start("upgrade-demo", {"trace": str(trace)})
        await stack.wait_for(old.job_id, JobStatus.AWAITING_INPUT)

        # Deploy v2 beside v1 and make it current; v1 keeps running for its pinned job.
        async with serving(stack, UpgradeV2, queue, v2):
            assert await set_current_version(stack.client, deployment, "v2", wait=30) == "v1"
            new = await stack.start("upgrade-demo", {"trace": str(trace)})
            await stack.wait_for(new.job_id, JobStatus.AWAITING_INPUT)
            assert lines(trace) == ["prepare"]  # only the new job ran v2's extra step

            await jobs.submit_form(stack.client, old.job_id, Submission(values={"text": "old"}))
            finished = await asyncio.wait_for(job_result(old.handle), 30)
            assert finished.status is JobStatus.COMPLETED
            assert finished.result == {"version": "v1", "note": "old"}  # ran v1's code

            await jobs.submit_form(stack.client, new.job_id, Submission(values={"text": "new"}))
            finished = await asyncio.wait_for(job_result(new.handle), 30)
            assert finished.result == {"version": "v2", "note": "new", "prepared": "prepared"}

            assert await pinned_to(stack, old.job_id) == (1, "v1")  # VERSIONING_BEHAVIOR_PINNED
            assert await pinned_to(stack, new.job_id) == (1, "v2")
            assert lines(trace) == ["prepare"]

            # v1 has drained: nothing runs on it any more (visibility lags a little).
            for _ in range(50):
                if await pinned_running(stack.client, deployment, "v1") == 0:
                    break
                await asyncio.sleep(0.2)
            view = await describe_deployment(stack.client, deployment)
            assert view.current_build_id == "v2"
            by_id = {v.build_id: v for v in view.versions}
            assert by_id["v1"].running == 0 and by_id["v1"].status == "draining"
            assert by_id["v2"].status == "current"


async def test_without_versioning_the_paused_job_breaks(stack: Stack, tmp_path: Path) -> None:
    """The failure mode versioning prevents: v2 replays v1's history and diverges."""
    queue = f"{stack.prefix}-unversioned-upgrade"
    stack.records["upgrade-demo"] = describe(UpgradeV1, task_queue=queue, vendor="tests")
    async with serving(stack, UpgradeV1, queue, None):
        old = await stack.start("upgrade-demo", {"trace": str(tmp_path / "trace")})
        await stack.wait_for(old.job_id, JobStatus.AWAITING_INPUT)
    async with serving(stack, UpgradeV2, queue, None):  # v1 stopped, v2 took its place
        await jobs.submit_form(stack.client, old.job_id, Submission(values={"text": "old"}))
        finished = await asyncio.wait_for(job_result(old.handle), 30)
    assert finished.status is JobStatus.FAILED
    assert "nondeterminism" in json.dumps(finished.model_dump(mode="json")).lower()


async def test_worker_and_deploy_commands(stack: Stack, tmp_path: Path) -> None:
    """`durasumi worker --deployment --build-id`, `deploy current`, `deploy show`."""
    deployment, prefix = f"cli-{uuid.uuid4().hex[:8]}", f"{stack.prefix}-cli"
    stack.records["upgrade-demo"] = describe(
        UpgradeV1, task_queue=f"{prefix}-upgrade-demo", vendor="tests"
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "worker", "--no-register", "--agent", "tests.deploy_agents:UpgradeV1",
        "--deployment", deployment, "--build-id", "v1",
        cwd=ROOT, env=stack.env() | {"DURASUMI_AGENT_QUEUE_PREFIX": prefix},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        code, out, err = await run_cli(stack, "deploy", "current", deployment, "v1", "--wait", "60")
        assert code == 0, err
        assert f"{deployment}: new jobs start on v1 (was unversioned)" in out

        job = await stack.start("upgrade-demo", {"trace": str(tmp_path / "trace")})
        await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)

        async def running_on_v1() -> int:
            code, out, err = await run_cli(stack, "deploy", "show", deployment, "--json")
            assert code == 0, err
            shown = json.loads(out)
            assert shown["current_build_id"] == "v1"
            return int(shown["versions"][0]["running"])

        for _ in range(20):
            if await running_on_v1() == 1:
                break
        assert await running_on_v1() == 1

        code, out, _ = await run_cli(stack, "deploy", "show", deployment)
        assert code == 0 and "current v1" in out and "v1" in out

        await jobs.submit_form(stack.client, job.job_id, Submission(values={"text": "hi"}))
        done = await asyncio.wait_for(job_result(job.handle), 30)
        assert done.result == {"version": "v1", "note": "hi"}
    finally:
        worker.send_signal(signal.SIGTERM)
        out_bytes, _ = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0
    assert f"version: {deployment}.v1" in out_bytes.decode()


async def test_deploy_commands_refuse_bad_input(stack: Stack) -> None:
    code, _, err = await run_cli(stack, "deploy", "current", "has.dot", "v1", "--wait", "0")
    assert code == 2 and "no '.'" in err and len(err.strip().splitlines()) == 1
    code, _, err = await run_cli(
        stack, "deploy", "current", f"none-{uuid.uuid4().hex[:6]}", "v1", "--wait", "0"
    )
    assert code == 2 and "not found" in err and "--build-id v1` first" in err
    code, _, err = await run_cli(stack, "deploy", "show", f"none-{uuid.uuid4().hex[:6]}")
    assert code == 2 and "not found" in err
    code, _, err = await run_cli(
        stack, "worker", "--agent", "tests.deploy_agents:UpgradeV1", "--deployment", "solo"
    )
    assert code == 2 and "needs both a deployment name and a build id" in err


async def test_platform_jobs_follow_the_current_platform_version(
    stack: Stack, tmp_path: Path
) -> None:
    """JobWorkflow is AUTO_UPGRADE: a running job moves to the new platform version."""
    deployment = f"platform-{uuid.uuid4().hex[:8]}"
    queue = f"{stack.prefix}-versioned-platform"
    p1 = WorkerDeploymentVersion(deployment, "p1")
    p2 = WorkerDeploymentVersion(deployment, "p2")
    data = {"trace": str(tmp_path / "trace"), "before": 0, "after": 0, "step_seconds": 0}

    def on_platform(version: WorkerDeploymentVersion) -> Worker:
        return platform_worker(stack.client, queue, version=version)

    async with on_platform(p1):
        await set_current_version(stack.client, deployment, "p1", wait=30)
        job = await jobs.start_job(
            stack.client, stack.records["counter"], uuid.uuid4().hex[:16], data,
            platform_task_queue=queue, buyer="tester",
        )  # fmt: skip
        await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
        info = (await job.handle.describe()).raw_description.workflow_execution_info
        assert (
            info.versioning_info.behavior,
            info.versioning_info.deployment_version.build_id,
        ) == (
            2,  # VERSIONING_BEHAVIOR_AUTO_UPGRADE
            "p1",
        )
        async with on_platform(p2):
            await set_current_version(stack.client, deployment, "p2", wait=30)
            await jobs.submit_form(stack.client, job.job_id, Submission(values={"text": "x"}))
            done = await asyncio.wait_for(job_result(job.handle), 30)
            assert done.status is JobStatus.COMPLETED
            info = (await job.handle.describe()).raw_description.workflow_execution_info
            assert info.versioning_info.deployment_version.build_id == "p2"


def test_versioning_settings_are_checked() -> None:
    assert Settings(worker_deployment="acme", worker_build_id="1.2").worker_drain_seconds == 30
    with pytest.raises(ValidationError, match=r"no '\.'"):
        Settings(worker_deployment="acme.writer")
    with pytest.raises(ValidationError, match="build id"):
        Settings(worker_build_id="has space")
    with pytest.raises(ValidationError, match="greater than 0"):
        Settings(worker_drain_seconds=0)
    with pytest.raises(ValueError, match="needs both"):
        worker_version("acme", None)
    assert worker_version(None, None) is None

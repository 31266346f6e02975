"""The Ray activities in real jobs, on a local Ray with one logical GPU.

Ray starts once for this module (``ray.init(num_gpus=1)``: Ray schedules the GPU as a
resource whether or not the machine has one) with its dashboard, which the Jobs API needs.
The in-process agent worker joins that Ray; the kill -9 tests run `durasumi worker` as a
separate process that joins it through RAY_ADDRESS, as a vendor's worker joins a cluster.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from durasumi.activities.gpu import GpuActivities, RaySettings
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import describe
from durasumi.examples.gpu_batch import GpuBatch
from durasumi.workers.devserver import free_port
from durasumi.workflows.models import CancelRequest, EventKind, JobStatus
from tests.ai_agents import GpuProbe
from tests.conftest import ROOT, Stack, lines, wait_until

ray = pytest.importorskip("ray")


@dataclass(frozen=True)
class RayCluster:
    gcs: str
    dashboard: str

    def settings(self, **overrides: object) -> RaySettings:
        return RaySettings(address=self.gcs, dashboard_url=self.dashboard, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    context = ray.init(
        address="local",
        num_cpus=4,
        num_gpus=1,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=True,
        dashboard_port=free_port(),
        namespace="durasumi-tests",
        logging_level="warning",
        log_to_driver=False,
    )
    yield RayCluster(context.address_info["gcs_address"], f"http://{context.dashboard_url}")
    ray.shutdown()


def gpu_worker(
    stack: Stack, cluster: RayCluster, **settings: object
) -> AbstractAsyncContextManager[None]:
    gpu = GpuActivities(cluster.settings(cancel_grace=2.0, **settings))
    return stack.serving([GpuProbe, GpuBatch], gpu=gpu)


async def test_two_one_gpu_tasks_never_overlap(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    async with gpu_worker(stack, ray_cluster):
        whole = await stack.start(
            "gpu-probe", {"kind": "pair", "trace": str(tmp_path / "w"), "seconds": 1, "gpus": 1}
        )
        half = await stack.start(
            "gpu-probe", {"kind": "pair", "trace": str(tmp_path / "h"), "seconds": 1, "gpus": 0.5}
        )
        whole_result, half_result = await job_result(whole.handle), await job_result(half.handle)
    assert whole_result.status is JobStatus.COMPLETED, whole_result.error
    assert half_result.status is JobStatus.COMPLETED, half_result.error
    first, second = sorted(
        (r["value"] for r in whole_result.result["runs"]), key=lambda v: v["start"]
    )  # type: ignore[index, call-overload]
    assert first["end"] <= second["start"]  # one GPU: the second waited for the first
    a, b = (r["value"] for r in half_result.result["runs"])  # type: ignore[index]
    assert a["start"] < b["end"] and b["start"] < a["end"]  # half a GPU each: together
    usage = whole_result.detail["usage"]
    assert usage["gpu_calls"] == 2 and 2.0 <= usage["gpu_seconds"] < 2.6
    assert 1.0 <= half_result.detail["usage"]["gpu_seconds"] < 1.3
    view = await jobs.job_view(stack.client, whole.job_id)
    assert view.usage.gpu_seconds == usage["gpu_seconds"]


async def test_cancel_stops_the_ray_task(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start(
            "gpu-probe", {"kind": "task", "trace": str(trace), "seconds": 60}
        )
        await wait_until(lambda: lines(trace).count("tick") >= 3, timeout=60)
        await jobs.cancel_job(stack.client, started.job_id, CancelRequest(reason="enough"))
        result = await asyncio.wait_for(job_result(started.handle), 30)
        assert result.status is JobStatus.CANCELLED
        # The task was interrupted, and no tick follows: it is not running any more.
        assert "interrupted" in lines(trace)
        ticks = lines(trace).count("tick")
        await asyncio.sleep(1.0)
        assert lines(trace).count("tick") == ticks
        assert not any(line.startswith("done") for line in lines(trace))
        # And the GPU is free again: a 1-GPU task runs at once.
        again = await stack.start(
            "gpu-probe", {"kind": "task", "trace": str(tmp_path / "u"), "seconds": 0}
        )
        assert (await asyncio.wait_for(job_result(again.handle), 30)).status is JobStatus.COMPLETED


async def test_a_failing_function_fails_the_job(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start(
            "gpu-probe", {"kind": "fail", "trace": str(tmp_path / "t"), "seconds": 0}
        )
        result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error == "RayTaskFailed: tests.ray_work:fail failed: ValueError: bad batch"


async def test_the_local_ray_refuses_what_it_can_never_run(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    # A local Ray's resources are fixed: asking for 2 GPUs of 1 fails at once, clearly.
    gpu = GpuActivities(RaySettings(dashboard_url=ray_cluster.dashboard))
    async with stack.serving([GpuProbe], gpu=gpu):
        started = await stack.start(
            "gpu-probe", {"kind": "task", "trace": str(tmp_path / "t"), "seconds": 0, "gpus": 2}
        )
        result = await asyncio.wait_for(job_result(started.handle), 30)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and result.error.startswith(
        "GpuUnavailable: the local Ray cannot run"
    )
    assert "DURASUMI_RAY_NUM_GPUS" in result.error


async def test_a_ray_job_runs_through_the_jobs_api(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    entrypoint = f"{sys.executable} {ROOT / 'tests' / 'ray_work.py'} {trace} 1"
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start(
            "gpu-probe",
            {"kind": "job", "trace": str(trace), "seconds": 1, "entrypoint": entrypoint},
        )
        result = await asyncio.wait_for(job_result(started.handle), 60)
    assert result.status is JobStatus.COMPLETED, result.error
    done = result.result
    assert isinstance(done, dict)
    assert done["status"] == "SUCCEEDED" and done["reattached"] is False
    assert "job result 42" in str(done["logs_tail"])
    assert 1.0 <= float(str(done["gpu_seconds"])) < 10
    assert str(done["submission_id"]).startswith("durasumi-job-gpu-probe-")
    assert result.detail["usage"]["gpu_calls"] == 1


async def test_cancel_stops_the_ray_job(
    stack: Stack, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    from ray.job_submission import JobSubmissionClient

    trace = tmp_path / "t"
    entrypoint = f"{sys.executable} {ROOT / 'tests' / 'ray_work.py'} {trace} 60"
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start(
            "gpu-probe",
            {"kind": "job", "trace": str(trace), "seconds": 60, "entrypoint": entrypoint},
        )
        await wait_until(
            lambda: any(line.startswith("job start") for line in lines(trace)), timeout=60
        )
        await jobs.cancel_job(stack.client, started.job_id, CancelRequest())
        result = await asyncio.wait_for(job_result(started.handle), 60)
    assert result.status is JobStatus.CANCELLED
    ray_jobs = JobSubmissionClient(ray_cluster.dashboard).list_jobs()
    mine = [
        j
        for j in ray_jobs
        if (j.metadata or {}).get("durasumi_workflow_id", "").startswith(started.job_id)
    ]
    assert [j.status.value for j in mine] == ["STOPPED"]
    assert "job done" not in lines(trace)


async def test_gpu_batch_example_reports_progress(stack: Stack, ray_cluster: RayCluster) -> None:
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start("gpu-batch", {"items": 1000, "chunk_size": 250})
        result = await asyncio.wait_for(job_result(started.handle), 60)
    assert result.status is JobStatus.COMPLETED, result.error
    assert isinstance(result.result, dict)
    assert result.result["sum_of_squares"] == sum(i * i for i in range(1000))
    assert result.result["chunks"] == 4
    progress = [
        e
        for e in await jobs.job_events(stack.client, started.job_id)
        if e.kind is EventKind.PROGRESS
    ]
    assert [e.data["done"] for e in progress] == [1, 2, 3, 4]
    assert result.detail["usage"]["gpu_calls"] == 4


# -- kill -9 the vendor worker ---------------------------------------------------------


class VendorWorker:
    """`durasumi worker --agent tests.ai_agents:GpuProbe`, joining the test Ray by RAY_ADDRESS."""

    def __init__(self, stack: Stack, cluster: RayCluster) -> None:
        self.prefix = f"{stack.prefix}-solo"
        self.env = stack.env() | {
            "DURASUMI_AGENT_QUEUE_PREFIX": self.prefix,
            "RAY_ADDRESS": cluster.gcs,
            "DURASUMI_RAY_DASHBOARD_URL": cluster.dashboard,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--no-register", "--agent", "tests.ai_agents:GpuProbe",
            cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 40)


@pytest.fixture
async def vendor(stack: Stack, ray_cluster: RayCluster) -> AsyncIterator[VendorWorker]:
    worker = VendorWorker(stack, ray_cluster)
    # The agent's queue is one only the subprocess polls.
    stack.records["gpu-probe"] = describe(
        GpuProbe, task_queue=f"{worker.prefix}-gpu-probe", vendor="tests"
    )
    yield worker
    await worker.stop()


async def test_kill_worker_mid_task_runs_the_task_again(
    stack: Stack, vendor: VendorWorker, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    await vendor.start()
    started = await stack.start("gpu-probe", {"kind": "task", "trace": str(trace), "seconds": 3})
    await wait_until(lambda: "tick" in lines(trace), timeout=60)
    await vendor.kill9()
    await vendor.start()
    result = await asyncio.wait_for(job_result(started.handle), 90)
    assert result.status is JobStatus.COMPLETED, result.error
    starts = [line for line in lines(trace) if line.startswith("start")]
    dones = [line for line in lines(trace) if line.startswith("done")]
    assert len(starts) == 2  # the activity ran again on the restarted worker...
    assert (
        len(dones) == 1 and dones[0].split()[1] == starts[1].split()[1]
    )  # ...and only it finished
    assert result.detail["usage"]["gpu_calls"] == 1


async def test_kill_worker_mid_job_reattaches(
    stack: Stack, vendor: VendorWorker, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    entrypoint = f"{sys.executable} {ROOT / 'tests' / 'ray_work.py'} {trace} 5"
    await vendor.start()
    started = await stack.start(
        "gpu-probe", {"kind": "job", "trace": str(trace), "seconds": 5, "entrypoint": entrypoint}
    )
    await wait_until(lambda: any(line.startswith("job start") for line in lines(trace)), timeout=60)
    await vendor.kill9()
    await vendor.start()
    result = await asyncio.wait_for(job_result(started.handle), 90)
    assert result.status is JobStatus.COMPLETED, result.error
    assert isinstance(result.result, dict) and result.result["reattached"] is True
    assert [line.split()[:2] for line in lines(trace)] == [
        ["job", "start"],
        ["job", "done"],
    ]  # one job


# -- a real GPU --------------------------------------------------------------------------


def _has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU here (nvidia-smi -L fails)")
async def test_gpu_batch_example_on_a_real_gpu(stack: Stack, ray_cluster: RayCluster) -> None:
    async with gpu_worker(stack, ray_cluster):
        started = await stack.start("gpu-batch", {"items": 100_000, "chunk_size": 25_000})
        result = await asyncio.wait_for(job_result(started.handle), 300)
    assert result.status is JobStatus.COMPLETED, result.error
    assert isinstance(result.result, dict)
    devices = result.result["devices"]
    assert isinstance(devices, list) and devices and all(str(d) != "cpu" for d in devices), devices
    print(f"gpu-batch on a real GPU: {result.result}, usage {result.detail['usage']}")

"""The Ray activities: a Ray task (an importable function) or a Ray Job (an entrypoint).

This is the only module that imports Ray, and only when a GPU activity first runs, so a
worker whose agents never call ``gpu()`` never imports it (Ray is the optional extra
``durasumi[ray]``). The worker connects to the cluster in :class:`RaySettings` (RAY_ADDRESS),
or starts a local Ray on first use.

* A **task** runs ``module:function`` with ``num_cpus``/``num_gpus``/``memory``/
  ``accelerator_type``. Ray tasks share the fate of the process that submitted them: if the
  worker dies, Ray kills the task and Temporal runs the activity again (after the heartbeat
  timeout) on a live worker.
* A **job** runs an entrypoint through the Ray Jobs API, and outlives the worker. Its
  submission id is derived from the activity (workflow id, run id, activity id), so a retry
  after a worker crash finds the job already submitted and re-attaches to it instead of
  starting a second one.
* Both heartbeat while they wait; a Temporal cancellation cancels the Ray task (force-killed
  if it ignores the interrupt for ``cancel_grace`` seconds) or stops the Ray job.
* GPU-seconds (run time x GPUs asked for) come back in the result; the agent reports them
  to the job.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from contextlib import suppress
from typing import Any

from pydantic import BaseModel, Field, JsonValue, TypeAdapter, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.activities.heartbeat import heartbeating

__all__ = [
    "GPU_REQUEST_INVALID",
    "GPU_UNAVAILABLE",
    "RAY_JOB_FAILED",
    "RAY_NOT_INSTALLED",
    "RAY_TASK_FAILED",
    "RAY_TASK_LOST",
    "GpuActivities",
    "RayJob",
    "RayJobResult",
    "RaySettings",
    "RayTask",
    "RayTaskResult",
]

log = logging.getLogger(__name__)

# ApplicationError types.
RAY_NOT_INSTALLED = "RayNotInstalled"  # non-retryable
GPU_REQUEST_INVALID = "GpuRequestInvalid"  # non-retryable: bad function reference, non-JSON result
GPU_UNAVAILABLE = "GpuUnavailable"  # non-retryable: the local Ray lacks the resources asked for
RAY_TASK_FAILED = "RayTaskFailed"  # the function raised: non-retryable unless retry_on_error
RAY_TASK_LOST = "RayTaskLost"  # retryable: a Ray worker or node died under the task
RAY_JOB_FAILED = "RayJobFailed"  # non-retryable: the job failed or was stopped outside Temporal

_FUNCTION_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_JSON = TypeAdapter(JsonValue)
_LOG_TAIL = 4000


class RaySettings(BaseModel):
    """Where the worker's Ray is; built by the worker from its settings.

    Example:
        >>> RaySettings(address="ray-head:6379").local
        False
    """

    address: str | None = Field(None, description="RAY_ADDRESS; None starts a local Ray.")
    dashboard_url: str | None = Field(
        None, description="Jobs API address (http://host:8265); default: the cluster's own."
    )
    local_num_gpus: int | None = Field(
        None, ge=0, description="Logical GPUs of a local Ray; default: detected."
    )
    local_num_cpus: int | None = Field(None, ge=1)
    local_object_store_mb: int | None = Field(None, ge=75)
    poll_interval: float = Field(0.5, gt=0, description="Seconds between job status checks.")
    heartbeat_interval: float = Field(1.0, gt=0)
    cancel_grace: float = Field(
        5.0, ge=0, description="Seconds a cancelled task gets before it is force-killed."
    )

    @property
    def local(self) -> bool:
        """Whether this worker starts its own Ray instead of joining a cluster."""
        return self.address is None


class RayTask(BaseModel):
    """Run ``function`` (``package.module:name``) as a Ray task with these resources.

    The function must be importable where Ray runs it and return JSON-compatible values
    (write large outputs to storage and return a reference).

    Example:
        >>> task = RayTask(function="mypkg.embed:run", args=[[1, 2, 3]], num_gpus=1)
        >>> task.num_gpus, task.num_cpus
        (1.0, 1.0)
        >>> done = await self.gpu(task)  # doctest: +SKIP
    """

    function: str = Field(pattern=_FUNCTION_REF.pattern)
    args: list[JsonValue] = Field(default_factory=list)
    keyword_args: dict[str, JsonValue] = Field(default_factory=dict)
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    memory: int | None = Field(None, gt=0, description="Bytes of memory to reserve.")
    accelerator_type: str | None = Field(None, description="e.g. H100, A100, L4")
    resources: dict[str, float] = Field(default_factory=dict)
    runtime_env: dict[str, JsonValue] | None = None
    retry_on_error: bool = Field(
        False, description="Retry (per the activity's policy) when the function raises."
    )
    reuse_worker: bool | None = Field(
        None,
        description="Run in a Ray worker process that other tasks used (and will use). "
        "Default, as in Ray: a fresh process per GPU task, so GPU memory is released.",
    )


class RayTaskResult(BaseModel):
    """What the function returned, and what it cost."""

    value: JsonValue = None
    seconds: float = Field(description="Run time of the function itself.")
    gpu_seconds: float
    gpu_ids: list[str] = Field(default_factory=list, description="CUDA devices it was given.")
    node: str = ""


class RayJob(BaseModel):
    """Run ``entrypoint`` (a shell command) as a Ray Job on the cluster.

    Example:
        >>> job = RayJob(entrypoint="python train.py --epochs 1", num_gpus=1)
        >>> job.entrypoint.split()[0]
        'python'
        >>> done = await self.gpu(job)  # doctest: +SKIP
    """

    entrypoint: str = Field(min_length=1)
    runtime_env: dict[str, JsonValue] | None = None
    num_cpus: float | None = Field(None, ge=0)
    num_gpus: float | None = Field(None, ge=0)
    memory: int | None = Field(None, gt=0)
    accelerator_type: str | None = None
    resources: dict[str, float] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    submission_id: str | None = Field(
        None, description="Defaults to one derived from the activity, stable across retries."
    )


class RayJobResult(BaseModel):
    """How a Ray job ended, the tail of its logs, and what it cost."""

    submission_id: str
    status: str
    seconds: float
    gpu_seconds: float
    logs_tail: str = ""
    reattached: bool = Field(False, description="True when a retry found the job running.")


class GpuActivities:
    """The Ray activities, built once per worker; connects to Ray on first use.

    Example:
        >>> gpu = GpuActivities(RaySettings(address="ray-head:6379"))
        >>> acts = [gpu.run_task, gpu.run_job]
        >>> worker = Worker(client, task_queue="q", activities=acts)  # doctest: +SKIP
    """

    def __init__(self, settings: RaySettings | None = None) -> None:
        self.settings = settings or RaySettings()
        self._lock = asyncio.Lock()
        self._ray: Any = None
        self._remote: Any = None  # the runner, in reused Ray worker processes
        self._remote_fresh: Any = None  # the runner, one Ray worker process per call
        self._dashboard = self.settings.dashboard_url
        self._jobs_client: Any = None
        self._started_local = False
        self._local_resources: dict[str, float] | None = None

    def close(self) -> None:
        """Stop the local Ray this worker started, if any; a cluster is left alone.

        Call it when the worker stops: a local Ray's helper processes outlive a worker that
        exits without ``ray.shutdown()``.
        """
        if self._started_local and self._ray is not None:
            self._ray.shutdown()
            self._ray, self._started_local = None, False

    # -- tasks ------------------------------------------------------------------------

    @activity.defn(name="durasumi.ray.task")
    async def run_task(self, task: RayTask) -> RayTaskResult:
        """Run a Ray task to the end, heartbeating; cancellation cancels the task."""
        ray = await self._connect()
        options = _task_options(task)
        if self._local_resources is not None:
            _check_feasible(self._local_resources, task)
        fresh = not task.reuse_worker if task.reuse_worker is not None else task.num_gpus > 0
        remote = self._remote_fresh if fresh else self._remote
        ref = remote.options(**options).remote(task.function, task.args, task.keyword_args)
        outcome = asyncio.wrap_future(ref.future())
        try:
            async with heartbeating(self.settings.heartbeat_interval, lambda: {"task": ref.hex()}):
                done = await asyncio.shield(outcome)
        except asyncio.CancelledError:
            async with heartbeating(self.settings.heartbeat_interval):
                await self._cancel_task(ray, ref, outcome)
            raise
        except ray.exceptions.RayTaskError as err:
            raise _task_failure(task, err) from None
        except ray.exceptions.RayError as err:
            raise ApplicationError(f"Ray lost the task: {err}", type=RAY_TASK_LOST) from None
        try:
            value = _JSON.validate_python(done["value"])
        except ValidationError:
            raise ApplicationError(
                f"{task.function} returned {type(done['value']).__name__}, not JSON values",
                type=GPU_REQUEST_INVALID,
                non_retryable=True,
            ) from None
        seconds = float(done["seconds"])
        return RayTaskResult(
            value=value,
            seconds=round(seconds, 6),
            gpu_seconds=round(seconds * task.num_gpus, 6),
            gpu_ids=list(done["gpu_ids"]),
            node=str(done["node"]),
        )

    async def _cancel_task(self, ray: Any, ref: Any, outcome: asyncio.Future[Any]) -> None:
        """Interrupt the task; force-kill its worker process if it does not stop in time."""
        ray.cancel(ref)
        try:
            await asyncio.wait_for(asyncio.shield(outcome), self.settings.cancel_grace)
        except TimeoutError:
            log.warning("Ray task %s ignored the interrupt: force-killing it", ref.hex())
            ray.cancel(ref, force=True)
            with suppress(Exception):
                await asyncio.wait_for(outcome, self.settings.cancel_grace)
        except Exception:  # TaskCancelledError, or whatever the interrupted task raised
            pass

    # -- jobs -------------------------------------------------------------------------

    @activity.defn(name="durasumi.ray.job")
    async def run_job(self, job: RayJob) -> RayJobResult:
        """Submit (or re-attach to) a Ray job and follow it to the end, heartbeating."""
        client = await self._jobs()
        info = activity.info()
        submission_id = job.submission_id or _submission_id(info)
        existing = await asyncio.to_thread(_job_info, client, submission_id)
        if existing is None:
            await asyncio.to_thread(_submit, client, job, submission_id, info)
            log.info("submitted Ray job %s", submission_id)
        else:
            log.info("re-attaching to Ray job %s (%s)", submission_id, existing.status)
        try:
            async with heartbeating(
                self.settings.heartbeat_interval, lambda: {"submission_id": submission_id}
            ):
                # The Jobs API has no push: poll it.
                while True:
                    if await asyncio.to_thread(_job_done, client, submission_id):
                        break
                    await asyncio.sleep(self.settings.poll_interval)
        except asyncio.CancelledError:
            async with heartbeating(self.settings.heartbeat_interval):
                await self._stop_job(client, submission_id)
            raise
        details = await asyncio.to_thread(client.get_job_info, submission_id)
        logs = await asyncio.to_thread(client.get_job_logs, submission_id)
        status = str(details.status.value)
        if status != "SUCCEEDED":
            raise ApplicationError(
                f"Ray job {submission_id} ended {status}: {details.message or 'no message'}",
                {"submission_id": submission_id, "logs_tail": logs[-_LOG_TAIL:]},
                type=RAY_JOB_FAILED,
                non_retryable=True,
            )
        seconds = max(0.0, ((details.end_time or 0) - (details.start_time or 0)) / 1000)
        return RayJobResult(
            submission_id=submission_id,
            status=status,
            seconds=round(seconds, 3),
            gpu_seconds=round(seconds * (job.num_gpus or 0.0), 3),
            logs_tail=logs[-_LOG_TAIL:],
            reattached=existing is not None,
        )

    async def _stop_job(self, client: Any, submission_id: str) -> None:
        """Stop the job and wait (bounded) until Ray says it has stopped."""
        await asyncio.to_thread(client.stop_job, submission_id)
        deadline = time.monotonic() + max(self.settings.cancel_grace, 1.0) * 6
        while time.monotonic() < deadline:
            if await asyncio.to_thread(_job_done, client, submission_id):
                return
            await asyncio.sleep(self.settings.poll_interval)
        log.warning("Ray job %s did not stop in time", submission_id)

    # -- connecting -------------------------------------------------------------------

    async def _connect(self) -> Any:
        """The ray module, connected (or a local Ray started) once per worker."""
        async with self._lock:
            if self._ray is None:
                # ray.init blocks for seconds when it starts a local Ray: not on the loop.
                self._ray = await asyncio.to_thread(self._init)
        return self._ray

    def _init(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ApplicationError(
                "Ray is not installed on this worker: pip install 'durasumi[ray]'",
                type=RAY_NOT_INSTALLED,
                non_retryable=True,
            ) from None
        s = self.settings
        if not ray.is_initialized():
            local: dict[str, Any] = {}
            if s.local:
                local = {
                    "num_gpus": s.local_num_gpus,
                    "num_cpus": s.local_num_cpus,
                    "include_dashboard": True,  # the Jobs API lives in the dashboard
                }
                if s.local_object_store_mb:
                    local["object_store_memory"] = s.local_object_store_mb * 1024 * 1024
            context = ray.init(
                address=s.address or "local",
                namespace="durasumi",
                logging_level=logging.WARNING,
                **local,
            )
            self._started_local = s.local
            if self._dashboard is None and context.dashboard_url:
                self._dashboard = f"http://{context.dashboard_url}"
            log.info("connected to Ray (%s)", s.address or "local")
        if s.local:  # fixed for the life of a local Ray: read once
            self._local_resources = dict(ray.cluster_resources())
        # max_calls cannot be given per call (.options), so there is one of each.
        self._remote = ray.remote(max_calls=0)(_make_runner())
        self._remote_fresh = ray.remote(max_calls=1)(_make_runner())
        return ray

    async def _jobs(self) -> Any:
        """The Jobs API client (connecting to Ray first when its address must be learnt)."""
        if self._jobs_client is None:
            if self._dashboard is None:
                await self._connect()
            if self._dashboard is None:
                raise ApplicationError(
                    "the Ray Jobs API address is unknown: set DURASUMI_RAY_DASHBOARD_URL",
                    type=GPU_UNAVAILABLE,
                    non_retryable=True,
                )
            self._jobs_client = await asyncio.to_thread(_jobs_client, self._dashboard)
        return self._jobs_client


# -- helpers ---------------------------------------------------------------------------


def _make_runner() -> Any:
    """The function every Ray task runs: import the target, call it, time it.

    Built in a closure so Ray ships it by value: cluster nodes need the target's module
    (installed, or in the runtime_env), not durasumi.
    """

    def run(function: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        import importlib
        import os
        import platform
        import time

        module_name, _, name = function.partition(":")
        target = getattr(importlib.import_module(module_name), name)
        started = time.monotonic()
        value = target(*args, **kwargs)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return {
            "value": value,
            "seconds": time.monotonic() - started,
            "gpu_ids": [g for g in visible.split(",") if g],
            "node": platform.node(),
        }

    return run


def _task_options(task: RayTask) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_cpus": task.num_cpus,
        "num_gpus": task.num_gpus,
        "max_retries": 0,  # Temporal retries the activity, with its own policy
    }
    if task.memory is not None:
        options["memory"] = task.memory
    if task.accelerator_type is not None:
        options["accelerator_type"] = task.accelerator_type
    if task.resources:
        options["resources"] = dict(task.resources)
    if task.runtime_env is not None:
        options["runtime_env"] = task.runtime_env
    return options


def _check_feasible(have: dict[str, float], task: RayTask) -> None:
    """Fail at once when a local Ray can never run the task (it would wait forever).

    A cluster may autoscale, so only the local Ray, whose resources are fixed, is checked.
    """
    need = {"CPU": task.num_cpus, "GPU": task.num_gpus, **task.resources}
    if task.memory is not None:
        need["memory"] = task.memory
    if task.accelerator_type is not None:
        need[f"accelerator_type:{task.accelerator_type}"] = 0.001
    missing = {k: v for k, v in need.items() if v > have.get(k, 0)}
    if missing:
        raise ApplicationError(
            f"the local Ray cannot run {task.function}: it needs {missing}, the node has "
            f"{ {k: have.get(k, 0) for k in missing} }. Declare logical GPUs with "
            "DURASUMI_RAY_NUM_GPUS, or point RAY_ADDRESS at a cluster",
            type=GPU_UNAVAILABLE,
            non_retryable=True,
        )


def _task_failure(task: RayTask, err: Any) -> ApplicationError:
    cause = getattr(err, "cause", None)
    summary = f"{type(cause).__name__}: {cause}" if cause is not None else str(err).splitlines()[0]
    return ApplicationError(
        f"{task.function} failed: {summary}",
        {"traceback": str(err)[-_LOG_TAIL:]},
        type=RAY_TASK_FAILED,
        non_retryable=not task.retry_on_error,
    )


def _submission_id(info: activity.Info) -> str:
    """A Ray submission id stable across this activity's retries, unique per activity."""
    raw = f"durasumi-{info.workflow_id}-{(info.workflow_run_id or '')[:8]}-{info.activity_id}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)


def _jobs_client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def _job_info(client: Any, submission_id: str) -> Any:
    """The job's details, or None when no job has this submission id."""
    try:
        return client.get_job_info(submission_id)
    except RuntimeError as err:
        # The Jobs SDK reports a 404 only as text in a RuntimeError.
        if "does not exist" in str(err):
            return None
        raise


def _job_done(client: Any, submission_id: str) -> bool:
    return bool(client.get_job_status(submission_id).is_terminal())


def _submit(client: Any, job: RayJob, submission_id: str, info: activity.Info) -> None:
    resources = dict(job.resources)
    if job.accelerator_type is not None:
        resources[f"accelerator_type:{job.accelerator_type}"] = 0.001
    client.submit_job(
        entrypoint=job.entrypoint,
        submission_id=submission_id,
        runtime_env=job.runtime_env,
        metadata={"durasumi_workflow_id": info.workflow_id, **job.metadata},
        entrypoint_num_cpus=job.num_cpus,
        entrypoint_num_gpus=job.num_gpus,
        entrypoint_memory=job.memory,
        entrypoint_resources=resources or None,
    )

"""Worker Deployments: versioned workers, the current version, and what still runs on old ones.

A versioned worker polls as one *version* (deployment name + build id) of a Temporal Worker
Deployment. Agent workflows on a versioned worker are pinned: a job stays on the version it
started with, so a vendor can ship code whose commands differ without breaking the jobs
already running. New jobs go to the deployment's *current* version, which an operator sets
once the new version's workers poll (:func:`set_current_version`, ``durasumi deploy
current``). An old version is stopped once :func:`describe_deployment` shows none of its
pinned workflows still running.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

__all__ = [
    "DeploymentView",
    "VersionView",
    "check_build_id",
    "check_deployment_name",
    "describe_deployment",
    "pinned_running",
    "set_current_version",
    "worker_version",
]

log = logging.getLogger(__name__)

_EPOCH = datetime.fromtimestamp(0, UTC)

_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_:/@+-]*$")
_BUILD_ID = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def check_deployment_name(name: str) -> str:
    """``name`` if it can name a Worker Deployment, else ValueError saying why."""
    if len(name) > 200 or not _NAME.match(name):
        raise ValueError(f"deployment name {name!r} must be letters, digits, '-', '_' and no '.'")
    return name


def check_build_id(build_id: str) -> str:
    """``build_id`` if it can name a version, else ValueError saying why."""
    if len(build_id) > 200 or not _BUILD_ID.match(build_id) or build_id.startswith("__"):
        raise ValueError(
            f"build id {build_id!r} must be letters, digits, '.', '-', '_' (no spaces, no "
            "leading '__')"
        )
    return build_id


def worker_version(deployment: str | None, build_id: str | None) -> WorkerDeploymentVersion | None:
    """The version a worker polls as, or ``None`` for an unversioned worker.

    Args:
        deployment: The Worker Deployment's name (no dots: Temporal writes a version as
            ``<deployment>.<build id>``).
        build_id: This build's id (a git sha, a release tag).

    Raises:
        ValueError: Only one of the two is given, or one is malformed.

    Example:
        >>> worker_version("acme-writer", "2024-06-01.1").to_canonical_string()
        'acme-writer.2024-06-01.1'
        >>> worker_version(None, None) is None
        True
    """
    if deployment is None and build_id is None:
        return None
    if not deployment or not build_id:
        raise ValueError(
            "a versioned worker needs both a deployment name and a build id "
            "(--deployment/--build-id or DURASUMI_WORKER_DEPLOYMENT/DURASUMI_WORKER_BUILD_ID)"
        )
    return WorkerDeploymentVersion(
        deployment_name=check_deployment_name(deployment), build_id=check_build_id(build_id)
    )


class VersionView(BaseModel):
    """One version of a deployment, as the server and visibility see it."""

    build_id: str
    status: str  # current, ramping, draining, drained, inactive, created
    drainage: str | None  # the server's own verdict, refreshed every few minutes
    running: int  # workflows pinned to this version that are still running, counted now
    created: datetime | None
    current_since: datetime | None


class DeploymentView(BaseModel):
    """A Worker Deployment: its current version and every version's drainage."""

    name: str
    current_build_id: str | None  # None: new workflows go to unversioned workers
    ramping_build_id: str | None
    versions: list[VersionView]


async def set_current_version(
    client: Client, deployment: str, build_id: str, *, wait: float = 0.0
) -> str | None:
    """Make ``build_id`` the version new workflows of ``deployment`` start on.

    The server accepts a version only once one of its workers has polled; with ``wait``
    the call retries that refusal for up to ``wait`` seconds (a worker just started).

    Args:
        client: A connected client (its namespace is used).
        deployment: The Worker Deployment's name.
        build_id: The build id to make current.
        wait: Seconds to keep retrying while the version has no pollers yet.

    Returns:
        The build id that was current before (``None``: unversioned workers).

    Raises:
        RPCError: The server refused (NOT_FOUND: no worker of that version has polled).
    """
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=deployment,
        build_id=build_id,
        identity=client.identity,
    )
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            response = await client.workflow_service.set_worker_deployment_current_version(request)
            break
        except RPCError as err:
            retryable = err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
            if not retryable or asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(0.5)
    previous = response.previous_deployment_version
    log.info("deployment %s: current version %s (was %s)", deployment, build_id, previous)
    return previous.build_id or None


async def pinned_running(client: Client, deployment: str, build_id: str) -> int:
    """How many running workflows are pinned to this version (a visibility count).

    The ``TemporalWorkerDeploymentVersion`` search attribute (``<deployment>:<build id>``)
    names the version a workflow runs on; visibility lags writes by about a second.
    """
    version = f"{deployment}:{build_id}"
    if "'" in version or "\\" in version:
        raise ValueError(f"invalid version {version!r}")
    query = f"TemporalWorkerDeploymentVersion = '{version}' AND ExecutionStatus = 'Running'"
    return (await client.count_workflows(query)).count


async def describe_deployment(client: Client, deployment: str) -> DeploymentView:
    """The deployment's routing and, for each version, its drainage and running count.

    Raises:
        RPCError: NOT_FOUND when no versioned worker of ``deployment`` ever polled.
    """
    response = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
    )
    info = response.worker_deployment_info
    versions = []
    for summary in info.version_summaries:
        build_id = summary.deployment_version.build_id
        drainage = summary.drainage_info.status or summary.drainage_status
        versions.append(
            VersionView(
                build_id=build_id,
                status=_enum_word(
                    WorkerDeploymentVersionStatus.Name(summary.status),
                    "WORKER_DEPLOYMENT_VERSION_STATUS_",
                ),
                drainage=_enum_word(
                    VersionDrainageStatus.Name(drainage), "VERSION_DRAINAGE_STATUS_"
                )
                if drainage
                else None,
                running=await pinned_running(client, deployment, build_id),
                created=_time(summary, "create_time"),
                current_since=_time(summary, "current_since_time"),
            )
        )
    routing = info.routing_config
    return DeploymentView(
        name=info.name,
        current_build_id=_build_id(routing.current_deployment_version),
        ramping_build_id=_build_id(routing.ramping_deployment_version),
        versions=sorted(versions, key=lambda v: v.created or _EPOCH),
    )


def _time(message: Any, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None


def _build_id(version: VersionProto) -> str | None:
    return version.build_id or None


def _enum_word(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()

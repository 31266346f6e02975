"""The temporalio plugin that wires a worker (or client) for durasumi.

One plugin carries everything a worker needs to run durasumi workflows: the pydantic data
converter with the payload codec, the workflow sandbox with durasumi passed through, the
workflow failure types and, for agent workers, the SDK's activities (LLM and Ray). A vendor
builds a worker from their own code with it; ``durasumi worker`` and ``durasumi dev`` build
theirs through the same plugin (workers/run.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client, ClientConfig
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultPayloadConverter, ExternalStorage
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from durasumi.activities.gpu import GpuActivities, RaySettings
from durasumi.activities.llm import LlmActivities, LlmSettings
from durasumi.workers.codec import Keyring, data_converter
from durasumi.workers.job_context import JobContextInterceptor

__all__ = ["DurasumiPlugin", "workflow_runner"]

PLUGIN_NAME = "durasumi"


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with the ``durasumi`` package passed through.

    By default the sandbox re-imports every module a workflow uses for each workflow run:
    for durasumi's models and forms that cost about 1.5 MB and 150 ms of CPU per job
    (bench/core.py measured 3.3 GB of worker memory for 2,000 jobs paused on forms). The
    SDK's workflow code is deterministic (no I/O, no clocks, no module state) and its
    activity modules only define classes and models at import, so one shared import serves
    every run, and vendor code imports SDK models without ``imports_passed_through``.
    Vendor agent modules are still sandboxed as usual.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules("durasumi")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def _with_durasumi(existing: WorkflowRunner | None) -> WorkflowRunner:
    """The sandbox another plugin set (an agent framework's), with durasumi passed through."""
    if isinstance(existing, SandboxedWorkflowRunner):
        restrictions = existing.restrictions.with_passthrough_modules("durasumi")
        return dataclasses.replace(existing, restrictions=restrictions)
    return existing if existing is not None else workflow_runner()


class DurasumiPlugin(SimplePlugin):
    """Wires a Temporal worker or client for durasumi agents.

    On a client it sets the data converter (pydantic payloads, encrypted when ``keyring``
    is given). On a worker it also sets the sandbox, fails the workflow on any exception
    from agent code (a bug refunds the buyer instead of stalling a paid job on a retrying
    task), and registers the SDK's activities, so ``self.llm()`` and ``self.gpu()`` are
    served by the same worker. A worker whose client lacks durasumi's converter gets a copy
    of the client that has it.

    Args:
        keyring: Codec keys: payloads are AES-GCM ciphertext in Temporal's history; a
            vendor's worker holds only its own key. ``None`` keeps payloads plain.
        llm: The LLM behind ``self.llm()``: settings, or activities to share between
            workers. ``None`` registers an LLM activity that fails at once, naming the
            settings to set.
        ray: The Ray behind ``self.gpu()``: settings, or activities to share. ``None``
            starts a local Ray on the first GPU call.
        agents: ``False`` for the platform's own worker: no SDK activities, and workflow
            failures keep Temporal's default (the task retries until a fixed deploy).
        storage: The claim check (``workers.claim_check.payload_storage(settings)``):
            payloads over its threshold go to object storage. With neither ``keyring`` nor
            ``storage`` the client's own converter (codec and claim check) is kept.

    Example:
        >>> plugin = DurasumiPlugin()
        >>> plugin.name()
        'durasumi'
        >>> from temporalio.client import Client  # doctest: +SKIP
        >>> from temporalio.worker import Worker  # doctest: +SKIP
        >>> client = await Client.connect("localhost:7233")  # doctest: +SKIP
        >>> worker = Worker(  # doctest: +SKIP
        ...     client,
        ...     task_queue="durasumi-agent-writer",
        ...     workflows=[Writer],
        ...     activities=[write],
        ...     plugins=[DurasumiPlugin(llm=LlmSettings(base_url="http://127.0.0.1:8080/v1"))],
        ... )
        >>> await worker.run()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        keyring: Keyring | None = None,
        llm: LlmSettings | LlmActivities | None = None,
        ray: RaySettings | GpuActivities | None = None,
        agents: bool = True,
        storage: ExternalStorage | None = None,
    ) -> None:
        keyed = keyring is not None or storage is not None
        self._keyed = data_converter(keyring, storage) if keyed else None
        self._owned: list[LlmActivities | GpuActivities] = []
        self._running = 0  # workers of this plugin running now: the last one closes
        activities: list[Callable[..., Any]] = []
        if agents:
            llm_activities = self._own(llm, LlmActivities, LlmSettings)
            gpu_activities = self._own(ray, GpuActivities, RaySettings)
            activities = [llm_activities.chat, gpu_activities.run_task, gpu_activities.run_job]
        super().__init__(
            PLUGIN_NAME,
            data_converter=self._converter_for,
            activities=activities,
            workflow_runner=_with_durasumi,
            interceptors=[JobContextInterceptor()],
            workflow_failure_exception_types=[Exception] if agents else None,
            run_context=self._run_context if agents else None,
        )

    def _own(self, given: Any, activities: type, settings: type) -> Any:
        if isinstance(given, activities):
            return given  # shared: its owner closes it
        made = activities(given if given is not None else settings())
        self._owned.append(made)
        return made

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Register the SDK's activities once, and give the worker durasumi's converter."""
        config = super().configure_worker(config)
        # Activities the caller also listed (shared SDK activities) are registered once.
        config["activities"] = list(dict.fromkeys(config.get("activities") or ()))
        client = config["client"]
        converter = self._converter_for(client.data_converter)
        if converter is not client.data_converter:
            # The worker's payloads must be the client's: same converter, same codec.
            client_config: ClientConfig = client.config(active_config=True)
            client_config["data_converter"] = converter
            client_config["plugins"] = []  # already applied to the active config
            config["client"] = Client(**client_config)
        return config

    def _converter_for(self, existing: DataConverter | None) -> DataConverter:
        """The converter to use instead of ``existing``.

        With a keyring: the pydantic converter encrypting with it. Without: ``existing`` if
        it already carries pydantic payloads (it may hold the platform's codec), else the
        plain pydantic converter.
        """
        # Another plugin's own payload converter (the OpenAI Agents SDK's) is kept: its
        # models need it. Durasumi's codec still seals what it produces.
        foreign = (
            existing is not None
            and existing.payload_converter_class is not DefaultPayloadConverter
            and not issubclass(existing.payload_converter_class, PydanticPayloadConverter)
        )
        if self._keyed is not None:
            if foreign and existing is not None:
                return dataclasses.replace(
                    self._keyed, payload_converter_class=existing.payload_converter_class
                )
            return self._keyed
        if existing is not None and (
            foreign or issubclass(existing.payload_converter_class, PydanticPayloadConverter)
        ):
            return existing
        return data_converter(None)

    @asynccontextmanager
    async def _run_context(self) -> AsyncIterator[None]:
        """Close the LLM client and Ray connection this plugin made when its last worker stops."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            for owned in self._owned if self._running == 0 else ():
                if isinstance(owned, LlmActivities):
                    await owned.close()
                else:
                    await asyncio.to_thread(owned.close)

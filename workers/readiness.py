"""Whether this worker can serve an agent: what the agent needs against what it has."""

from __future__ import annotations

import importlib.util

from durasumi.workers.settings import Settings
from durasumi.workflows.agent import AgentWorkflow

__all__ = ["worker_problem"]


def worker_problem(agent: type[AgentWorkflow], settings: Settings) -> str | None:
    """Why a worker with ``settings`` cannot serve ``agent`` (``None``: it can).

    Example:
        >>> from durasumi.examples.llm_qa import LlmQa
        >>> worker_problem(LlmQa, Settings(llm_base_url=None))
        'no LLM is configured on its worker (DURASUMI_LLM_BASE_URL)'
    """
    problems = []
    if "llm" in agent.needs and not settings.llm_base_url:
        problems.append("no LLM is configured on its worker (DURASUMI_LLM_BASE_URL)")
    if "gpu" in agent.needs and not _ray_installed():
        problems.append("Ray is not installed on its worker (pip install 'durasumi[ray]')")
    return "; ".join(problems) or None


def _ray_installed() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False

"""Plutus V3 script evaluation with the ``uplc`` CEK machine, budgeted like the ledger."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import uplc
import uplc.ast as u
from uplc.cost_model import (
    Budget,
    default_builtin_cost_model_plutus_v3,
    default_cek_machine_cost_model_plutus_v3,
)
from uplc.machine import Machine

from activities.escrow.plutus import deep_recursion, to_uplc

__all__ = ["Evaluation", "evaluate"]

_lock = threading.Lock()


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one script run: success, the budget spent and the script's trace."""

    ok: bool
    mem: int
    steps: int
    logs: tuple[str, ...]
    error: str | None = None


@lru_cache(maxsize=8)
def _program(script: bytes) -> u.Program:
    return uplc.unflatten(script)


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    return default_cek_machine_cost_model_plutus_v3(), default_builtin_cost_model_plutus_v3()


def evaluate(script: bytes, context: Any, *, mem: int, steps: int) -> Evaluation:
    """Run ``script`` on the ScriptContext ``context`` within (mem, steps).

    A V3 script succeeds only by returning unit; an error term, a failed builtin or an
    exhausted budget fails it.
    """
    deep_recursion()
    program = _program(script)
    cek, builtins = _models()
    machine = Machine(Budget(cpu=steps, memory=mem), cek, builtins)
    applied = u.Program(program.version, u.Apply(program.term, to_uplc(context)))
    with _lock:  # the machine keeps per-run state on module-level caches
        result = machine.eval(applied)
    cost = result.cost
    logs = tuple(str(line) for line in result.logs)
    if isinstance(result.result, Exception):
        exhausted = cost.cpu > steps or cost.memory > mem
        error = "execution budget exhausted" if exhausted else _describe(result.result, logs)
        return Evaluation(False, cost.memory, cost.cpu, logs, error)
    if not isinstance(result.result, u.BuiltinUnit):
        return Evaluation(False, cost.memory, cost.cpu, logs, "script did not return unit")
    return Evaluation(True, cost.memory, cost.cpu, logs)


def _describe(error: Exception, logs: tuple[str, ...]) -> str:
    return logs[-1] if logs else (str(error) or type(error).__name__)

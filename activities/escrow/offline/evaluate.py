"""Plutus V3 script evaluation with the ``uplc`` CEK machine, budgeted like the ledger.

uplc's ``Machine.eval`` renames every variable of the program apart before each run and
finds each step's cost class with a linear scan of isinstance checks. For a ledger that
runs the same validator on every escrow spend that was two thirds of the evaluation time
(profiled in tests/test_escrow_saga.py's randomized test). :class:`_Machine` runs the
validator renamed once (the script context applied to it is a constant, which has no
variables) and memoises the cost class by node type; the CEK steps, costs and budget are
uplc's own (tests/test_escrow_evaluate.py compares both on real escrow spends).
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import frozendict
import uplc
import uplc.ast as u
from uplc.cost_model import (
    Budget,
    CekOp,
    default_builtin_cost_model_plutus_v3,
    default_cek_machine_cost_model_plutus_v3,
)
from uplc.machine import AST_TO_CEK_OP_MAP, ComputationResult, Machine, budget_cost_of_op_on_model
from uplc.transformer.unique_variables import FreeVariableError, UniqueVariableTransformer

from durasumi.activities.escrow.plutus import deep_recursion, to_uplc

__all__ = ["Evaluation", "evaluate"]

log = logging.getLogger(__name__)

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
    """The script decoded, its variables renamed apart (what uplc does before every run)."""
    program: u.Program = UniqueVariableTransformer().visit(uplc.unflatten(script))
    return program


_STEP_OPS: dict[type, CekOp] = {}


class _Machine(Machine):  # type: ignore[misc]
    """uplc's CEK machine for a program whose variables are already unique."""

    def eval(self, program: u.Program) -> ComputationResult:
        """``Machine.eval`` (uplc 1.3) without the per-run renaming."""
        self.remaining_budget = copy.copy(self.budget)
        self.logs: list[Any] = []
        stack: list[Any] = [u.Compute(u.NoFrame(), frozendict.frozendict(), program.term)]
        self.spend_budget(budget_cost_of_op_on_model(self.cek_machine_cost_model, CekOp.Startup, 0))
        res: Any
        try:
            while stack:
                step = stack.pop()
                if isinstance(step, u.Compute):
                    stack.append(self.compute(step.term, step.ctx, step.env))
                elif isinstance(step, u.Return):
                    stack.append(self.return_compute(step.context, step.value))
                elif isinstance(step, u.Done):
                    stack.append(step.term)
                    break
            self.spend_unbudgeted_steps()
            res = stack.pop()
        except Exception as e:  # uplc reports every failure as the run's result
            res = e
            if not isinstance(e, RuntimeError):  # an error term or a failed builtin is normal
                log.error("error during script execution: %s", e, exc_info=True)
        return ComputationResult(res, self.logs, self.budget - self.remaining_budget)

    def step_and_maybe_spend(self, term: Any) -> None:
        """``Machine.step_and_maybe_spend`` with the cost class memoised by node type."""
        step = _STEP_OPS.get(type(term))
        if step is None:
            step = next(op for ast, op in AST_TO_CEK_OP_MAP.items() if isinstance(term, ast))
            _STEP_OPS[type(term)] = step
        self.unbudgeted_steps[step] += 1
        self.unbudgeted_steps[None] += 1
        if self.unbudgeted_steps[None] >= self.slippage:
            self.spend_unbudgeted_steps()


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    return default_cek_machine_cost_model_plutus_v3(), default_builtin_cost_model_plutus_v3()


def evaluate(script: bytes, context: Any, *, mem: int, steps: int) -> Evaluation:
    """Run ``script`` on the ScriptContext ``context`` within (mem, steps).

    A V3 script succeeds only by returning unit; an error term, a failed builtin or an
    exhausted budget fails it.
    """
    deep_recursion()
    try:
        program = _program(script)
    except FreeVariableError as err:
        return Evaluation(False, 0, 0, (), f"malformed script: {err}")
    cek, builtins = _models()
    machine = _Machine(Budget(cpu=steps, memory=mem), cek, builtins)
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

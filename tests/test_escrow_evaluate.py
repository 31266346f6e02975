"""The ledger's script evaluator against uplc's own machine, on real escrow spends."""

from __future__ import annotations

import time
from typing import Any

import pytest
import uplc
import uplc.ast as u
from uplc.cost_model import Budget
from uplc.machine import Machine

from durasumi.activities.escrow.dev import dev_escrow
from durasumi.activities.escrow.offline import evaluate as evaluate_module
from durasumi.activities.escrow.offline import ledger as ledger_module
from durasumi.activities.escrow.offline.ledger import Ledger
from durasumi.activities.escrow.plutus import deep_recursion, to_uplc
from durasumi.workflows.escrow_models import EscrowAction, EscrowTerms, PaymentRequestInput

PRICE = 20_000_000


@pytest.fixture(scope="module")
def runs() -> list[tuple[bytes, Any]]:
    """(script, context) of every script run of a happy and a dispute escrow."""
    seen: list[tuple[bytes, Any]] = []
    real = ledger_module.evaluate

    def recording(script: bytes, context: Any, *, mem: int, steps: int) -> Any:
        seen.append((script, context))
        return real(script, context, mem=mem, steps=steps)

    ledger_module.evaluate = recording  # type: ignore[assignment]
    try:
        dev = dev_escrow()
        backend = dev.backend()
        start = Ledger.posix_of(Ledger.slot_of(int(time.time() * 1000)))
        for path in ("happy", "dispute"):
            req = backend.create_payment_request(
                PaymentRequestInput(
                    job_id=f"eval-{path}",
                    agent="eval",
                    identifier_from_purchaser="00ff00ff00ff00ff",
                    input_hash="ab" * 32,
                    price_lovelace=PRICE,
                    times=EscrowTerms(price_lovelace=PRICE).times(start),
                )
            )
            steps = [
                (EscrowAction.LOCK, start + 1_000),
                (EscrowAction.SUBMIT_RESULT, start + 60_000),
            ]
            if path == "happy":
                steps.append((EscrowAction.WITHDRAW, req.times.unlock_time + 1_000))
            else:
                steps += [
                    (EscrowAction.REQUEST_REFUND, start + 120_000),
                    (EscrowAction.AUTHORIZE_REFUND, start + 180_000),
                    (EscrowAction.WITHDRAW_REFUND, req.times.submit_result_time + 1_000),
                ]
            for action, at in steps:
                backend.perform(action, req, at, "cd" * 32)
    finally:
        ledger_module.evaluate = real  # type: ignore[assignment]
    return seen


def _uplc_eval(script: bytes, context: Any, mem: int, steps: int) -> Any:
    deep_recursion()
    cek, builtins = evaluate_module._models()
    program = uplc.unflatten(script)
    machine = Machine(Budget(cpu=steps, memory=mem), cek, builtins)
    return machine.eval(u.Program(program.version, u.Apply(program.term, to_uplc(context))))


def test_same_outcome_and_budget_as_uplc(runs: list[tuple[bytes, Any]]) -> None:
    # build (unbounded budget) and submit (declared budget) runs of 5 kinds of spend
    assert len(runs) >= 10
    max_mem, max_steps = 14_000_000, 10_000_000_000
    ours_s = theirs_s = 0.0
    for script, context in runs:
        began = time.perf_counter()
        ours = evaluate_module.evaluate(script, context, mem=max_mem, steps=max_steps)
        ours_s += time.perf_counter() - began
        began = time.perf_counter()
        theirs = _uplc_eval(script, context, max_mem, max_steps)
        theirs_s += time.perf_counter() - began
        assert ours.ok and isinstance(theirs.result, u.BuiltinUnit)
        assert (ours.mem, ours.steps) == (theirs.cost.memory, theirs.cost.cpu)
        assert list(ours.logs) == [str(line) for line in theirs.logs]
    print(f"\n{len(runs)} script runs: ours {ours_s:.2f} s, uplc's Machine.eval {theirs_s:.2f} s")


def test_a_failing_run_fails_the_same_way(runs: list[tuple[bytes, Any]]) -> None:
    script, context = runs[-1]
    good = evaluate_module.evaluate(script, context, mem=14_000_000, steps=10_000_000_000)
    short = evaluate_module.evaluate(script, context, mem=good.mem, steps=good.steps - 1)
    theirs = _uplc_eval(script, context, good.mem, good.steps - 1)
    assert not short.ok and short.error == "execution budget exhausted"
    assert isinstance(theirs.result, RuntimeError)
    assert (short.mem, short.steps) == (theirs.cost.memory, theirs.cost.cpu)
    exact = evaluate_module.evaluate(script, context, mem=good.mem, steps=good.steps)
    assert exact.ok

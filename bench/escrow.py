"""Escrow transactions on the offline ledger: build, script evaluation, submit; script budget.

Run: python -m bench.escrow [--rounds N]. Each round walks one escrow through the happy path
(lock, SubmitResult, Withdraw) and one through the dispute path (lock, SubmitResult,
SetRefundRequested, AuthorizeRefund, WithdrawRefund) with the direct-chain backend the
platform worker uses. Per action the table gives the median wall time of the whole step
(``DirectChainBackend.perform``: read the escrow, build with pycardano, sign, submit) and
of its parts: *estimate*, the script run pycardano asks the ledger for while building (the
execution units it declares); *submit*, the ledger's validation of the signed transaction
(phase 1 checks plus the script run again, within the declared budget); *build*, the rest
(reading the escrow, pycardano's balancing and fee estimation, signing). Then the script's
mem / steps for the redeemer, as a share of a transaction's maximum, and the fee.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from durasumi.activities.escrow.dev import dev_escrow
from durasumi.activities.escrow.offline.ledger import Ledger
from durasumi.workflows.escrow_models import EscrowAction, EscrowTerms, PaymentRequestInput

PRICE = 20_000_000
RESULT = "cd" * 32
REDEEMER = {
    EscrowAction.SUBMIT_RESULT: "SubmitResult",
    EscrowAction.WITHDRAW: "Withdraw",
    EscrowAction.REQUEST_REFUND: "SetRefundRequested",
    EscrowAction.AUTHORIZE_REFUND: "AuthorizeRefund",
    EscrowAction.WITHDRAW_REFUND: "WithdrawRefund",
}


class Timed:
    """Wall time spent in one method of an object, summed until reset."""

    def __init__(self, owner: Any, name: str) -> None:
        self.spent = 0.0
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - began

        setattr(owner, name, timed)

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    dev = dev_escrow()
    backend = dev.backend()
    estimate, submit = Timed(dev.ledger, "evaluate"), Timed(dev.ledger, "submit")
    samples: dict[EscrowAction, list[tuple[float, float, float]]] = defaultdict(list)
    records: dict[EscrowAction, Any] = {}
    start = Ledger.posix_of(Ledger.slot_of(int(time.time() * 1000)))
    for n in range(args.rounds):
        for path in ("happy", "dispute"):
            req = backend.create_payment_request(
                PaymentRequestInput(
                    job_id=f"bench-{n}-{path}",
                    agent="bench",
                    identifier_from_purchaser="00ff00ff00ff00ff",
                    input_hash="ab" * 32,
                    price_lovelace=PRICE,
                    times=EscrowTerms(price_lovelace=PRICE).times(start),
                )
            )
            t = req.times
            steps = [
                (EscrowAction.LOCK, start + 1_000),
                (EscrowAction.SUBMIT_RESULT, start + 60_000),
            ]
            if path == "happy":
                steps.append((EscrowAction.WITHDRAW, t.unlock_time + 1_000))
            else:
                steps += [
                    (EscrowAction.REQUEST_REFUND, start + 120_000),
                    (EscrowAction.AUTHORIZE_REFUND, start + 180_000),
                    (EscrowAction.WITHDRAW_REFUND, t.submit_result_time + 1_000),
                ]
            for action, at in steps:
                began = time.perf_counter()
                backend.perform(action, req, at, RESULT)
                total = time.perf_counter() - began
                samples[action].append((total, estimate.take(), submit.take()))
                records[action] = dev.ledger.transactions()[-1]
    pp = dev.ledger.params
    print(
        f"{'action':<17} {'redeemer':<18} {'total':>6} {'build':>6} {'estim.':>6} "
        f"{'submit':>6} {'mem':>8} {'steps':>12} {'mem%':>5} {'steps%':>6} {'fee':>7}"
    )
    print(f"{'':<36} {'ms (median of ' + str(args.rounds) + ')':>27}")
    for action, runs in samples.items():
        total, est, sub = (statistics.median(r[i] for r in runs) * 1000 for i in range(3))
        record = records[action]
        print(
            f"{action.value:<17} {REDEEMER.get(action, '(no script)'):<18} {total:>6.0f} "
            f"{total - est - sub:>6.0f} {est:>6.0f} {sub:>6.0f} {record.mem:>8} "
            f"{record.steps:>12} {record.mem / pp.max_tx_ex_mem * 100:>5.1f} "
            f"{record.steps / pp.max_tx_ex_steps * 100:>6.2f} {record.fee:>7}"
        )


if __name__ == "__main__":
    main()

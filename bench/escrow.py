"""Escrow transactions on the offline ledger: build + evaluate + submit time, script budget.

Run: python -m bench.escrow [--rounds N]. Each round walks one escrow through the happy path
(lock, SubmitResult, Withdraw) and one through the dispute path (lock, SubmitResult,
SetRefundRequested, AuthorizeRefund, WithdrawRefund); the table gives, per action, the median
wall time of building (with script evaluation for execution units), signing and submitting
(which evaluates again, within the declared budget), and the script's mem / steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from activities.escrow.dev import dev_escrow
from activities.escrow.offline.ledger import Ledger
from workflows.escrow_models import EscrowAction, EscrowTerms, PaymentRequestInput

PRICE = 20_000_000
RESULT = "cd" * 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    dev = dev_escrow()
    backend = dev.backend()
    times: dict[str, list[float]] = defaultdict(list)
    budgets: dict[str, tuple[int, int]] = {}
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
                times[action.value].append(time.perf_counter() - began)
                record = dev.ledger.transactions()[-1]
                budgets[action.value] = (record.mem, record.steps)
    print(f"{'action':<20} {'ms (median)':>12} {'mem':>10} {'steps':>14}")
    for name, samples in times.items():
        mem, units = budgets[name]
        median = statistics.median(samples) * 1000
        print(f"{name:<20} {median:>12.0f} {mem:>10} {units:>14}")


if __name__ == "__main__":
    main()

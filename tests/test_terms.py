"""One family of payment windows: EscrowWindows (minutes) -> EscrowTimes (Unix ms)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from durasumi.workflows.escrow_models import EscrowTerms
from durasumi.workflows.models import JobInput
from durasumi.workflows.terms import EscrowTimes, EscrowWindows, JobTerms, terms_for

HOUR_MS = 3_600_000

# As recorded in running jobs' histories before the two families were merged.
RECORDED_TERMS = {
    "blockchain_identifier": "free-00",
    "pay_by_time": 600_000,
    "submit_result_time": 3_600_000,
    "unlock_time": 25_200_000,
    "external_dispute_unlock_time": 46_800_000,
    "agent_identifier": "trip-planner",
    "seller_vkey": "ab",
}
RECORDED_ESCROW = {
    "price_lovelace": 25_000_000,
    "pay_by_minutes": 10,
    "submit_result_minutes": 60,
    "unlock_minutes": 360,
    "dispute_minutes": 720,
    "collateral_return_lovelace": 0,
    "platform_buyer": False,
    "poll_seconds": 30,
    "watch_seconds": 600,
}


def test_default_windows_give_the_masumi_defaults() -> None:
    t = EscrowWindows().times(0)
    assert t == EscrowTimes(
        pay_by_time=600_000,
        submit_result_time=HOUR_MS,
        unlock_time=7 * HOUR_MS,
        external_dispute_unlock_time=13 * HOUR_MS,
    )


def test_free_terms_and_paid_terms_share_the_windows() -> None:
    terms = terms_for(
        now_ms=1_000,
        windows=EscrowWindows(),
        blockchain_identifier="free-00",
        agent_identifier="a",
        seller_vkey="ab",
    )
    assert terms.deadlines() == EscrowTerms(price_lovelace=1).times(1_000)
    assert type(terms.deadlines()) is EscrowTimes


@pytest.mark.parametrize(
    "windows",
    [
        {"pay_by_minutes": 56},  # payByTime less than 5 min before submitResultTime
        {"pay_by_minutes": 0},
        {"submit_result_minutes": 14, "pay_by_minutes": 5},
        {"unlock_minutes": 14},
        {"unlock_minutes": 400, "dispute_minutes": 414},  # dispute < unlock + 15 min
    ],
)
def test_windows_outside_masumi_rules_are_refused(windows: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        EscrowWindows(**windows)
    with pytest.raises(ValidationError):
        EscrowTerms(price_lovelace=1, **windows)


def test_recorded_payloads_read_and_write_unchanged() -> None:
    job = JobInput.model_validate(
        {
            "job_id": "j",
            "agent": "a",
            "agent_task_queue": "q",
            "identifier_from_purchaser": "00",
            "input_hash": "h",
            "payment": {"mode": "escrow", "escrow": RECORDED_ESCROW},
            "terms": RECORDED_TERMS,
        }
    )
    assert isinstance(job.terms, JobTerms)
    assert job.terms.unlock_time == 25_200_000
    dumped = job.model_dump(mode="json")
    assert dumped["terms"] == RECORDED_TERMS
    # fields added since (a registry identifier, native-asset amounts) read as their defaults
    added = {"agent_identifier": "", "amounts": []}
    assert dumped["payment"]["escrow"] == RECORDED_ESCROW | added

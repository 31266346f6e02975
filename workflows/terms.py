"""The Masumi payment windows of a job and the deadlines they give, plus MIP-003 job terms.

One family for every job, free or paid: ``EscrowWindows`` are the four windows in minutes
(an agent's setting), ``EscrowWindows.times`` turns them into ``EscrowTimes``, the four
deadlines in Unix ms, fixed when a job starts and travelling with it, so every later
/status or /start_job retry answers the same numbers. ``JobTerms`` (what MIP-003 start_job
answers for a free agent) and ``EscrowTerms`` (a paid job's plan, ``escrow_models.py``)
extend these two.

The rules follow Masumi's V1 escrow: payByTime at least 5 minutes before submitResultTime,
submitResultTime at least 15 minutes ahead, unlockTime at least 15 minutes after
submitResultTime (6 hours by default), externalDisputeUnlockTime at least 15 minutes after
unlockTime (submitResultTime + 12 hours by default).

Both models extend rather than wrap, on purpose: their fields stay flat on the wire, so
payloads recorded in running jobs' histories (``JobInput.terms``, ``PaymentPlan.escrow``,
``PaymentRequest.times``) read the same before and after, in either direction.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

__all__ = ["EscrowTimes", "EscrowWindows", "JobTerms", "terms_for"]

MINUTE_MS = 60_000


class EscrowTimes(BaseModel):
    """The four escrow deadlines (Unix ms, as on chain)."""

    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int

    def deadlines(self) -> EscrowTimes:
        """Just the four deadlines (a subclass such as ``JobTerms`` carries more)."""
        return EscrowTimes(
            pay_by_time=self.pay_by_time,
            submit_result_time=self.submit_result_time,
            unlock_time=self.unlock_time,
            external_dispute_unlock_time=self.external_dispute_unlock_time,
        )


class EscrowWindows(BaseModel):
    """The four escrow windows in minutes (defaults: 10 min, 60 min, 6 h, 12 h).

    ``pay_by_minutes`` and ``submit_result_minutes`` count from the job's start,
    ``unlock_minutes`` and ``dispute_minutes`` from submitResultTime (as MASUMI.md states
    the defaults).

    Example:
        >>> t = EscrowWindows().times(0)
        >>> (t.pay_by_time, t.submit_result_time, t.unlock_time) == (600000, 3600000, 25200000)
        True
    """

    pay_by_minutes: int = Field(10, ge=1, description="payByTime = job start + this.")
    submit_result_minutes: int = Field(
        60, ge=15, description="submitResultTime = job start + this."
    )
    unlock_minutes: int = Field(360, ge=15, description="unlockTime = submitResultTime + this.")
    dispute_minutes: int = Field(
        720, description="externalDisputeUnlockTime = submitResultTime + this."
    )

    @model_validator(mode="after")
    def _windows(self) -> EscrowWindows:
        if self.pay_by_minutes > self.submit_result_minutes - 5:
            raise ValueError("payByTime must be at least 5 minutes before submitResultTime")
        if self.dispute_minutes < self.unlock_minutes + 15:
            raise ValueError("externalDisputeUnlockTime must be >= unlockTime + 15 minutes")
        return self

    def times(self, start_ms: int) -> EscrowTimes:
        """The deadlines of a job that starts at ``start_ms`` (Unix ms)."""
        submit = start_ms + self.submit_result_minutes * MINUTE_MS
        return EscrowTimes(
            pay_by_time=start_ms + self.pay_by_minutes * MINUTE_MS,
            submit_result_time=submit,
            unlock_time=submit + self.unlock_minutes * MINUTE_MS,
            external_dispute_unlock_time=submit + self.dispute_minutes * MINUTE_MS,
        )


class JobTerms(EscrowTimes):
    """What MIP-003 start_job returns besides the ids: the deadlines and who is paid."""

    blockchain_identifier: str
    agent_identifier: str
    seller_vkey: str


def terms_for(
    *,
    now_ms: int,
    windows: EscrowWindows,
    blockchain_identifier: str,
    agent_identifier: str,
    seller_vkey: str,
) -> JobTerms:
    """The terms of a job starting at ``now_ms``.

    Example:
        >>> t = terms_for(now_ms=0, windows=EscrowWindows(), blockchain_identifier="b",
        ...               agent_identifier="a", seller_vkey="v")
        >>> (t.pay_by_time, t.external_dispute_unlock_time) == (600000, 3600000 + 720 * 60000)
        True
    """
    return JobTerms(
        **windows.times(now_ms).model_dump(),
        blockchain_identifier=blockchain_identifier,
        agent_identifier=agent_identifier,
        seller_vkey=seller_vkey,
    )

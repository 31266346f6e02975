"""MIP-003 job terms: the payment identifier and the escrow time windows (Unix ms).

They are fixed when a job starts and travel with it, so every later /status or /start_job
retry answers the same numbers. The windows follow the Masumi escrow rules: payByTime at
least 5 minutes before submitResultTime, submitResultTime at least 15 minutes ahead, unlock
6 hours and external dispute 12 hours after submitResultTime by default.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

__all__ = ["JobTerms", "TermWindows", "terms_for"]

MINUTE_MS = 60_000


class TermWindows(BaseModel):
    """An agent's time windows, in minutes from the job's start."""

    pay_within: int = Field(10, ge=1)
    submit_result_within: int = Field(60, ge=15)
    unlock_after_submit: int = Field(360, ge=15)
    dispute_after_unlock: int = Field(360, ge=15)

    @model_validator(mode="after")
    def _pay_before_submit(self) -> TermWindows:
        if self.pay_within > self.submit_result_within - 5:
            raise ValueError("pay_within must end at least 5 minutes before submit_result_within")
        return self


class JobTerms(BaseModel):
    """What MIP-003 start_job returns besides the ids."""

    blockchain_identifier: str
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int
    agent_identifier: str
    seller_vkey: str


def terms_for(
    *,
    now_ms: int,
    windows: TermWindows,
    blockchain_identifier: str,
    agent_identifier: str,
    seller_vkey: str,
) -> JobTerms:
    """The terms of a job starting at ``now_ms``.

    Example:
        >>> t = terms_for(now_ms=0, windows=TermWindows(), blockchain_identifier="b",
        ...               agent_identifier="a", seller_vkey="v")
        >>> (t.pay_by_time, t.submit_result_time, t.unlock_time) == (600000, 3600000, 25200000)
        True
    """
    submit = now_ms + windows.submit_result_within * MINUTE_MS
    unlock = submit + windows.unlock_after_submit * MINUTE_MS
    return JobTerms(
        blockchain_identifier=blockchain_identifier,
        pay_by_time=now_ms + windows.pay_within * MINUTE_MS,
        submit_result_time=submit,
        unlock_time=unlock,
        external_dispute_unlock_time=unlock + windows.dispute_after_unlock * MINUTE_MS,
        agent_identifier=agent_identifier,
        seller_vkey=seller_vkey,
    )

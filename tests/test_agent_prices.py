"""Prices with units through POST /agents: lovelace and native assets, several amounts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.chain import tokens_held
from durasumi.activities.escrow.dev import DevEscrow
from durasumi.cli.escrow import _payment_request
from durasumi.client import jobs
from durasumi.workflows.escrow_models import Amount, EscrowState, split_price
from tests import test_escrow_saga
from tests.api_fixtures import Api
from tests.test_api_paid import PaidApi, serve_paid_echo

env = test_escrow_saga.env  # the time-skipping server fixture
TOKEN_PRICE = 7_500_000

USDM = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad" + "0014df105553444d"
USDCX = "1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e34" + "5553444378"


async def test_a_price_in_units_is_registered_and_shown(sqlite_api: Api) -> None:
    price = [{"unit": USDM, "amount": 12_500_000}, {"unit": "lovelace", "amount": 2_000_000}]
    async with sqlite_api.client("operator") as ops:
        resp = await ops.post("/agents", json={"name": "priced", "price_amounts": price})
        assert resp.status_code == 201, resp.text
        shown = (await ops.get("/agents/priced")).json()
        # "lovelace" is Masumi's "" unit; price_lovelace follows the lovelace amount
        assert shown["price_amounts"] == [
            {"unit": USDM, "amount": 12_500_000},
            {"unit": "", "amount": 2_000_000},
        ]
        assert shown["price_lovelace"] == 2_000_000
        # a registration that names no price (a worker's) keeps it
        again = await ops.post("/agents", json={"name": "priced", "description": "d"})
        assert again.json()["price_amounts"] == shown["price_amounts"]
        # a price in lovelace alone replaces the units
        plain = await ops.post("/agents", json={"name": "priced", "price_lovelace": 7_000_000})
        assert plain.json()["price_amounts"] is None
        assert plain.json()["price_lovelace"] == 7_000_000


async def test_bad_prices_get_a_clear_422(sqlite_api: Api) -> None:
    bad_prices: list[object] = [
        [{"unit": "usdm", "amount": 1}],  # not hex
        [{"unit": USDM[:50], "amount": 1}],  # shorter than a policy id
        [{"unit": USDM + "0", "amount": 1}],  # odd length
        [{"unit": USDM, "amount": 0}],
        [{"unit": USDM, "amount": -5}],
        [{"unit": USDM, "amount": 2**63}],
        [{"unit": USDM}],
        [],
        [{"unit": USDCX, "amount": 1}] * 17,
    ]
    async with sqlite_api.client("operator") as ops:
        for price in bad_prices:
            resp = await ops.post("/agents", json={"name": "priced", "price_amounts": price})
            assert resp.status_code == 422, (price, resp.text)
        both = await ops.post(
            "/agents",
            json={
                "name": "priced",
                "price_lovelace": 3_000_000,
                "price_amounts": [{"unit": "", "amount": 2_000_000}],
            },
        )
        assert both.status_code == 422
        assert "price_lovelace (3000000) differs" in both.json()["message"]


def test_amounts_are_shown_with_their_units() -> None:
    assert Amount(unit="", amount=2_500_000).label() == "2.500000 ada"
    # USDM's asset name is CIP-67 label 333 (0014df10) before "USDM"
    assert Amount(unit=USDM, amount=7).label() == "7 USDM (c48cbb3d...)"
    assert Amount(unit=USDCX, amount=1).label() == "1 USDCx (1f3aec8b...)"
    odd = "ab" * 28 + "ff41"
    assert Amount(unit=odd, amount=3).label() == f"3 {odd} (abababab...)"


def test_split_price_sums_each_unit() -> None:
    amounts = [
        {"unit": USDM, "amount": 5},
        {"unit": "", "amount": 1_000_000},
        {"unit": USDM, "amount": 7},
        {"unit": USDCX, "amount": 1},
    ]
    assert split_price(99, None) == (99, [])
    assert split_price(99, amounts) == (
        1_000_000,
        [Amount(unit=USDCX, amount=1), Amount(unit=USDM, amount=12)],
    )


# -- a token-priced agent sold through MIP-003 start_job (offline escrow) -----------------


@pytest.fixture
async def token_api(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[PaidApi]:
    def in_tokens(dev: DevEscrow) -> dict[str, Any]:
        return {"price_amounts": [{"unit": dev.stablecoin, "amount": TOKEN_PRICE}]}

    async for paid in serve_paid_echo(env, tmp_path, in_tokens):
        yield paid


async def test_start_job_of_a_token_priced_agent_asks_for_the_tokens(token_api: PaidApi) -> None:
    dev = token_api.dev
    resp = await token_api.start_job()
    assert resp.status_code == 200, resp.text
    job_id = resp.json()["job_id"]
    view = await jobs.job_view(token_api.client, job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.NOT_LOCKED
    assert view.escrow.price_lovelace == 0
    assert view.escrow.amounts == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    async with token_api.api.client("alice") as http:
        shown = (await http.get(f"/jobs/{job_id}")).json()
    assert shown["escrow"]["amounts"] == [{"unit": dev.stablecoin, "amount": TOKEN_PRICE}]

    # the dev buyer pays in tUSDM (what `durasumi pay JOB` does): the escrow holds them
    buyer_before = dev.ledger.value_at(dev.buyer.address)
    locked = dev.pay(_payment_request(view, view.escrow), int(time.time() * 1000))
    assert locked.state is EscrowState.FUNDS_LOCKED
    assert locked.amounts == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    held = dev.ledger.value_at(dev.script_address())
    assert tokens_held(held) == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    spent = buyer_before - dev.ledger.value_at(dev.buyer.address)
    assert tokens_held(spent) == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    assert spent.coin == held.coin + dev.ledger.transactions()[-1].fee

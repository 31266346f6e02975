"""BlockfrostChain: the direct-chain backend through the Blockfrost REST API on loopback.

The loopback server (tests/blockfrost_server.py) keeps its chain in the offline ledger, so
every transaction it accepts passed the ledger's checks: CBOR, the witnesses' signatures
over the body, balance, fee, validity interval and the escrow script itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycardano import (
    Asset,
    AssetName,
    MultiAsset,
    Network,
    RedeemerTag,
    ScriptHash,
    TransactionBuilder,
    TransactionOutput,
    Value,
)
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from durasumi.activities.escrow.blockfrost import BlockfrostChain, EscrowDeployment
from durasumi.activities.escrow.chain import DirectChainBackend
from durasumi.activities.escrow.errors import (
    ESCROW_NOT_YET,
    ESCROW_REJECTED,
    ESCROW_UNAVAILABLE,
    EscrowError,
)
from durasumi.activities.escrow.offline.ledger import Ledger
from durasumi.activities.escrow.offline.script_context import redeemer_list
from durasumi.activities.escrow.plutus import Constr
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.activities.escrow.script import Action, EscrowParams, applied_script, script_address
from durasumi.activities.escrow.wallet import Wallet
from durasumi.workers.escrow import EscrowConfigError, escrow_activities
from durasumi.workers.settings import Settings
from durasumi.workflows.escrow_models import (
    Amount,
    EscrowAction,
    EscrowState,
    EscrowStep,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)
from tests.blockfrost_server import BlockfrostServer

ADA = 1_000_000
PRICE = 20 * ADA
RESULT = "ab" * 32


@dataclass
class Chain:
    server: BlockfrostServer
    buyer: Wallet
    seller: Wallet
    params: EscrowParams
    script_ref: str

    def access(self, **options: object) -> BlockfrostChain:
        settings: dict[str, object] = {"base_url": self.server.url, "tip_ttl": 0.0}
        settings.update(options)
        return BlockfrostChain(self.server.project_id, "preprod", **settings)  # type: ignore[arg-type]

    def backend(self, min_confirmations: int = 1, confirm_wait: float = 5.0) -> DirectChainBackend:
        return DirectChainBackend(
            self.access(),
            self.params,
            self.script_ref,
            self.seller,
            self.buyer,
            min_confirmations=min_confirmations,
            confirm_wait=confirm_wait,
            confirm_poll=0.02,
        )


# One deployment for the module: applying the script's parameters takes a second.
BUYER, SELLER, FEE, ADMIN1, ADMIN2 = (Wallet.generate() for _ in range(5))
PARAMS = EscrowParams(
    required_admins=1,
    admin_key_hashes=(ADMIN1.key_hash.payload, ADMIN2.key_hash.payload),
    fee_address=FEE.address,
)


@pytest.fixture
def chain() -> Iterator[Chain]:
    """A fresh chain with the escrow script deployed and the wallets funded."""
    server = BlockfrostServer(Ledger()).start()
    buyer, seller, params = BUYER, SELLER, PARAMS
    script_ref = server.fund(ADMIN1.address, 100 * ADA, script=applied_script(params))
    server.fund(buyer.address, 1_000 * ADA)
    server.fund(seller.address, 100 * ADA)
    yield Chain(server, buyer, seller, params, script_ref)
    server.stop()


def request_input(job_id: str = "job-1") -> PaymentRequestInput:
    return PaymentRequestInput(
        job_id=job_id,
        agent="paid-echo",
        identifier_from_purchaser="a1b2c3d4e5f60718",
        input_hash="cd" * 32,
        price_lovelace=PRICE,
        times=EscrowTerms(price_lovelace=PRICE).times(int(time.time() * 1000)),
        agent_identifier="0c" * 28 + "70616964",  # a registry asset: policy id + "paid"
    )


def step(request: PaymentRequest, result_hash: str | None = None) -> EscrowStep:
    # The workflow's instant is ignored on a real chain: transactions are built at the tip.
    return EscrowStep(request=request, at_ms=0, result_hash=result_hash)


def mine_once_accepted(server: BlockfrostServer, transactions: int) -> None:
    """The next block, once the chain holds ``transactions`` (while the sender waits)."""
    deadline = time.monotonic() + 10
    while len(server.accepted) < transactions and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    server.mine()


def test_escrow_lock_and_result_through_blockfrost(chain: Chain) -> None:
    escrow = EscrowActivities(chain.backend(min_confirmations=2, confirm_wait=0.2))
    request = escrow.create_payment_request(request_input())
    assert request.script_address == str(
        script_address(applied_script(chain.params), Network.TESTNET)
    )
    assert escrow.read_state(step(request)).state is EscrowState.NOT_LOCKED

    with pytest.raises(ApplicationError) as waiting:  # sent, then 1 of 2 confirmations
        escrow.lock_funds(step(request))
    assert (waiting.value.type, waiting.value.non_retryable) == (ESCROW_NOT_YET, False)
    [lock] = chain.server.accepted  # one real, signed transaction, accepted by the ledger
    lock_id = list(chain.server.txs)[-1]  # the hash of its body as submitted (chunked bytes)
    [witness] = lock.transaction_witness_set.vkey_witnesses
    assert witness.vkey.hash() == chain.buyer.key_hash
    pending = escrow.read_state(step(request))
    assert pending.state is EscrowState.NOT_LOCKED  # not settled yet
    assert f"lock {lock_id} has 1/2 confirmations" in pending.detail
    with pytest.raises(ApplicationError):  # the activity's retry finds it and builds nothing
        escrow.lock_funds(step(request))
    assert len(chain.server.accepted) == 1

    chain.server.mine()
    locked = escrow.lock_funds(step(request))
    assert locked.already_done and locked.state is EscrowState.FUNDS_LOCKED
    assert locked.confirmations == 2 and locked.amount_lovelace == PRICE
    assert locked.tx_of(EscrowAction.LOCK) == lock_id

    patient = EscrowActivities(chain.backend(min_confirmations=2))
    threading.Thread(target=mine_once_accepted, args=(chain.server, 2), daemon=True).start()
    status = patient.submit_result(step(request, RESULT))
    assert status.state is EscrowState.RESULT_SUBMITTED and status.result_hash == RESULT
    assert [t.action for t in status.transactions] == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
    ]
    _, submit = chain.server.accepted
    body = submit.transaction_body
    [script_input] = body.reference_inputs or []  # the applied script, as it sits on chain
    assert f"{script_input.transaction_id.payload.hex()}#{script_input.index}" == chain.script_ref
    [redeemer] = redeemer_list(submit)
    assert redeemer.tag == RedeemerTag.SPEND
    assert Constr.parse(redeemer.data).tag == Action.SUBMIT_RESULT
    assert [w.vkey.hash() for w in submit.transaction_witness_set.vkey_witnesses] == [
        chain.seller.key_hash
    ]
    assert patient.submit_result(step(request, RESULT)).already_done
    assert len(chain.server.accepted) == 2


def test_clock_and_confirmations_follow_the_chain(chain: Chain) -> None:
    access = chain.access()
    ledger = chain.server.ledger
    for instant in (int(time.time() * 1000), 1_700_000_000_123, 1_900_000_000_999):
        assert access.slot_of(instant) == ledger.slot_of(instant)
        assert access.posix_of(access.slot_of(instant)) == ledger.posix_of(ledger.slot_of(instant))
    assert abs(access.now_ms(0) - int(time.time() * 1000)) < 5_000
    assert access.confirmations("ee" * 32) == 0
    assert access.output("ee" * 32 + "#0") is None
    [funds] = access.outputs_at(chain.buyer.address)  # the genesis funding, unspent
    assert funds.output.amount.coin == 1_000 * ADA and funds.spent_tx is None


def test_transaction_failures_are_classified(chain: Chain) -> None:
    backend = chain.backend()
    request = backend.create_payment_request(request_input())
    backend.perform(EscrowAction.LOCK, request, 0, None)
    lock = list(chain.server.txs.values())[-1].cbor  # as submitted (chunked datum bytes)
    context = chain.access().context(0)
    with pytest.raises(EscrowError) as again:  # its inputs are spent: a retry resolves it
        context.submit_tx(lock)
    assert (again.value.kind, again.value.retryable) == (ESCROW_UNAVAILABLE, True)
    assert "BadInputs" in str(again.value)
    builder = TransactionBuilder(context)
    builder.add_input_address(chain.buyer.address)
    builder.add_output(TransactionOutput(chain.seller.address, 5 * ADA))
    unsigned = builder.build_and_sign(
        [chain.seller.signing_key], change_address=chain.buyer.address
    )
    with pytest.raises(EscrowError) as forged:  # signed by the wrong key: the ledger refuses
        context.submit_tx(unsigned)
    assert (forged.value.kind, forged.value.retryable) == (ESCROW_REJECTED, False)
    assert "MissingVKeyWitnesses" in str(forged.value)
    assert len(chain.server.accepted) == 1


@pytest.mark.parametrize("status", [500, 429])
def test_blockfrost_trouble_is_retryable(chain: Chain, status: int) -> None:
    escrow = EscrowActivities(chain.backend())
    request = escrow.create_payment_request(request_input())
    chain.server.fail(status, "/addresses/")
    with pytest.raises(ApplicationError) as err:
        escrow.read_state(step(request))
    assert (err.value.type, err.value.non_retryable) == (ESCROW_UNAVAILABLE, False)
    assert str(status) in err.value.message
    assert escrow.read_state(step(request)).state is EscrowState.NOT_LOCKED


def test_wrong_project_and_no_server_are_told_apart(chain: Chain) -> None:
    wrong = BlockfrostChain("preprodWrong", base_url=chain.server.url)
    with pytest.raises(EscrowError) as denied:
        wrong.outputs_at(chain.buyer.address)
    assert denied.value.retryable is False and "403" in str(denied.value)
    gone = BlockfrostChain("p", base_url="http://127.0.0.1:9/api")
    with pytest.raises(EscrowError) as down:
        gone.confirmations("ee" * 32)
    assert (down.value.kind, down.value.retryable) == (ESCROW_UNAVAILABLE, True)


# -- settings and wiring -----------------------------------------------------------------


def deployment_file(chain: Chain, folder: Path) -> Path:
    path = folder / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "script_ref": chain.script_ref,
                "required_admins": chain.params.required_admins,
                "admin_key_hashes": [h.hex() for h in chain.params.admin_key_hashes],
                "fee_address": str(chain.params.fee_address),
            }
        )
    )
    return path


def test_the_blockfrost_backend_from_settings(chain: Chain, tmp_path: Path) -> None:
    skey = tmp_path / "seller.skey"
    chain.seller.signing_key.save(str(skey))
    settings = Settings(
        home=tmp_path,
        escrow_backend="blockfrost",
        blockfrost_project_id=SecretStr(chain.server.project_id),
        blockfrost_url=chain.server.url,
        escrow_seller_skey_file=skey,
        escrow_deployment_file=deployment_file(chain, tmp_path),
        escrow_min_confirmations=3,
    )
    escrow = escrow_activities(settings)
    assert escrow is not None and isinstance(escrow.backend, DirectChainBackend)
    backend = escrow.backend
    assert isinstance(backend.chain, BlockfrostChain)
    assert backend.min_confirmations == 3 and not backend.holds_buyer_wallet
    assert backend.params == chain.params
    request = escrow.create_payment_request(request_input())
    assert request.seller_address == str(chain.seller.address)
    assert escrow.read_state(step(request)).state is EscrowState.NOT_LOCKED


def test_missing_blockfrost_settings_are_named(chain: Chain, tmp_path: Path) -> None:
    skey = tmp_path / "seller.skey"
    chain.seller.signing_key.save(str(skey))
    full = {
        "home": tmp_path,
        "escrow_backend": "blockfrost",
        "blockfrost_project_id": SecretStr("p"),
        "escrow_seller_skey_file": skey,
        "escrow_deployment_file": deployment_file(chain, tmp_path),
    }
    for name in ("blockfrost_project_id", "escrow_seller_skey_file", "escrow_deployment_file"):
        settings = Settings(**{**full, name: None})  # type: ignore[arg-type]
        with pytest.raises(EscrowConfigError, match=f"DURASUMI_{name.upper()} is required"):
            escrow_activities(settings)
    with pytest.raises(EscrowConfigError, match="DURASUMI_ESCROW_SELLER_SKEY_FILE: no such file"):
        escrow_activities(Settings(**{**full, "escrow_seller_skey_file": tmp_path / "nope"}))  # type: ignore[arg-type]
    (tmp_path / "junk.skey").write_text("{}")
    with pytest.raises(EscrowConfigError, match="is not a payment signing key"):
        escrow_activities(Settings(**{**full, "escrow_seller_skey_file": tmp_path / "junk.skey"}))  # type: ignore[arg-type]
    (tmp_path / "bad.json").write_text('{"script_ref": "x"}')
    with pytest.raises(EscrowConfigError, match="DURASUMI_ESCROW_DEPLOYMENT_FILE"):
        escrow_activities(Settings(**{**full, "escrow_deployment_file": tmp_path / "bad.json"}))  # type: ignore[arg-type]


def test_deployment_file_round_trip(chain: Chain, tmp_path: Path) -> None:
    deployment = EscrowDeployment.load(deployment_file(chain, tmp_path))
    assert deployment.params() == chain.params
    with pytest.raises(ValueError, match="cannot read"):
        EscrowDeployment.load(tmp_path / "missing.json")


def test_a_token_escrow_settles_through_blockfrost(chain: Chain) -> None:
    policy, name = ScriptHash(b"\x42" * 28), b"tUSDM"
    unit = policy.payload.hex() + name.hex()
    tokens = MultiAsset({policy: Asset({AssetName(name): 50_000_000})})
    chain.server.fund(chain.buyer.address, Value(2 * ADA, tokens))
    backend = chain.backend()
    price = [Amount(unit=unit, amount=10_000_000)]
    request = backend.create_payment_request(
        request_input("job-tokens").model_copy(update={"price_lovelace": 0, "amounts": price})
    )
    backend.perform(EscrowAction.LOCK, request, 0, None)
    assert backend.read(request).amounts == price  # read back from Blockfrost's amounts
    backend.perform(EscrowAction.SUBMIT_RESULT, request, 0, RESULT)
    chain.server.offset_ms = request.times.unlock_time + 60_000 - int(time.time() * 1000)
    backend.perform(EscrowAction.WITHDRAW, request, 0, None)
    assert backend.read(request).state is EscrowState.WITHDRAWN
    ledger = chain.server.ledger
    fee = ledger.value_at(FEE.address).multi_asset[policy][AssetName(name)]
    seller = ledger.value_at(chain.seller.address).multi_asset[policy][AssetName(name)]
    assert (fee, seller) == (10_000_000 * 50 // 1000, 10_000_000 - 10_000_000 * 50 // 1000)

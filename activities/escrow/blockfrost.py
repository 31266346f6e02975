"""Chain access through Blockfrost: the direct-chain escrow backend on preprod and mainnet.

:class:`BlockfrostChain` implements ``ChainAccess`` (activities/escrow/chain.py) over
blockfrost-python's ``BlockFrostApi`` and pycardano's ``BlockFrostChainContext`` (which
builds, evaluates and submits). What the escrow reads, and from where:

- every output ever at the script address: ``/addresses/{a}/transactions`` (oldest first),
  each transaction's ``/txs/{h}/utxos`` (outputs with their inline datums and
  ``consumed_by_tx``), and the spender's redeemer from its CBOR (``/txs/{h}/cbor``);
- an unspent output by reference, with its reference script (``/scripts/{h}``, ``/cbor``);
- confirmations: the tip's height (``/blocks/latest``) minus the transaction's block
  height, plus one;
- time: slots are ``slot_length`` seconds (``/genesis``) since Shelley; a block's slot and
  time anchor the conversion, so the Byron era before it needs no special case.

Confirmed transactions are immutable, so what is read about them (redeemers, heights,
block times, fully spent outputs) is cached; the tip is re-read every few seconds.
Every failure becomes an :class:`EscrowError`: network trouble, 429, 425 (mempool full)
and 5xx are retryable; a refused transaction is not, except the node's "inputs already
spent" and "outside the validity interval", which a retry resolves (it finds the step done
on chain, or builds again now).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import cbor2
import requests
from blockfrost import ApiError, ApiUrls
from pycardano import (
    Address,
    Asset,
    AssetName,
    ChainContext,
    DatumHash,
    ExecutionUnits,
    MultiAsset,
    Network,
    PlutusV3Script,
    RawPlutusData,
    RedeemerTag,
    ScriptHash,
    Transaction,
    TransactionOutput,
    UTxO,
    Value,
    plutus_script_hash,
)
from pycardano.backend.blockfrost import BlockFrostChainContext
from pydantic import BaseModel, Field

from durasumi.activities.escrow.chain import ChainOutput
from durasumi.activities.escrow.errors import (
    ESCROW_REJECTED,
    ESCROW_UNAVAILABLE,
    EscrowError,
)
from durasumi.activities.escrow.offline.ledger import parse_ref
from durasumi.activities.escrow.offline.script_context import redeemer_list, sorted_inputs
from durasumi.activities.escrow.plutus import Constr
from durasumi.activities.escrow.script import EscrowParams

__all__ = ["BlockfrostChain", "EscrowDeployment"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# The node's rejections a retry resolves: the input went in an earlier (our own) transaction,
# or the validity window is stale. The node reports them as text only.
RETRYABLE_REJECTIONS = ("BadInputsUTxO", "OutsideValidityIntervalUTxO", "ValueNotConservedUTxO")


class EscrowDeployment(BaseModel):
    """A deployed escrow script: where its reference UTxO is and the parameters it applies.

    Example:
        >>> EscrowDeployment.model_validate_json(path.read_text()).params()  # doctest: +SKIP
    """

    script_ref: str = Field(pattern=r"^[0-9a-f]{64}#\d+$", description="txid#index")
    required_admins: int = Field(ge=1)
    admin_key_hashes: list[str] = Field(min_length=1)
    fee_address: str
    fee_permille: int = Field(50, ge=0, le=1000)
    cooldown_ms: int = Field(7 * 60 * 1000, ge=0)

    @classmethod
    def load(cls, path: Path) -> EscrowDeployment:
        """Read a deployment file; ValueError naming the problem."""
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as err:
            raise ValueError(f"cannot read {path}: {err.strerror}") from err

    def params(self) -> EscrowParams:
        """The script parameters (the fee output on Withdraw needs them)."""
        return EscrowParams(
            required_admins=self.required_admins,
            admin_key_hashes=tuple(bytes.fromhex(h) for h in self.admin_key_hashes),
            fee_address=Address.from_primitive(self.fee_address),
            fee_permille=self.fee_permille,
            cooldown_ms=self.cooldown_ms,
        )


class _Context(BlockFrostChainContext):
    """pycardano's Blockfrost context with Blockfrost's answers turned into EscrowErrors."""

    def _utxos(self, address: str) -> list[UTxO]:
        return _guard(lambda: super(_Context, self)._utxos(address), "reading UTxOs")

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        """Submit; a refused transaction is an EscrowError of the right kind."""
        raw = bytes.fromhex(cbor) if isinstance(cbor, str) else cbor
        result = _guard(lambda: self.api.transaction_submit_cbor(raw), "submitting")
        return str(result)

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, ExecutionUnits]:
        """Execution units per redeemer (Ogmios v5 answer); a failing script is final."""
        data = bytes.fromhex(cbor) if isinstance(cbor, str) else cbor
        answer = _guard(
            lambda: self.api.transaction_evaluate_cbor(data, return_type="json"), "evaluating"
        )
        result = answer.get("result", {}) if isinstance(answer, dict) else {}
        if "EvaluationResult" not in result:
            raise EscrowError(
                ESCROW_REJECTED, f"the escrow script fails: {json.dumps(result)}", retryable=False
            )
        return {
            k: ExecutionUnits(int(v["memory"]), int(v["steps"]))
            for k, v in result["EvaluationResult"].items()
        }


class BlockfrostChain:
    """ChainAccess through Blockfrost (see the module docstring).

    Args:
        project_id: the Blockfrost project id.
        network: "preprod" or "mainnet".
        base_url: the API base (``.../api``, without the version); default blockfrost.io's
            for the network (a self-hosted Blockfrost or a test server otherwise).
        tip_ttl: seconds the tip is reused before it is read again.

    Example:
        >>> chain = BlockfrostChain("preprodXXXX", "preprod")  # doctest: +SKIP
        >>> d = EscrowDeployment.load(path)  # doctest: +SKIP
        >>> DirectChainBackend(chain, d.params(), d.script_ref, seller)  # doctest: +SKIP
    """

    def __init__(
        self,
        project_id: str,
        network: Literal["preprod", "mainnet"] = "preprod",
        *,
        base_url: str | None = None,
        tip_ttl: float = 5.0,
    ) -> None:
        self.network = Network.MAINNET if network == "mainnet" else Network.TESTNET
        default = ApiUrls.mainnet.value if network == "mainnet" else ApiUrls.preprod.value
        self.base_url = (base_url or default).rstrip("/")
        self.project_id = project_id
        self.tip_ttl = tip_ttl
        self._ctx: _Context | None = None
        self._guard = threading.Lock()
        self._tip: tuple[float, dict[str, Any]] | None = None
        self._anchor: tuple[int, int, int] | None = None  # slot, posix ms, slot length ms
        self._heights: dict[str, int] = {}
        self._times: dict[str, int] = {}
        self._redeemers: dict[str, dict[str, int]] = {}
        self._spent: dict[tuple[str, str], list[ChainOutput]] = {}
        self._scripts: dict[str, PlutusV3Script] = {}

    # -- the pycardano context ---------------------------------------------------------

    def context(self, at_ms: int) -> ChainContext:
        """The Blockfrost context: a real chain is always at "now"."""
        with self._guard:
            if self._ctx is None:
                self._ctx = _guard(self._connect, "connecting")
            return self._ctx

    def _connect(self) -> _Context:
        with warnings.catch_warnings():  # passing the network explicitly is "deprecated"
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            return _Context(self.project_id, network=self.network, base_url=self.base_url)

    @property
    def api(self) -> Any:
        """blockfrost-python's BlockFrostApi."""
        return self.context(0).api  # type: ignore[attr-defined]

    # -- ChainAccess -------------------------------------------------------------------

    def now_ms(self, at_ms: int) -> int:
        """The instant transactions are built at: the chain tip's, whatever the caller says."""
        return self.posix_of(int(self._latest()["slot"]))

    def outputs_at(self, address: Address) -> list[ChainOutput]:
        """Every output ever at ``address``, oldest first, with what spent it."""
        addr = str(address)
        txs = self._get(
            lambda: self.api.address_transactions(
                addr, gather_pages=True, order="asc", return_type="json"
            ),
            missing=[],
        )
        found: list[ChainOutput] = []
        for t in txs:
            tx_hash = t["tx_hash"]
            self._heights.setdefault(tx_hash, int(t["block_height"]))
            self._times.setdefault(tx_hash, int(t["block_time"]) * 1000)
            found.extend(self._outputs_of(tx_hash, addr))
        return found

    def _outputs_of(self, tx_hash: str, addr: str) -> list[ChainOutput]:
        cached = self._spent.get((tx_hash, addr))
        if cached is not None:
            return cached
        utxos = self._get(lambda: self.api.transaction_utxos(tx_hash, return_type="json"))
        outs = []
        for o in utxos["outputs"]:
            if o["address"] != addr or o.get("collateral"):
                continue
            ref = f"{tx_hash}#{o['output_index']}"
            spender = o.get("consumed_by_tx")
            outs.append(
                ChainOutput(
                    ref=ref,
                    output=self._output(o),
                    created_ms=self._times.get(tx_hash),
                    spent_tx=spender,
                    spent_action=self._redeemer(spender, ref) if spender else None,
                    spent_ms=self._block_time(spender) if spender else None,
                )
            )
        if all(o.spent_tx for o in outs):
            self._spent[(tx_hash, addr)] = outs  # nothing left to change
        return outs

    def output(self, ref: str) -> TransactionOutput | None:
        """An unspent output by reference (with its reference script, if any)."""
        i = parse_ref(ref)
        tx_hash = i.transaction_id.payload.hex()
        utxos = self._get(
            lambda: self.api.transaction_utxos(tx_hash, return_type="json"), missing=None
        )
        if utxos is None:
            return None
        for o in utxos["outputs"]:
            if o["output_index"] == i.index and not o.get("collateral"):
                return None if o.get("consumed_by_tx") else self._output(o)
        return None

    def confirmations(self, tx_id: str) -> int:
        """Blocks on top of (and including) the block holding ``tx_id``; 0 if in none."""
        height = self._heights.get(tx_id)
        if height is None:
            tx = self._get(lambda: self.api.transaction(tx_id, return_type="json"), missing=None)
            if tx is None:
                return 0
            height = int(tx["block_height"])
            self._heights[tx_id] = height
            self._times[tx_id] = int(tx["block_time"]) * 1000
        return max(0, int(self._latest()["height"]) - height + 1)

    def posix_of(self, slot: int) -> int:
        """POSIX ms at which ``slot`` starts (Shelley era and later)."""
        anchor_slot, anchor_ms, length = self._clock()
        return anchor_ms + (slot - anchor_slot) * length

    def slot_of(self, posix_ms: int) -> int:
        """The slot containing ``posix_ms`` (Shelley era and later)."""
        anchor_slot, anchor_ms, length = self._clock()
        return anchor_slot + (posix_ms - anchor_ms) // length

    # -- reading helpers ---------------------------------------------------------------

    def _clock(self) -> tuple[int, int, int]:
        if self._anchor is None:
            genesis = self._get(lambda: self.api.genesis(return_type="json"))
            tip = self._latest()
            self._anchor = (
                int(tip["slot"]),
                int(tip["time"]) * 1000,
                genesis["slot_length"] * 1000,
            )
        return self._anchor

    def _latest(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._tip is None or now - self._tip[0] > self.tip_ttl:
            self._tip = (now, self._get(lambda: self.api.block_latest(return_type="json")))
        return self._tip[1]

    def _block_time(self, tx_hash: str) -> int | None:
        if tx_hash not in self._times:
            self.confirmations(tx_hash)
        return self._times.get(tx_hash)

    def _redeemer(self, tx_hash: str, spent_ref: str) -> int | None:
        """The redeemer constructor the spending transaction used on ``spent_ref``."""
        if tx_hash not in self._redeemers:
            raw = self._get(lambda: self.api.transaction_cbor(tx_hash, return_type="json"))
            tx = Transaction.from_cbor(bytes.fromhex(raw["cbor"]))
            inputs = sorted_inputs(list(tx.transaction_body.inputs))
            found: dict[str, int] = {}
            for r in redeemer_list(tx):
                if r.tag == RedeemerTag.SPEND and r.index < len(inputs):
                    i = inputs[r.index]
                    found[f"{i.transaction_id.payload.hex()}#{i.index}"] = Constr.parse(r.data).tag
            self._redeemers[tx_hash] = found
        return self._redeemers[tx_hash].get(spent_ref)

    def _output(self, o: dict[str, Any]) -> TransactionOutput:
        """A Blockfrost output as pycardano's TransactionOutput."""
        lovelace, assets = 0, MultiAsset()
        for item in o["amount"]:
            if item["unit"] == "lovelace":
                lovelace = int(item["quantity"])
                continue
            unit = bytes.fromhex(item["unit"])
            policy = ScriptHash(unit[:28])
            assets.setdefault(policy, Asset())[AssetName(unit[28:])] = int(item["quantity"])
        datum = (
            RawPlutusData.from_cbor(bytes.fromhex(o["inline_datum"]))
            if o.get("inline_datum")
            else None
        )
        datum_hash = (
            DatumHash(bytes.fromhex(o["data_hash"])) if o.get("data_hash") and not datum else None
        )
        script_hash = o.get("reference_script_hash")
        return TransactionOutput(
            Address.from_primitive(o["address"]),
            Value(lovelace, assets),
            datum_hash=datum_hash,
            datum=datum,
            script=self._script(script_hash) if script_hash else None,
        )

    def _script(self, script_hash: str) -> PlutusV3Script | None:
        if script_hash not in self._scripts:
            info = self._get(lambda: self.api.script(script_hash, return_type="json"))
            if info.get("type") != "plutusV3":
                return None
            raw = bytes.fromhex(
                self._get(lambda: self.api.script_cbor(script_hash, return_type="json"))["cbor"]
            )
            script = PlutusV3Script(raw)
            if plutus_script_hash(script).payload.hex() != script_hash:
                script = PlutusV3Script(cbor2.loads(raw))  # served CBOR-wrapped once more
            if plutus_script_hash(script).payload.hex() != script_hash:
                raise EscrowError(
                    ESCROW_UNAVAILABLE,
                    f"script {script_hash} does not match its hash",
                    retryable=True,
                )
            self._scripts[script_hash] = script
        return self._scripts[script_hash]

    def _get(self, call: Callable[[], T], *, missing: Any = ...) -> T:
        """A Blockfrost read; 404 gives ``missing`` when one is named."""
        try:
            return call()
        except ApiError as err:
            if err.status_code == 404 and missing is not ...:
                return missing  # type: ignore[no-any-return]
            raise _error(err, "reading") from err
        except requests.RequestException as err:
            raise _unreachable(err) from err


def _guard(call: Callable[[], T], doing: str) -> T:
    try:
        return call()
    except ApiError as err:
        raise _error(err, doing) from err
    except requests.RequestException as err:
        raise _unreachable(err) from err


def _error(err: ApiError, doing: str) -> EscrowError:
    code = err.status_code
    message = f"Blockfrost {code} while {doing}: {err.message or err.error or err}"
    if code in (402, 425, 429) or code >= 500:  # quota, mempool full, rate limit, outage
        return EscrowError(ESCROW_UNAVAILABLE, message, retryable=True)
    if code == 400 and doing == "submitting":
        retry = any(tag in str(err.message) for tag in RETRYABLE_REJECTIONS)
        return EscrowError(
            ESCROW_UNAVAILABLE if retry else ESCROW_REJECTED, message, retryable=retry
        )
    return EscrowError(
        ESCROW_REJECTED if code == 400 else ESCROW_UNAVAILABLE, message, retryable=False
    )


def _unreachable(err: Exception) -> EscrowError:
    return EscrowError(
        ESCROW_UNAVAILABLE, f"Blockfrost unreachable ({type(err).__name__}: {err})", retryable=True
    )

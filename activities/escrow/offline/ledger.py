"""An in-memory Cardano ledger that really validates what it is given.

It keeps a UTxO set and a transaction log, optionally persisted to a JSON file (shared
safely between processes with an advisory lock, so a worker killed with SIGKILL and its
replacement see the same chain). ``submit`` runs the checks a node runs on a Conway
transaction that only spends and pays: known, unspent inputs; the validity interval;
minimum UTxO values; value balance; the minimum fee (size, script budget, reference
scripts); key witnesses (Ed25519 over the body hash) for every spent key input,
collateral input and required signer; collateral; the script data hash; and every spend
of a script through the Plutus V3 evaluator, within the budget its redeemer declares.

Hashes are taken over the bytes as submitted, like a node: the transaction id is the hash
of the body's bytes, the script data hash covers the witness set's redeemer and datum
bytes, never pycardano's re-encoding of them (which differs for transactions other tools
build: indefinite arrays, chunked byte strings, sets without tag 258). Plutus data byte
strings over 64 bytes must be chunked, or the transaction is refused as a node refuses it.

Time is explicit: every call names the instant (POSIX ms) it happens at, so each job's
transactions follow that job's workflow clock (time-skipping tests give every workflow its
own virtual clock). :meth:`Ledger.at` gives a pycardano ``ChainContext`` fixed at one instant.

Blocks: by default an accepted transaction is final at once. With ``block_ms`` the ledger
makes a block every ``block_ms`` of wall-clock time, like a node: a transaction is in the
block being made when it is accepted and gains a confirmation with every block after it
(:meth:`Ledger.confirmations`). Depth follows the wall clock, not the workflow's, because
it stands for the real time a platform waits on a real chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pycardano import (
    Address,
    ChainContext,
    CostModels,
    ExecutionUnits,
    GenesisParameters,
    InvalidBefore,
    InvalidHereAfter,
    NativeScript,
    Network,
    PlutusV3Script,
    ProtocolParameters,
    RawPlutusData,
    RedeemerTag,
    ScriptAll,
    ScriptAny,
    ScriptHash,
    ScriptNofK,
    ScriptPubkey,
    Transaction,
    TransactionId,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
    VerificationKeyHash,
    plutus_script_hash,
    script_hash,
)
from pycardano.serialization import default_encoder
from pycardano.utils import fee as min_fee
from pycardano.utils import min_lovelace_post_alonzo

from durasumi.activities.escrow.offline.cbor_raw import (
    CborError,
    array_items,
    map_items,
    unchunked_data_bytes,
)
from durasumi.activities.escrow.offline.evaluate import evaluate
from durasumi.activities.escrow.offline.params import (
    SLOT_LENGTH_MS,
    SYSTEM_START_MS,
    genesis_parameters,
    protocol_parameters,
)
from durasumi.activities.escrow.offline.script_context import (
    redeemer_list,
    script_context,
    sorted_inputs,
)
from durasumi.activities.escrow.plutus import ChunkedData, Constr, to_primitive

__all__ = ["Ledger", "LedgerError", "LedgerView", "Received", "TxRecord", "receive"]

log = logging.getLogger(__name__)

GENESIS_TX = TransactionId(bytes(32))
_UTxOs = Mapping[TransactionInput, TransactionOutput]
FINAL = 1_000_000  # confirmations of a transaction on a ledger that makes no blocks


class LedgerError(Exception):
    """A transaction the ledger refuses; ``kind`` names the rule it broke."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# phase 2's outcome: each redeemer with the (mem, steps) its script used, or why it failed
_Runs = list[tuple[Any, tuple[int, int]]] | LedgerError
WITNESS_DATUMS, WITNESS_REDEEMERS = 4, 5  # witness set keys


@dataclass(frozen=True)
class Received:
    """A submitted transaction: decoded, plus the hashes a node takes over its raw bytes."""

    tx: Transaction
    raw: bytes
    tx_id: TransactionId
    redeemers_raw: bytes  # b"" when absent
    datums_raw: bytes


def receive(cbor: bytes | str) -> Received:
    """Decode a transaction and keep what must be hashed as submitted; LedgerError if malformed."""
    raw = bytes.fromhex(cbor) if isinstance(cbor, str) else cbor
    try:
        tx = _transaction(raw)
        parts = array_items(raw)
        if len(parts) != 4:
            raise CborError(f"a transaction has 4 parts, not {len(parts)}")
        witnesses = {k: v for k, v in map_items(parts[1])}
        long = unchunked_data_bytes(raw)
    except Exception as err:
        raise LedgerError("DeserialiseFailure", str(err)) from err
    if long:
        raise LedgerError(
            "DeserialiseFailure",
            f"Plutus data holds a byte string of {long[0]} bytes in one piece (64 at most; "
            "longer ones must be chunked)",
        )
    return Received(
        tx=tx,
        raw=raw,
        tx_id=TransactionId(hashlib.blake2b(parts[0], digest_size=32).digest()),
        redeemers_raw=witnesses.get(bytes([WITNESS_REDEEMERS]), b""),
        datums_raw=witnesses.get(bytes([WITNESS_DATUMS]), b""),
    )


@dataclass
class TxRecord:
    """One accepted transaction, as the log keeps it."""

    tx_id: str
    time_ms: int
    slot: int
    fee: int
    spent: list[str]
    created: list[str]
    # script spends: "txid#ix" of the escrow output -> redeemer constructor index
    redeemers: dict[str, int] = field(default_factory=dict)
    signers: list[str] = field(default_factory=list)
    mem: int = 0
    steps: int = 0
    # wall-clock ms at acceptance: confirmation depth counts blocks made since (0: final)
    accepted_ms: int = 0


def ref(i: TransactionInput) -> str:
    """``txid#index`` for an input."""
    return f"{i.transaction_id.payload.hex()}#{i.index}"


def parse_ref(text: str) -> TransactionInput:
    """The inverse of :func:`ref`."""
    tx_id, _, index = text.partition("#")
    return TransactionInput(TransactionId(bytes.fromhex(tx_id)), int(index))


class Ledger:
    """The offline chain: UTxO set, transaction log, clock conversions and validation.

    Example:
        >>> ledger = Ledger()  # doctest: +SKIP
        >>> ledger.fund(address, 100_000_000)  # doctest: +SKIP
        >>> ledger.at(now_ms).submit_tx(signed_tx)  # doctest: +SKIP
    """

    def __init__(
        self, path: Path | None = None, *, network: Network = Network.TESTNET, block_ms: int = 0
    ) -> None:
        if block_ms < 0:
            raise ValueError("block_ms must be >= 0")
        self.path = path
        self.network = network
        self.block_ms = block_ms
        self.params: ProtocolParameters = protocol_parameters()
        self.genesis: GenesisParameters = genesis_parameters()
        self._utxos: dict[TransactionInput, TransactionOutput] = {}
        self._outputs: dict[TransactionInput, TransactionOutput] = {}  # every output ever
        self._log: list[TxRecord] = []
        self._by_id: dict[str, TxRecord] = {}
        self._spent_by: dict[str, TxRecord] = {}
        self._by_address: dict[str, list[TransactionInput]] = {}
        self._funded = 0
        self._funded_outputs = 0
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.RLock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                pass

    # -- time --------------------------------------------------------------------------

    @staticmethod
    def slot_of(posix_ms: int) -> int:
        """The slot that contains ``posix_ms``."""
        return (posix_ms - SYSTEM_START_MS) // SLOT_LENGTH_MS

    @staticmethod
    def posix_of(slot: int) -> int:
        """The POSIX ms at which ``slot`` starts."""
        return SYSTEM_START_MS + slot * SLOT_LENGTH_MS

    def at(self, now_ms: int) -> LedgerView:
        """A pycardano ChainContext that sees this ledger at the instant ``now_ms``."""
        return LedgerView(self, now_ms)

    # -- reading -----------------------------------------------------------------------

    def utxos(self, address: Address | str) -> list[UTxO]:
        """Unspent outputs at ``address``."""
        wanted = str(address)
        with self._locked(shared=True):
            return [UTxO(i, o) for i, o in self._utxos.items() if str(o.address) == wanted]

    def output(self, i: TransactionInput) -> TransactionOutput | None:
        """An unspent output, or None if spent or unknown."""
        with self._locked(shared=True):
            return self._utxos.get(i)

    def output_ever(self, output_ref: str) -> TransactionOutput | None:
        """An output ever created ("txid#ix"), spent or not."""
        with self._locked(shared=True):
            return self._outputs.get(parse_ref(output_ref))

    def balance(self, address: Address | str) -> int:
        """Lovelace held at ``address``."""
        return sum(u.output.amount.coin for u in self.utxos(address))

    def value_at(self, address: Address | str) -> Value:
        """Everything held at ``address``: lovelace and native assets."""
        return sum((u.output.amount for u in self.utxos(address)), Value(0))

    def total_lovelace(self) -> int:
        """Lovelace in all unspent outputs."""
        with self._locked(shared=True):
            return sum(o.amount.coin for o in self._utxos.values())

    def fees_paid(self) -> int:
        """Lovelace burnt as fees by every accepted transaction."""
        with self._locked(shared=True):
            return sum(r.fee for r in self._log)

    def funded(self) -> int:
        """Lovelace created by :meth:`fund`."""
        with self._locked(shared=True):
            return self._funded

    def transactions(self) -> list[TxRecord]:
        """Every accepted transaction, oldest first."""
        with self._locked(shared=True):
            return list(self._log)

    def transaction(self, tx_id: str) -> TxRecord | None:
        """One accepted transaction by id."""
        with self._locked(shared=True):
            return self._by_id.get(tx_id)

    def confirmations(self, tx_id: str) -> int:
        """Blocks holding or on top of ``tx_id``: 0 if unknown; final without ``block_ms``."""
        record = self.transaction(tx_id)
        if record is None:
            return 0
        if not self.block_ms or not record.accepted_ms:
            return FINAL
        return 1 + max(0, _wall_ms() - record.accepted_ms) // self.block_ms

    def history(self, address: Address | str) -> list[tuple[str, TransactionOutput]]:
        """Every output ever created at ``address`` (spent or not), oldest first."""
        wanted = str(address)
        with self._locked(shared=True):
            return [(ref(i), self._outputs[i]) for i in self._by_address.get(wanted, [])]

    def history_with_transactions(
        self, address: Address | str
    ) -> list[tuple[str, TransactionOutput, TxRecord | None, TxRecord | None]]:
        """:meth:`history` with each output's creating and spending transaction, in one read."""
        wanted = str(address)
        with self._locked(shared=True):
            return [
                (
                    ref(i),
                    self._outputs[i],
                    self._by_id.get(i.transaction_id.payload.hex()),
                    self._spent_by.get(ref(i)),
                )
                for i in self._by_address.get(wanted, [])
            ]

    def spender(self, output_ref: str) -> TxRecord | None:
        """The transaction that spent ``output_ref`` ("txid#ix"), if any."""
        with self._locked(shared=True):
            return self._spent_by.get(output_ref)

    # -- writing -----------------------------------------------------------------------

    def fund(
        self, address: Address, lovelace: int | Value, *, script: PlutusV3Script | None = None
    ) -> str:
        """Create an output from nothing (genesis funds); returns its reference.

        Native assets come into being by minting (a transaction with a policy's witness),
        not here: ``lovelace`` may carry them only for tests of the ledger itself.
        """
        value = lovelace if isinstance(lovelace, Value) else Value(lovelace)
        with self._locked():
            i = TransactionInput(GENESIS_TX, self._funded_outputs)
            self._funded_outputs += 1
            self._utxos[i] = TransactionOutput(address, value, script=script)
            self._index_output(i, self._utxos[i])
            self._funded += value.coin
            self._save()
            return ref(i)

    def evaluate(self, cbor: bytes | str, now_ms: int) -> dict[str, ExecutionUnits]:
        """Execution units of every redeemer, with the maximum budget (phase 2 only)."""
        rx = receive(cbor)
        runs = self._scripted(rx, now_ms, enforce=False)
        if runs is None:
            with self._locked(shared=True):
                runs = list(self._run_scripts(rx, now_ms, enforce=False, utxos=self._utxos))
        if isinstance(runs, LedgerError):
            raise runs
        units: dict[str, ExecutionUnits] = {}
        for r, outcome in runs:
            units[f"{r.tag.name.lower()}:{r.index}"] = ExecutionUnits(outcome[0], outcome[1])
        return units

    def submit(self, cbor: bytes | str, now_ms: int) -> str:
        """Validate and apply a transaction at ``now_ms``; LedgerError if refused."""
        rx = receive(cbor)
        scripted = self._scripted(rx, now_ms, enforce=True)
        with self._locked():
            record = self._validate(rx, now_ms, scripted)
            body = rx.tx.transaction_body
            for i in body.inputs:
                del self._utxos[i]
            for index, out in enumerate(body.outputs):
                created = TransactionInput(rx.tx_id, index)
                self._utxos[created] = _chunked(out)
                self._index_output(created, self._utxos[created])
            self._index_record(record)
            self._save()
        log.info("ledger accepted %s at slot %d", record.tx_id, record.slot)
        return record.tx_id

    def _index_output(self, i: TransactionInput, out: TransactionOutput) -> None:
        self._outputs[i] = out
        self._by_address.setdefault(str(out.address), []).append(i)

    def _index_record(self, record: TxRecord) -> None:
        self._log.append(record)
        self._by_id[record.tx_id] = record
        for spent in record.spent:
            self._spent_by[spent] = record

    # -- validation --------------------------------------------------------------------

    def _scripted(self, rx: Received, now_ms: int, *, enforce: bool) -> _Runs | None:
        """Phase 2 on a snapshot of the outputs ``tx`` spends or references, unlocked.

        A script's verdict depends only on the transaction, those outputs (immutable once
        created) and the instant, so the evaluation (the slow part) holds no lock and
        readers are not kept waiting; phase 1 checks under the lock that the outputs are
        still unspent. None when an input is missing now (phase 1 will say why).
        """
        body = rx.tx.transaction_body
        wanted = [*body.inputs, *(body.reference_inputs or [])]
        with self._locked(shared=True):
            if any(i not in self._utxos for i in wanted):
                return None
            utxos = {i: self._utxos[i] for i in wanted}
        try:
            return list(self._run_scripts(rx, now_ms, enforce=enforce, utxos=utxos))
        except LedgerError as err:
            return err

    def _validate(self, rx: Received, now_ms: int, scripted: _Runs | None = None) -> TxRecord:
        tx, size = rx.tx, len(rx.raw)
        body = tx.transaction_body
        pp = self.params
        slot = self.slot_of(now_ms)
        if size > pp.max_tx_size:
            raise LedgerError("MaxTxSizeExceeded", f"{size} > {pp.max_tx_size} bytes")
        if not body.inputs:
            raise LedgerError("InputSetEmpty", "a transaction must spend something")
        spent = list(body.inputs)
        for i in [*spent, *(body.reference_inputs or []), *(body.collateral or [])]:
            if i not in self._utxos:
                raise LedgerError("BadInputs", f"{ref(i)} is spent or unknown (double spend?)")
        if len(set(spent)) != len(spent):
            raise LedgerError("BadInputs", "an input appears twice")
        if body.validity_start is not None and slot < body.validity_start:
            raise LedgerError(
                "OutsideValidityInterval", f"too early: slot {slot} < {body.validity_start}"
            )
        if body.ttl is not None and slot >= body.ttl:
            raise LedgerError("OutsideValidityInterval", f"too late: slot {slot} >= {body.ttl}")
        if body.network_id is not None and body.network_id != self.network.value:
            raise LedgerError("WrongNetwork", "network id does not match")
        view = self.at(now_ms)
        for index, out in enumerate(body.outputs):
            if out.amount.coin < min_lovelace_post_alonzo(out, view):
                raise LedgerError("OutputTooSmallUTxO", f"output {index} is below the minimum")
        consumed = sum((self._utxos[i].amount for i in spent), Value(0))
        if body.mint:
            consumed = consumed + Value(0, body.mint)
        produced = sum((o.amount for o in body.outputs), Value(body.fee))
        if consumed != produced:
            raise LedgerError("ValueNotConserved", f"consumed {consumed} != produced {produced}")
        signed = self._check_witnesses(rx)
        required = {
            self._utxos[i].address.payment_part
            for i in [*spent, *(body.collateral or [])]
            if isinstance(self._utxos[i].address.payment_part, VerificationKeyHash)
        } | set(body.required_signers or [])
        missing = [k.payload.hex() for k in required if k not in signed]
        if missing:
            raise LedgerError("MissingVKeyWitnesses", f"no signature from {', '.join(missing)}")
        self._check_mint(tx, signed)
        if scripted is None:  # no snapshot: phase 2 here, under the lock
            scripted = list(self._run_scripts(rx, now_ms, enforce=True, utxos=self._utxos))
        if isinstance(scripted, LedgerError):
            raise scripted
        runs = scripted
        mem = sum(m for _, (m, _s) in runs)
        steps = sum(s for _, (_m, s) in runs)
        ref_size = sum(
            len(bytes(self._utxos[i].script))  # type: ignore[arg-type]
            for i in {*spent, *(body.reference_inputs or [])}
            if self._utxos[i].script is not None
        )
        declared = [r.ex_units for r, _ in runs]
        needed = min_fee(
            view,
            size,
            sum(u.steps for u in declared),
            sum(u.mem for u in declared),
            ref_size,
        )
        if body.fee < needed:
            raise LedgerError("FeeTooSmall", f"fee {body.fee} < minimum {needed}")
        if runs:
            self._check_collateral(tx)
            self._check_script_data_hash(rx)
        return TxRecord(
            tx_id=rx.tx_id.payload.hex(),
            time_ms=now_ms,
            slot=slot,
            fee=body.fee,
            spent=[ref(i) for i in sorted_inputs(spent)],
            created=[ref(TransactionInput(rx.tx_id, n)) for n in range(len(body.outputs))],
            redeemers={
                ref(sorted_inputs(spent)[r.index]): Constr.parse(r.data).tag for r, _ in runs
            },
            signers=sorted(k.payload.hex() for k in signed),
            mem=mem,
            steps=steps,
            accepted_ms=_wall_ms() if self.block_ms else 0,
        )

    def _check_witnesses(self, rx: Received) -> set[VerificationKeyHash]:
        signed: set[VerificationKeyHash] = set()
        message = rx.tx_id.payload  # the hash of the body as submitted
        for w in rx.tx.transaction_witness_set.vkey_witnesses or []:
            try:
                VerifyKey(w.vkey.payload[:32]).verify(message, w.signature)
            except (BadSignatureError, ValueError) as err:
                raise LedgerError("InvalidWitness", f"bad signature: {err}") from err
            signed.add(w.vkey.hash())
        return signed

    def _check_mint(self, tx: Transaction, signed: set[VerificationKeyHash]) -> None:
        """Every minted (or burnt) policy is a native script in the witnesses, and it holds."""
        body = tx.transaction_body
        if not body.mint:
            return
        scripts = {script_hash(s): s for s in tx.transaction_witness_set.native_scripts or []}
        for policy in body.mint:
            native = scripts.get(policy)
            if native is None:
                raise LedgerError(
                    "MissingScriptWitnessesUTXOW", f"no native script for policy {policy}"
                )
            if not _native_holds(native, signed, body.validity_start, body.ttl):
                raise LedgerError(
                    "ScriptWitnessNotValidatingUTXOW", f"the policy {policy} does not allow it"
                )

    def _check_collateral(self, tx: Transaction) -> None:
        body = tx.transaction_body
        if not body.collateral:
            raise LedgerError("NoCollateralInputs", "a script transaction needs collateral")
        if len(body.collateral) > self.params.max_collateral_inputs:
            raise LedgerError("TooManyCollateralInputs", "too many collateral inputs")
        total = Value(0)
        for i in body.collateral:
            out = self._utxos[i]
            if not isinstance(out.address.payment_part, VerificationKeyHash):
                raise LedgerError("ScriptsNotPaidUTxO", "collateral must be at a key address")
            total = total + out.amount
        if body.collateral_return is not None:
            total = total - body.collateral_return.amount
        if total.multi_asset:
            raise LedgerError("CollateralContainsNonADA", "collateral must be ada only")
        if total.coin * 100 < body.fee * self.params.collateral_percent:
            raise LedgerError("InsufficientCollateral", f"{total.coin} is not enough collateral")
        if body.total_collateral is not None and body.total_collateral != total.coin:
            raise LedgerError("IncorrectTotalCollateralField", "total collateral mismatch")

    def _check_script_data_hash(self, rx: Received) -> None:
        # redeemers and datums as submitted, then the language view of Plutus V3
        views = cbor2.dumps(
            CostModels({2: self.params.cost_models.get("PlutusV3", {})}), default=default_encoder
        )
        preimage = rx.redeemers_raw + rx.datums_raw + views
        expected = hashlib.blake2b(preimage, digest_size=32).digest()
        found = rx.tx.transaction_body.script_data_hash
        if found is None or found.payload != expected:
            raise LedgerError("PPViewHashesDontMatch", "script data hash does not match")

    def _scripts(self, tx: Transaction, utxos: _UTxOs) -> dict[ScriptHash, PlutusV3Script]:
        found: dict[ScriptHash, PlutusV3Script] = {}
        for s in tx.transaction_witness_set.plutus_v3_script or []:
            found[plutus_script_hash(s)] = PlutusV3Script(s)
        body = tx.transaction_body
        for i in [*(body.reference_inputs or []), *body.inputs]:
            script = utxos[i].script
            if isinstance(script, PlutusV3Script):
                found[plutus_script_hash(script)] = script
        return found

    def _run_scripts(
        self, rx: Received, now_ms: int, *, enforce: bool, utxos: _UTxOs
    ) -> Iterator[tuple[Any, tuple[int, int]]]:
        tx = rx.tx
        body = tx.transaction_body
        inputs = sorted_inputs(list(body.inputs))
        for i in [*inputs, *(body.reference_inputs or [])]:
            if i not in utxos:
                raise LedgerError("BadInputs", f"{ref(i)} is spent or unknown (double spend?)")
        redeemers = {(r.tag, r.index): r for r in redeemer_list(tx)}
        scripts = self._scripts(tx, utxos)
        used = 0
        for index, i in enumerate(inputs):
            part = utxos[i].address.payment_part
            if not isinstance(part, ScriptHash):
                continue
            r = redeemers.get((RedeemerTag.SPEND, index))
            if r is None:
                raise LedgerError("MissingRedeemers", f"no redeemer for script input {ref(i)}")
            script = scripts.get(part)
            if script is None:
                raise LedgerError("MissingScriptWitnesses", f"script {part} not provided")
            if utxos[i].datum is None:
                raise LedgerError("UnspendableUTxONoDatumHash", f"{ref(i)} has no inline datum")
            used += 1
            context = script_context(tx, utxos.__getitem__, r, self.posix_of, tx_id=rx.tx_id)
            budget = r.ex_units if enforce else None
            mem = budget.mem if budget else self.params.max_tx_ex_mem
            steps = budget.steps if budget else self.params.max_tx_ex_steps
            outcome = evaluate(bytes(script), context, mem=mem, steps=steps)
            if not outcome.ok:
                raise LedgerError("ScriptFailure", f"escrow script rejected: {outcome.error}")
            yield r, (outcome.mem, outcome.steps)
        if used != len(redeemers):
            raise LedgerError("ExtraRedeemers", "a redeemer points at no script input")
        if enforce:
            total_mem = sum(r.ex_units.mem for r in redeemers.values())
            total_steps = sum(r.ex_units.steps for r in redeemers.values())
            if total_mem > self.params.max_tx_ex_mem or total_steps > self.params.max_tx_ex_steps:
                raise LedgerError("ExUnitsTooBigUTxO", "execution units above the maximum")

    # -- persistence -------------------------------------------------------------------

    @contextmanager
    def _locked(self, *, shared: bool = False) -> Iterator[None]:
        with self._lock:
            if self.path is None:
                yield
                return
            lock_path = self.path.with_suffix(self.path.suffix + ".lock")
            with lock_path.open("a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                try:
                    self._load_if_changed()
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _load_if_changed(self) -> None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        state = json.loads(self.path.read_text())
        self._outputs, self._by_address, self._log, self._spent_by = {}, {}, [], {}
        self._by_id = {}
        for k, v in state["outputs"].items():
            out = _chunked(TransactionOutput.from_cbor(bytes.fromhex(v)))
            self._index_output(parse_ref(k), out)
        self._utxos = {parse_ref(k): self._outputs[parse_ref(k)] for k in state["unspent"]}
        for r in state["log"]:
            self._index_record(TxRecord(**r))
        self._funded = state["funded"]
        self._funded_outputs = state.get("funded_outputs", 0)
        self._stamp = stamp

    def _save(self) -> None:
        if self.path is None:
            return
        state = {
            "outputs": {ref(i): o.to_cbor().hex() for i, o in self._outputs.items()},
            "unspent": [ref(i) for i in self._utxos],
            "log": [asdict(r) for r in self._log],
            "funded": self._funded,
            "funded_outputs": self._funded_outputs,
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(state))
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _transaction(raw: bytes) -> Transaction:
    """The decoded ``raw``, also where pycardano's decoder chokes on indefinite arrays.

    pycardano reads an indefinite-length array as a frozen list, which its set types
    (inputs, witnesses) refuse; the values are the same, so they are handed over as lists.
    """
    try:
        return Transaction.from_cbor(raw)
    except Exception:  # retried with plain lists; a real problem fails again
        return Transaction.from_primitive(_plain_lists(cbor2.loads(raw)))


def _plain_lists(value: Any) -> Any:
    if isinstance(value, (list, tuple)):  # FrozenList and IndefiniteFrozenList are lists
        return [_plain_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_lists(v) for k, v in value.items()}
    if isinstance(value, cbor2.CBORTag) and not (121 <= value.tag <= 1400 or value.tag == 102):
        return cbor2.CBORTag(value.tag, _plain_lists(value.value))
    return value


def _native_holds(
    script: NativeScript, signed: set[VerificationKeyHash], start: int | None, ttl: int | None
) -> bool:
    """A native script's verdict: signatures and the validity interval (timelocks)."""
    if isinstance(script, ScriptPubkey):
        return script.key_hash in signed
    if isinstance(script, ScriptAll):
        return all(_native_holds(s, signed, start, ttl) for s in script.native_scripts)
    if isinstance(script, ScriptAny):
        return any(_native_holds(s, signed, start, ttl) for s in script.native_scripts)
    if isinstance(script, ScriptNofK):
        held = sum(_native_holds(s, signed, start, ttl) for s in script.native_scripts)
        return held >= script.n
    if isinstance(script, InvalidBefore):
        return start is not None and start >= script.before
    if isinstance(script, InvalidHereAfter):
        return ttl is not None and ttl <= script.after
    return False


def _chunked(out: TransactionOutput) -> TransactionOutput:
    """``out`` with its inline datum written as submitted: long byte strings chunked.

    Decoding joins a chunked byte string; kept that way, the output would re-encode with
    one long piece (in the persisted ledger, in what the loopback Blockfrost serves).
    """
    if isinstance(out.datum, RawPlutusData):
        out.datum = ChunkedData(to_primitive(out.datum.data))
    return out


class LedgerView(ChainContext):
    """pycardano's ChainContext over a :class:`Ledger` at one instant."""

    def __init__(self, ledger: Ledger, now_ms: int) -> None:
        self.ledger = ledger
        self.now_ms = now_ms

    @property
    def protocol_param(self) -> ProtocolParameters:
        """Current protocol parameters."""
        return self.ledger.params

    @property
    def genesis_param(self) -> GenesisParameters:
        """Genesis parameters."""
        return self.ledger.genesis

    @property
    def network(self) -> Network:
        """The ledger's network."""
        return self.ledger.network

    @property
    def epoch(self) -> int:
        """The epoch of the view's instant."""
        return self.last_block_slot // self.ledger.genesis.epoch_length

    @property
    def last_block_slot(self) -> int:
        """The slot of the view's instant."""
        return self.ledger.slot_of(self.now_ms)

    def _utxos(self, address: str) -> list[UTxO]:
        return self.ledger.utxos(address)

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        """Validate and apply at the view's instant."""
        return self.ledger.submit(cbor, self.now_ms)

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, ExecutionUnits]:
        """Execution units at the view's instant."""
        return self.ledger.evaluate(cbor, self.now_ms)

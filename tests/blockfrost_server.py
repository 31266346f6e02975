"""The Blockfrost REST API on loopback, over the offline ledger, for BlockfrostChain's tests.

It answers the endpoints pycardano's BlockFrostChainContext and BlockfrostChain call
(``/api/v0``, ``project_id`` header, Blockfrost's JSON shapes and error bodies): latest
epoch and its protocol parameters, genesis, the latest block, an address's UTxOs and
transactions, a transaction with its UTxOs (``consumed_by_tx``) and CBOR, scripts,
``/tx/submit`` and ``/utils/txs/evaluate`` (an Ogmios v5 answer). Submitted transactions go
through :class:`Ledger.submit`, which checks the CBOR, the witnesses' signatures over the
body bytes as submitted (the transaction id this server answers is their hash), the validity interval, balance, fee and every script spend, so a transaction this
server accepts is one a node would accept. Each accepted transaction gets a block of its
own; :meth:`BlockfrostServer.mine` adds empty blocks (confirmations).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import cbor2
from pycardano import (
    Address,
    PlutusV3Script,
    Transaction,
    TransactionOutput,
    Value,
    plutus_script_hash,
)

from durasumi.activities.escrow.offline.ledger import (
    GENESIS_TX,
    Ledger,
    LedgerError,
    receive,
    ref,
)

__all__ = ["BlockfrostServer"]

GENESIS = GENESIS_TX.payload.hex()


@dataclass
class _Tx:
    hash: str
    height: int
    slot: int
    index: int = 0
    cbor: bytes | None = None  # None: the genesis pseudo-transaction
    fee: int = 0
    inputs: list[str] = field(default_factory=list)
    outputs: dict[int, TransactionOutput] = field(default_factory=dict)


class BlockfrostServer:
    """Blockfrost on 127.0.0.1 backed by ``ledger``; fund wallets through :meth:`fund`.

    Example:
        >>> server = BlockfrostServer(Ledger()).start()  # doctest: +SKIP
        >>> BlockfrostChain(server.project_id, base_url=server.url)  # doctest: +SKIP
    """

    def __init__(self, ledger: Ledger, project_id: str = "preprodLoopbackTest") -> None:
        self.ledger = ledger
        self.project_id = project_id
        self.txs: dict[str, _Tx] = {GENESIS: _Tx(GENESIS, height=0, slot=0)}
        self.consumed: dict[str, str] = {}
        self.height = 0
        self.offset_ms = 0
        self.accepted: list[Transaction] = []
        self.rejected: list[str] = []
        self.paths: list[str] = []
        self.failures: deque[tuple[int, str | None]] = deque()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle and admin ------------------------------------------------------------

    def start(self) -> BlockfrostServer:
        """Serve on a free loopback port."""
        owner = self

        class Handler(_Handler):
            server_state = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """The base URL pycardano takes (``.../api``; the client adds ``/v0``)."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    def now_ms(self) -> int:
        """The chain's clock."""
        return int(time.time() * 1000) + self.offset_ms

    def fund(
        self, address: Address, lovelace: int | Value, *, script: PlutusV3Script | None = None
    ) -> str:
        """Genesis funds (lovelace, maybe native assets; maybe a reference script) at ``address``."""
        with self._lock:
            out_ref = self.ledger.fund(address, lovelace, script=script)
            index = int(out_ref.partition("#")[2])
            self.txs[GENESIS].outputs[index] = TransactionOutput(address, lovelace, script=script)
            return out_ref

    def mine(self, blocks: int = 1) -> None:
        """Add empty blocks on top of the tip."""
        with self._lock:
            self.height += blocks

    def fail(self, status: int, path: str | None = None) -> None:
        """The next request (to a path containing ``path``) gets this HTTP error."""
        with self._lock:
            self.failures.append((status, path))

    # -- the API -----------------------------------------------------------------------

    def get(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """A GET under /api/v0."""
        parts = path.strip("/").split("/")
        with self._lock:
            match parts:
                case ["epochs", "latest"]:
                    return 200, self._epoch()
                case ["epochs", "latest", "parameters"]:
                    return 200, self._parameters()
                case ["genesis"]:
                    return 200, self._genesis()
                case ["blocks", "latest"]:
                    slot = self._slot()
                    return 200, self._block(self.height, slot)
                case ["addresses", address, "utxos"]:
                    return self._page(self._address_utxos(address), query)
                case ["addresses", address, "transactions"]:
                    return self._page(self._address_txs(address), query)
                case ["txs", tx_hash] if tx_hash in self.txs and tx_hash != GENESIS:
                    return 200, self._tx(self.txs[tx_hash])
                case ["txs", tx_hash, "utxos"] if tx_hash in self.txs:
                    return 200, self._utxos(self.txs[tx_hash])
                case ["txs", tx_hash, "cbor"] if tx_hash in self.txs and tx_hash != GENESIS:
                    return 200, {"cbor": (self.txs[tx_hash].cbor or b"").hex()}
                case ["scripts", script_hash]:
                    script = self._find_script(script_hash)
                    if script is not None:
                        size = len(bytes(script))
                        info = {"script_hash": script_hash, "type": "plutusV3"}
                        return 200, {**info, "serialised_size": size}
                case ["scripts", script_hash, "cbor"]:
                    script = self._find_script(script_hash)
                    if script is not None:
                        return 200, {"cbor": cbor2.dumps(bytes(script)).hex()}
        return 404, _error(404, "The requested component has not been found.")

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        """A POST under /api/v0."""
        with self._lock:
            if path == "/tx/submit":
                return self._submit(body)
            if path == "/utils/txs/evaluate":
                return 200, self._evaluate(body.decode())
        return 404, _error(404, "The requested component has not been found.")

    def _submit(self, raw: bytes) -> tuple[int, Any]:
        now = self.now_ms()
        try:
            tx_id = self.ledger.submit(raw, now)
        except LedgerError as err:
            self.rejected.append(str(err))
            # the node's error names its rule, e.g. BadInputsUTxO, as Blockfrost relays it
            message = f"transaction submit error ShelleyTxValidationError ({err.kind}UTxO): {err}"
            return 400, _error(400, message)
        tx = receive(raw).tx  # the id is the ledger's: the hash of the body as submitted
        self.accepted.append(tx)
        self.height += 1
        body = tx.transaction_body
        self.txs[tx_id] = _Tx(
            tx_id,
            height=self.height,
            slot=self.ledger.slot_of(now),
            cbor=raw,
            fee=body.fee,
            inputs=[ref(i) for i in body.inputs],
            # as the ledger keeps them (inline datums with long byte strings chunked)
            outputs={
                index: self.ledger.output_ever(f"{tx_id}#{index}") or out
                for index, out in enumerate(body.outputs)
            },
        )
        for i in body.inputs:
            self.consumed[ref(i)] = tx_id
        return 200, tx_id

    def _evaluate(self, cbor_hex: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "type": "jsonwsp/response",
            "version": "1.0",
            "servicename": "ogmios",
            "methodname": "EvaluateTx",
            "reflection": None,
        }
        try:
            units = self.ledger.evaluate(cbor_hex.strip(), self.now_ms())
        except LedgerError as err:
            answer["result"] = {"EvaluationFailure": {"ScriptFailures": {"spend:0": str(err)}}}
            return answer
        result = {k: {"memory": u.mem, "steps": u.steps} for k, u in units.items()}
        answer["result"] = {"EvaluationResult": result}
        return answer

    # -- views ---------------------------------------------------------------------------

    def _slot(self) -> int:
        return self.ledger.slot_of(self.now_ms())

    def _block(self, height: int, slot: int) -> dict[str, Any]:
        length = self.ledger.genesis.epoch_length
        return {
            "time": self.ledger.posix_of(slot) // 1000,
            "height": height,
            "hash": hashlib.blake2b(str(height).encode(), digest_size=32).hexdigest(),
            "slot": slot,
            "epoch": slot // length,
            "epoch_slot": slot % length,
            "slot_leader": "pool1loopback",
            "size": 0,
            "tx_count": 0,
            "confirmations": 0,
        }

    def _epoch(self) -> dict[str, Any]:
        length = self.ledger.genesis.epoch_length
        epoch = self._slot() // length
        start = self.ledger.posix_of(epoch * length) // 1000
        return {
            "epoch": epoch,
            "start_time": start,
            "end_time": start + length,
            "first_block_time": start,
            "last_block_time": start,
            "block_count": 0,
            "tx_count": 0,
            "output": "0",
            "fees": "0",
            "active_stake": None,
        }

    def _parameters(self) -> dict[str, Any]:
        p = self.ledger.params
        return {
            "epoch": self._slot() // self.ledger.genesis.epoch_length,
            "min_fee_a": p.min_fee_coefficient,
            "min_fee_b": p.min_fee_constant,
            "max_block_size": p.max_block_size,
            "max_tx_size": p.max_tx_size,
            "max_block_header_size": p.max_block_header_size,
            "key_deposit": str(p.key_deposit),
            "pool_deposit": str(p.pool_deposit),
            "e_max": 18,
            "n_opt": 500,
            "a0": float(p.pool_influence),
            "rho": float(p.monetary_expansion),
            "tau": float(p.treasury_expansion),
            "decentralisation_param": float(p.decentralization_param),
            "extra_entropy": None,
            "protocol_major_ver": p.protocol_major_version,
            "protocol_minor_ver": p.protocol_minor_version,
            "min_utxo": str(p.min_utxo),
            "min_pool_cost": str(p.min_pool_cost),
            "nonce": "00" * 32,
            "cost_models": {k: dict(v) for k, v in p.cost_models.items()},
            "cost_models_raw": {k: list(v.values()) for k, v in p.cost_models.items()},
            "price_mem": float(p.price_mem),
            "price_step": float(p.price_step),
            "max_tx_ex_mem": str(p.max_tx_ex_mem),
            "max_tx_ex_steps": str(p.max_tx_ex_steps),
            "max_block_ex_mem": str(p.max_block_ex_mem),
            "max_block_ex_steps": str(p.max_block_ex_steps),
            "max_val_size": str(p.max_val_size),
            "collateral_percent": p.collateral_percent,
            "max_collateral_inputs": p.max_collateral_inputs,
            "coins_per_utxo_size": str(p.coins_per_utxo_byte),
            "coins_per_utxo_word": str(p.coins_per_utxo_byte),
            "min_fee_ref_script_cost_per_byte": p.min_fee_reference_scripts["base"],
        }

    def _genesis(self) -> dict[str, Any]:
        g = self.ledger.genesis
        return {
            "active_slots_coefficient": float(g.active_slots_coefficient),
            "update_quorum": g.update_quorum,
            "max_lovelace_supply": str(g.max_lovelace_supply),
            "network_magic": g.network_magic,
            "epoch_length": g.epoch_length,
            "system_start": g.system_start,
            "slots_per_kes_period": g.slots_per_kes_period,
            "slot_length": g.slot_length,
            "max_kes_evolutions": g.max_kes_evolutions,
            "security_param": g.security_param,
        }

    def _address_utxos(self, address: str) -> list[dict[str, Any]] | None:
        if not self._address_txs(address):
            return None  # Blockfrost: 404 for an address never seen on chain
        found = []
        for tx in self.txs.values():
            for index, out in tx.outputs.items():
                out_ref = f"{tx.hash}#{index}"
                if str(out.address) == address and out_ref not in self.consumed:
                    entry = _output(out, index)
                    del entry["consumed_by_tx"], entry["collateral"]
                    found.append({**entry, "tx_hash": tx.hash, "tx_index": index, "block": ""})
        return found

    def _address_txs(self, address: str) -> list[dict[str, Any]]:
        found = []
        for tx in self.txs.values():
            touched = [o for o in tx.outputs.values() if str(o.address) == address]
            for i in tx.inputs:
                tx_hash, _, index = i.partition("#")
                out = self.txs[tx_hash].outputs.get(int(index)) if tx_hash in self.txs else None
                if out is not None and str(out.address) == address:
                    touched.append(out)
            if touched:
                found.append(
                    {
                        "tx_hash": tx.hash,
                        "tx_index": tx.index,
                        "block_height": tx.height,
                        "block_time": self.ledger.posix_of(tx.slot) // 1000,
                    }
                )
        return found

    def _tx(self, tx: _Tx) -> dict[str, Any]:
        return {
            "hash": tx.hash,
            "block": self._block(tx.height, tx.slot)["hash"],
            "block_height": tx.height,
            "block_time": self.ledger.posix_of(tx.slot) // 1000,
            "slot": tx.slot,
            "index": tx.index,
            "fees": str(tx.fee),
            "valid_contract": True,
            "utxo_count": len(tx.inputs) + len(tx.outputs),
        }

    def _utxos(self, tx: _Tx) -> dict[str, Any]:
        inputs = []
        for i in tx.inputs:
            tx_hash, _, index = i.partition("#")
            out = self.txs[tx_hash].outputs[int(index)]
            entry = _output(out, int(index))
            del entry["consumed_by_tx"]
            inputs.append({**entry, "tx_hash": tx_hash, "reference": False})
        outputs = []
        for index, out in tx.outputs.items():
            entry = _output(out, index)
            entry["consumed_by_tx"] = self.consumed.get(f"{tx.hash}#{index}")
            outputs.append(entry)
        return {"hash": tx.hash, "inputs": inputs, "outputs": outputs}

    def _find_script(self, script_hash: str) -> PlutusV3Script | None:
        for tx in self.txs.values():
            for out in tx.outputs.values():
                script = out.script
                if isinstance(script, PlutusV3Script):
                    if plutus_script_hash(script).payload.hex() == script_hash:
                        return script
        return None

    @staticmethod
    def _page(items: list[dict[str, Any]] | None, query: dict[str, str]) -> tuple[int, Any]:
        if items is None:
            return 404, _error(404, "The requested component has not been found.")
        if query.get("order") == "desc":
            items = items[::-1]
        count = int(query.get("count", "100"))
        page = int(query.get("page", "1"))
        return 200, items[(page - 1) * count : page * count]


class _Handler(BaseHTTPRequestHandler):
    server_state: BlockfrostServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        state = self.server_state
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("project_id") != state.project_id:
            self._send(403, _error(403, "Invalid project token."))
            return
        path = url.path.removeprefix("/api/v0")
        with state._lock:
            state.paths.append(f"{method} {path}")
            failure = next((f for f in state.failures if f[1] is None or f[1] in path), None)
            if failure is not None:
                state.failures.remove(failure)
        if failure is not None:
            self._send(failure[0], _error(failure[0], "injected failure"))
            return
        if method == "GET":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            code, payload = state.get(path, query)
        else:
            code, payload = state.post(path, body)
        self._send(code, payload)

    def _send(self, code: int, payload: Any) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _error(code: int, message: str) -> dict[str, Any]:
    names = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Project Over Limit"}
    return {
        "status_code": code,
        "error": names.get(code, "Internal Server Error"),
        "message": message,
    }


def _output(out: TransactionOutput, index: int) -> dict[str, Any]:
    amount = [{"unit": "lovelace", "quantity": str(out.amount.coin)}]
    for policy, assets in (out.amount.multi_asset or {}).items():
        for name, quantity in assets.items():
            amount.append(
                {"unit": policy.payload.hex() + name.payload.hex(), "quantity": str(quantity)}
            )
    datum = out.datum
    return {
        "address": str(out.address),
        "amount": amount,
        "output_index": index,
        "data_hash": out.datum_hash.payload.hex() if out.datum_hash else None,
        "inline_datum": datum.to_cbor().hex() if datum is not None else None,  # type: ignore[union-attr]
        "reference_script_hash": (
            plutus_script_hash(out.script).payload.hex()
            if isinstance(out.script, PlutusV3Script)
            else None
        ),
        "collateral": False,
        "consumed_by_tx": None,
    }

"""The committed escrow script is exactly what the OpShin source compiles to."""

from __future__ import annotations

from pycardano import PlutusV3Script, plutus_script_hash

from durasumi.activities.escrow.script import HASH_FILE, SCRIPT_FILE, compile_contract


def test_recompiling_gives_the_committed_bytes_and_hash() -> None:
    committed = bytes.fromhex(SCRIPT_FILE.read_text().strip())
    assert compile_contract() == committed, "run: python -m activities.escrow.compile"
    digest = plutus_script_hash(PlutusV3Script(committed)).payload.hex()
    assert HASH_FILE.read_text().strip() == digest

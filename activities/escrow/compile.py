"""Recompile the escrow validator and write ``contract/script.cbor`` and ``script.hash``.

Run ``python -m activities.escrow.compile`` after changing ``contract/vested_pay.py``;
``tests/test_escrow_script.py`` fails while the committed script differs from the source.
"""

from __future__ import annotations

import logging

from pycardano import PlutusV3Script, plutus_script_hash

from durasumi.activities.escrow.script import HASH_FILE, SCRIPT_FILE, compile_contract

log = logging.getLogger(__name__)


def main() -> None:
    """Compile and write the artifacts."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raw = compile_contract()
    SCRIPT_FILE.write_text(raw.hex() + "\n")
    digest = plutus_script_hash(PlutusV3Script(raw)).payload.hex()
    HASH_FILE.write_text(digest + "\n")
    log.info("wrote %s (%d bytes), hash %s", SCRIPT_FILE.name, len(raw), digest)


if __name__ == "__main__":
    main()

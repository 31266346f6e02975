"""Protocol and genesis parameters of the offline ledger (Conway mainnet values)."""

from __future__ import annotations

import json
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import uplc
from pycardano import GenesisParameters, ProtocolParameters

__all__ = ["SLOT_LENGTH_MS", "SYSTEM_START_MS", "genesis_parameters", "protocol_parameters"]

# Slot 0 of the offline chain is 2020-01-01T00:00:00Z; one slot per second, like mainnet.
SYSTEM_START_MS = 1_577_836_800_000
SLOT_LENGTH_MS = 1_000


@lru_cache(maxsize=1)
def _v3_cost_model() -> dict[str, int]:
    path = Path(uplc.__file__).parent / "cost_model_files" / "2024-07-30" / "cost-model-merged.json"
    return {k: int(v) for k, v in json.loads(path.read_text())["PlutusV3"].items()}


@lru_cache(maxsize=1)
def protocol_parameters() -> ProtocolParameters:
    """Mainnet's Conway parameters that matter to fees, sizes and script budgets."""
    return ProtocolParameters(
        min_fee_constant=155_381,
        min_fee_coefficient=44,
        max_block_size=90_112,
        max_tx_size=16_384,
        max_block_header_size=1_100,
        key_deposit=2_000_000,
        pool_deposit=500_000_000,
        pool_influence=Fraction(3, 10),
        monetary_expansion=Fraction(3, 1000),
        treasury_expansion=Fraction(1, 5),
        decentralization_param=Fraction(0),
        extra_entropy="",
        protocol_major_version=10,
        protocol_minor_version=0,
        min_utxo=4_310,
        min_pool_cost=170_000_000,
        price_mem=Fraction(577, 10_000),
        price_step=Fraction(721, 10_000_000),
        max_tx_ex_mem=16_500_000,
        max_tx_ex_steps=10_000_000_000,
        max_block_ex_mem=72_000_000,
        max_block_ex_steps=20_000_000_000,
        max_val_size=5_000,
        collateral_percent=150,
        max_collateral_inputs=3,
        coins_per_utxo_word=34_482,
        coins_per_utxo_byte=4_310,
        cost_models={"PlutusV3": _v3_cost_model()},
        maximum_reference_scripts_size={"bytes": 204_800},
        min_fee_reference_scripts={"base": 15, "range": 25_600, "multiplier": 1.2},
    )


def genesis_parameters() -> GenesisParameters:
    """Genesis values; only the slot length and system start matter offline."""
    return GenesisParameters(
        active_slots_coefficient=Fraction(1, 20),
        update_quorum=5,
        max_lovelace_supply=45_000_000_000_000_000,
        network_magic=42,
        epoch_length=432_000,
        system_start=SYSTEM_START_MS // 1000,
        slots_per_kes_period=129_600,
        slot_length=SLOT_LENGTH_MS // 1000,
        max_kes_evolutions=62,
        security_param=2_160,
    )

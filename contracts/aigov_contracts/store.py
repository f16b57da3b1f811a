"""The aggregate contract a store passes with only the ``store`` fixture."""

from __future__ import annotations

from aigov_contracts.directory import DirectoryContract, StoreTransactionContract

__all__ = ["StoreContract"]


class StoreContract(StoreTransactionContract, DirectoryContract):
    """Every contract that needs only the ``store`` fixture (a fresh, empty store per test)."""

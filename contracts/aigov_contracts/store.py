"""The aggregate contract a store passes with only the ``store`` fixture."""

from __future__ import annotations

from aigov_contracts.audit import AuditContract
from aigov_contracts.authorization import AuthorizationContract
from aigov_contracts.budgets import BudgetContract
from aigov_contracts.directory import DirectoryContract, StoreTransactionContract
from aigov_contracts.enforcement import EnforcementContract
from aigov_contracts.prices import PriceBookContract
from aigov_contracts.reports import ReportContract
from aigov_contracts.resolution import ResolutionContract
from aigov_contracts.snapshot import SnapshotContract
from aigov_contracts.spend import SpendContract

__all__ = ["StoreContract"]


class StoreContract(
    StoreTransactionContract,
    SnapshotContract,
    DirectoryContract,
    PriceBookContract,
    BudgetContract,
    AuthorizationContract,
    AuditContract,
    ResolutionContract,
    SpendContract,
    EnforcementContract,
    ReportContract,
):
    """Every contract that needs only the ``store`` fixture (a fresh, empty store per test)."""

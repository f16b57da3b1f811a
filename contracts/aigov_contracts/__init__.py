"""The aigov conformance suite: SPEC.md as tests, runnable against any store.

A third party's whole test file::

    import pytest
    from aigov_contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self):
            store = MyStore()
            yield store
            store.close()

Contracts that need more than ``store`` are separate classes to inherit explicitly
(``DirectoryConcurrencyContract`` and ``EnforcementConcurrencyContract`` need
``store_factory``). Mixing ``AsyncFacade`` in before a test class runs its tests again, through
``AsyncGovernance``::

    class TestMyStoreThroughAsync(AsyncFacade, TestMyStore): ...

``equivalence_test`` checks a store against the reference ``MemoryStore``
with a Hypothesis state machine, and
``report_recomputation_test`` checks every report of random worlds against a brute-force
recomputation from the usage records.

The names below load lazily, so that ``pytest -p aigov_contracts.plugin`` can turn on assertion
rewriting for the suite's modules before any of them is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aigov_contracts.audit import AuditContract
    from aigov_contracts.authorization import AuthorizationContract
    from aigov_contracts.budgets import BudgetContract
    from aigov_contracts.clock import ManualClock
    from aigov_contracts.concurrency import (
        DirectoryConcurrencyContract,
        EnforcementConcurrencyContract,
        StoreFactory,
    )
    from aigov_contracts.directory import DirectoryContract, StoreTransactionContract
    from aigov_contracts.enforcement import EnforcementContract
    from aigov_contracts.equivalence import equivalence_test
    from aigov_contracts.facades import AsyncFacade, EventLoopThread, GovernanceFactory
    from aigov_contracts.prices import PriceBookContract
    from aigov_contracts.reports import ReportContract
    from aigov_contracts.resolution import ResolutionContract
    from aigov_contracts.snapshot import SnapshotContract
    from aigov_contracts.spend import SpendContract
    from aigov_contracts.spend_worlds import report_recomputation_test
    from aigov_contracts.store import StoreContract

__all__ = [
    "AsyncFacade",
    "AuditContract",
    "AuthorizationContract",
    "BudgetContract",
    "DirectoryConcurrencyContract",
    "DirectoryContract",
    "EnforcementConcurrencyContract",
    "EnforcementContract",
    "EventLoopThread",
    "GovernanceFactory",
    "ManualClock",
    "PriceBookContract",
    "ReportContract",
    "ResolutionContract",
    "SnapshotContract",
    "SpendContract",
    "StoreContract",
    "StoreFactory",
    "StoreTransactionContract",
    "equivalence_test",
    "report_recomputation_test",
]

_HOMES = {
    "AsyncFacade": "aigov_contracts.facades",
    "AuditContract": "aigov_contracts.audit",
    "AuthorizationContract": "aigov_contracts.authorization",
    "BudgetContract": "aigov_contracts.budgets",
    "DirectoryConcurrencyContract": "aigov_contracts.concurrency",
    "DirectoryContract": "aigov_contracts.directory",
    "EnforcementConcurrencyContract": "aigov_contracts.concurrency",
    "EnforcementContract": "aigov_contracts.enforcement",
    "EventLoopThread": "aigov_contracts.facades",
    "GovernanceFactory": "aigov_contracts.facades",
    "ManualClock": "aigov_contracts.clock",
    "PriceBookContract": "aigov_contracts.prices",
    "ReportContract": "aigov_contracts.reports",
    "ResolutionContract": "aigov_contracts.resolution",
    "SnapshotContract": "aigov_contracts.snapshot",
    "SpendContract": "aigov_contracts.spend",
    "StoreContract": "aigov_contracts.store",
    "StoreFactory": "aigov_contracts.concurrency",
    "StoreTransactionContract": "aigov_contracts.directory",
    "equivalence_test": "aigov_contracts.equivalence",
    "report_recomputation_test": "aigov_contracts.spend_worlds",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'aigov_contracts' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)

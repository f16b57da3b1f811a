"""``MemoryStore``: the reference store, built from the core's rules and kept in process memory.

One lock serializes units of work, so concurrent callers see each transaction whole. Every write of
a unit of work, whichever repository makes it, goes through one log with the value it replaced; a
unit of work that raises is undone from that log, so a failed call leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from aigov.ports import Store, StoreSnapshot, UnitOfWork
from aigov.resolution import BudgetPolicy
from aigov.spend import BudgetAndSpend, HoldOutcome, HoldRequest
from aigov_memory._audit import MemoryAudit
from aigov_memory._budgets import MemoryBudgets
from aigov_memory._directory import MemoryDirectory
from aigov_memory._prices import MemoryPrices
from aigov_memory._settings import MemorySettings
from aigov_memory._spend import MemorySpend
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemoryStore"]

T = TypeVar("T")


class _MemoryUnitOfWork(UnitOfWork):
    """One transaction: six repositories on the same tables and the same write log, so that
    ``rollback`` undoes the writes of all of them. They are typed as the memory repositories, not
    the ports, because they are handed to one another and the hot path calls
    ``spend.hold_if_fits``."""

    def __init__(self, tables: Tables) -> None:
        self._log = WriteLog()
        self.audit: MemoryAudit = MemoryAudit(tables, self._log)
        self.directory: MemoryDirectory = MemoryDirectory(tables, self._log, self.audit)
        self.prices: MemoryPrices = MemoryPrices(tables, self._log, self.audit)
        self.budgets: MemoryBudgets = MemoryBudgets(tables, self._log, self.directory)
        self.spend: MemorySpend = MemorySpend(tables, self._log, self.directory, self.budgets)
        self.settings: MemorySettings = MemorySettings(tables, self._log)

    def rollback(self) -> None:
        """Put every table back as it was when the unit of work began."""
        self._log.undo()


class MemoryStore(Store):
    """A complete, thread-safe store in process memory: the reference every other store is
    checked against, and a supported store for tests and single-process use."""

    def __init__(self) -> None:
        self._tables = Tables()
        self._lock = threading.RLock()

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return self._unit_of_work()

    @contextmanager
    def _unit_of_work(self) -> Iterator[_MemoryUnitOfWork]:
        """``transaction()``, typed with the memory repositories the hot path needs."""
        with self._lock:
            uow = _MemoryUnitOfWork(self._tables)
            try:
                yield uow
            except BaseException:
                uow.rollback()
                raise

    def snapshot(self) -> StoreSnapshot:
        with self._lock:
            return self._tables.snapshot()

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        with self._unit_of_work() as uow:
            effective = uow.budgets.resolve_budget(request.user_id, policy)
            if effective is None:
                return None
            if effective.group_id is None:
                return HoldOutcome(
                    effective=effective, reservation=None, spent_micros=0, held_micros=0
                )
            reservation = request.on(effective.group_id)
            granted, counter = uow.spend.hold_if_fits(
                reservation, effective.spend_limit_micros, request.created_at
            )
            return HoldOutcome(
                effective=effective,
                reservation=reservation if granted else None,
                spent_micros=counter.spent_micros,
                held_micros=counter.held_micros,
            )

    def budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        with self._unit_of_work() as uow:
            return uow.spend.budgets_and_spend([user_id], period_start, now, policy).get(user_id)

    def close(self) -> None:
        """Nothing to release; present so every store closes the same way."""

    # The async twins run in the event loop itself: a unit of work here is a few dictionary
    # operations under the lock, and does no I/O.

    async def arun_in_transaction(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.transaction() as uow:
            return work(uow)

    async def areserve_if_fits(
        self, request: HoldRequest, policy: BudgetPolicy
    ) -> HoldOutcome | None:
        return self.reserve_if_fits(request, policy)

    async def abudget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        return self.budget_and_spend(user_id, period_start, now, policy)

    async def aclose(self) -> None:
        self.close()

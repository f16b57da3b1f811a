"""The memory store's state: its tables, and the write log through which every repository of a unit
of work changes them, so that a unit of work that raises can be undone whole."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from datetime import date, datetime
from itertools import count
from typing import Any, Final, TypeVar
from uuid import UUID

from aigov.audit import AuditEntry
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.directory import Group, GroupMember, Organization, OrganizationMember, User
from aigov.ports import StoreSnapshot
from aigov.prices import ModelPrice, PriceSource
from aigov.settings import GovernanceSettings
from aigov.spend import DailySpend, Reservation, SpendCounter, ThresholdCrossed, UsageRecord

__all__ = ["CounterKey", "Indexed", "Tables", "WriteLog"]

K = TypeVar("K")
V = TypeVar("V")

CounterKey = tuple[UUID, UUID, datetime]
"""A spend counter's key: ``(user_id, group_id, period_start)``."""

_MISSING: Final = object()


class Indexed(dict[K, V]):
    """A table with secondary indexes, kept up to date by every write (rollbacks included), so
    that the hot path reads one user's rows, not every row."""

    def __init__(self, **indexes: Callable[[K, V], Hashable]) -> None:
        super().__init__()
        self._keys = indexes
        self._index: dict[str, defaultdict[Hashable, set[K]]] = {
            name: defaultdict(set) for name in indexes
        }

    def _unindex(self, key: K) -> None:
        if key in self:
            value = super().__getitem__(key)
            for name, of in self._keys.items():
                entries = self._index[name][of(key, value)]
                entries.discard(key)
                if not entries:
                    del self._index[name][of(key, value)]

    def __setitem__(self, key: K, value: V) -> None:
        self._unindex(key)
        super().__setitem__(key, value)
        for name, of in self._keys.items():
            self._index[name][of(key, value)].add(key)

    def __delitem__(self, key: K) -> None:
        self._unindex(key)
        super().__delitem__(key)

    def pop(self, key: K, *default: Any) -> Any:
        self._unindex(key)
        return super().pop(key, *default)

    def where(self, index: str, value: Hashable) -> list[K]:
        """The keys of the rows whose ``index`` is ``value``, in key order."""
        return sorted(self._index[index].get(value, ()))  # type: ignore[type-var]


class Tables:
    """The stored rows, keyed as their primary keys are on Postgres."""

    def __init__(self) -> None:
        self.organizations: dict[UUID, Organization] = {}
        self.users: dict[UUID, User] = {}
        self.organization_members: Indexed[tuple[UUID, UUID], OrganizationMember] = Indexed(
            user=lambda key, _: key[1]
        )
        self.groups: dict[UUID, Group] = {}
        self.group_members: Indexed[tuple[UUID, UUID], GroupMember] = Indexed(
            user=lambda key, _: key[1], group=lambda key, _: key[0]
        )
        self.model_prices: dict[tuple[str, str, PriceSource], ModelPrice] = {}
        self.group_budgets: dict[UUID, GroupAIBudget] = {}
        self.overrides: dict[UUID, UserAIBudgetOverride] = {}
        self.audit: dict[int, AuditEntry] = {}
        self.audit_ids = count(1)  # like a sequence: not rolled back
        self.settings: dict[None, GovernanceSettings] = {}  # one row; a table, so writes are undone
        self.usage: Indexed[UUID, UsageRecord] = Indexed(reservation=lambda _, r: r.reservation_id)
        self.usage_keys: dict[tuple[UUID, str], UUID] = {}
        self.daily_spend: dict[tuple[UUID, UUID, date], tuple[UUID, int]] = {}
        self.counters: dict[CounterKey, tuple[int, int]] = {}
        self.reservations: Indexed[UUID, Reservation] = Indexed(
            counter=lambda _, r: (r.user_id, r.group_id, r.period_start)
        )
        self.budget_events: dict[UUID, tuple[ThresholdCrossed, bool]] = {}

    def counter(self, key: CounterKey) -> SpendCounter:
        """The counter of ``key`` as a ``SpendCounter``; zeros when there is none."""
        spent, held = self.counters.get(key, (0, 0))
        return SpendCounter(
            user_id=key[0],
            group_id=key[1],
            period_start=key[2],
            spent_micros=spent,
            held_micros=held,
        )

    def ledger(self) -> list[DailySpend]:
        """The daily spend as ``DailySpend`` rows, ordered by ``(user_id, effective_group_id,
        day)``."""
        return [
            DailySpend(
                user_id=user,
                effective_group_id=group,
                organization_id=organization,
                day=day,
                spend_micros=amount,
            )
            for (user, group, day), (organization, amount) in sorted(self.daily_spend.items())
        ]

    def snapshot(self) -> StoreSnapshot:
        """Every row, in the orders ``StoreSnapshot`` states; the caller holds the store's lock."""
        events = sorted(self.budget_events.values(), key=lambda found: (found[0].at, found[0].id))
        return StoreSnapshot(
            organizations=tuple(row for _, row in sorted(self.organizations.items())),
            users=tuple(row for _, row in sorted(self.users.items())),
            organization_members=tuple(row for _, row in sorted(self.organization_members.items())),
            groups=tuple(row for _, row in sorted(self.groups.items())),
            group_members=tuple(row for _, row in sorted(self.group_members.items())),
            group_budgets=tuple(row for _, row in sorted(self.group_budgets.items())),
            overrides=tuple(row for _, row in sorted(self.overrides.items())),
            prices=tuple(row for _, row in sorted(self.model_prices.items())),
            usage=tuple(sorted(self.usage.values(), key=lambda r: (r.at, r.id))),
            daily_spend=tuple(self.ledger()),
            counters=tuple(self.counter(key) for key in sorted(self.counters)),
            reservations=tuple(
                sorted(self.reservations.values(), key=lambda r: (r.created_at, r.id))
            ),
            budget_events=tuple(event for event, _ in events),
            acknowledged_event_ids=tuple(
                sorted(key for key, (_, acknowledged) in self.budget_events.items() if acknowledged)
            ),
            audit=tuple(row for _, row in sorted(self.audit.items())),
            settings=self.settings.get(None),
        )


class WriteLog:
    """One unit of work's writes, each with the value it replaced: the repositories of a unit of
    work write only through it, so that ``undo`` puts every table back as it was."""

    def __init__(self) -> None:
        self._replaced: list[tuple[dict[Any, Any], Any, Any]] = []

    def put(self, table: dict[K, V], key: K, value: V) -> None:
        """Store ``value`` under ``key``."""
        self._replaced.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def pop(self, table: dict[K, V], key: K) -> None:
        """Delete the row of ``key``, which must exist."""
        self._replaced.append((table, key, table[key]))
        del table[key]

    def undo(self) -> None:
        """Undo every write, latest first."""
        for table, key, old in reversed(self._replaced):
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old
        self._replaced.clear()

"""The memory store's recorded spend (SPEC §8): usage records, the daily ledger, the period
counters with their holds, and threshold events."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from uuid import UUID

from aigov.exceptions import ConflictError
from aigov.money import check_micros
from aigov.ports import SpendRepository
from aigov.resolution import BudgetPolicy
from aigov.spend import (
    BudgetAndSpend,
    DailySpend,
    Reservation,
    ReservationState,
    SpendCounter,
    ThresholdCrossed,
    UsageRecord,
    fits,
)
from aigov_memory._budgets import MemoryBudgets
from aigov_memory._directory import MemoryDirectory
from aigov_memory._tables import CounterKey, Tables, WriteLog

__all__ = ["MemorySpend"]


class MemorySpend(SpendRepository):
    """Spend and holds; the directory checks the users it names, and budgets resolve the limit
    and the counter a user's spend goes to."""

    def __init__(
        self,
        tables: Tables,
        log: WriteLog,
        directory: MemoryDirectory,
        budgets: MemoryBudgets,
    ) -> None:
        self._tables = tables
        self._log = log
        self._directory = directory
        self._budgets = budgets

    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        record_id = self._tables.usage_keys.get((user_id, idempotency_key))
        return None if record_id is None else self._tables.usage[record_id]

    def record_usage(self, record: UsageRecord) -> int:
        tables = self._tables
        self._directory.existing_user(record.user_id)
        if record.idempotency_key is not None:
            key = (record.user_id, record.idempotency_key)
            if key in tables.usage_keys:
                raise ConflictError(
                    f"user {record.user_id} has a usage under key {record.idempotency_key!r}",
                    constraint="ai_usage_records_user_id_idempotency_key_key",
                )
            self._log.put(tables.usage_keys, key, record.id)
        if record.id in tables.usage:
            raise ConflictError(
                f"usage {record.id} exists already", constraint="ai_usage_records_pkey"
            )
        group = record.effective_group_id
        day_key = (record.user_id, group, record.day)
        _, day_before = tables.daily_spend.get(day_key, (record.organization_id, 0))
        day_total = day_before + record.cost_micros
        counter_key = (record.user_id, group, record.period_start)
        spent, held = tables.counters.get(counter_key, (0, 0))
        spent = check_micros(spent + record.cost_micros, "the period's spend")
        self._log.put(
            tables.daily_spend,
            day_key,
            (record.organization_id, check_micros(day_total, "the day's spend")),
        )
        self._log.put(tables.counters, counter_key, (spent, held))
        self._log.put(tables.usage, record.id, record.model_copy(update={"threshold_events": ()}))
        return spent

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        found = self._tables.usage.where("reservation", reservation_id)
        return self._tables.usage[found[0]] if found else None

    def _holds_of(self, counter: CounterKey) -> list[Reservation]:
        holds = self._tables.reservations
        return [holds[key] for key in holds.where("counter", counter)]

    def hold_if_fits(
        self, reservation: Reservation, limit: int | None, now: datetime
    ) -> tuple[bool, SpendCounter]:
        """The enforcement step of ``MemoryStore.reserve_if_fits`` (SPEC §8.3)."""
        tables = self._tables
        key = (reservation.user_id, reservation.group_id, reservation.period_start)
        spent, held = tables.counters.get(key, (0, 0))
        for stale in [r for r in self._holds_of(key) if r.state == "held" and r.expires_at <= now]:
            self._log.put(
                tables.reservations, stale.id, stale.model_copy(update={"state": "expired"})
            )
            held -= stale.amount_micros
        granted = fits(limit, spent, held, reservation.amount_micros)
        if granted:
            held = check_micros(held + reservation.amount_micros, "the period's holds")
            self._log.put(tables.reservations, reservation.id, reservation)
        if granted or key in tables.counters:
            self._log.put(tables.counters, key, (spent, held))
        return granted, tables.counter(key)

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        return self._tables.reservations.get(reservation_id)

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        tables = self._tables
        current = tables.reservations[reservation.id]
        if current.state == "held":
            key = (current.user_id, current.group_id, current.period_start)
            spent, held = tables.counters[key]
            self._log.put(tables.counters, key, (spent, held - current.amount_micros))
        self._log.put(tables.reservations, current.id, current.model_copy(update={"state": state}))

    def _spend_in_period(self, key: CounterKey, now: datetime) -> tuple[int, int]:
        """``(spent, held)`` of the counter of ``key``, held counting only the holds still live
        at ``now``; ``(0, 0)`` when there is no counter."""
        spent, _ = self._tables.counters.get(key, (0, 0))
        held = sum(
            r.amount_micros for r in self._holds_of(key) if r.state == "held" and r.expires_at > now
        )
        return spent, held

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        kept = {
            (e.user_id, e.group_id, e.period_start, e.percent)
            for e, _ in self._tables.budget_events.values()
        }
        new = [e for e in events if (e.user_id, e.group_id, e.period_start, e.percent) not in kept]
        for event in new:
            self._log.put(self._tables.budget_events, event.id, (event, False))
        return new

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        pending = [e for e, acknowledged in self._tables.budget_events.values() if not acknowledged]
        return sorted(pending, key=lambda e: (e.at, e.id))[:limit]

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        acknowledged = 0
        for event_id in set(ids):
            found = self._tables.budget_events.get(event_id)
            if found is not None and not found[1]:
                self._log.put(self._tables.budget_events, event_id, (found[0], True))
                acknowledged += 1
        return acknowledged

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        return sum(
            spent
            for (_, group, start), (spent, _) in self._tables.counters.items()
            if (group, start) == (group_id, period_start)
        )

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        rows = (
            row
            for row in self._tables.ledger()
            if row.organization_id == organization_id and start <= row.day < end
        )
        yield from sorted(rows, key=lambda row: (row.day, row.user_id, row.effective_group_id))

    def budgets_and_spend(
        self, user_ids: Sequence[UUID], period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> dict[UUID, BudgetAndSpend]:
        found: dict[UUID, BudgetAndSpend] = {}
        for user in user_ids:
            effective = self._budgets.resolve_budget(user, policy)
            if effective is None:
                continue
            spent, held = (
                (0, 0)
                if effective.group_id is None
                else self._spend_in_period((user, effective.group_id, period_start), now)
            )
            found[user] = BudgetAndSpend(effective=effective, spent_micros=spent, held_micros=held)
        return found

"""Recorded spend, reservations and threshold events (SPEC §8) in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from aigov.ports import SpendRepository
from aigov.resolution import BudgetPolicy
from aigov.spend import (
    BudgetAndSpend,
    DailySpend,
    Reservation,
    ReservationState,
    ThresholdCrossed,
    UsageRecord,
)
from aigov_postgres import schema as tables
from aigov_postgres._hot_path import SPEND_OF_CHOSEN, budget_and_spend_of
from aigov_postgres._repository import Repository, where


class PostgresSpend(Repository, SpendRepository):
    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        usage = tables.usage_records
        row = self._connection.execute(
            select(usage).where(
                where((usage.c.user_id, user_id), (usage.c.idempotency_key, idempotency_key))
            )
        ).first()
        return None if row is None else UsageRecord.model_validate(row._mapping)

    def record_usage(self, record: UsageRecord) -> int:
        values = record.model_dump(exclude={"threshold_events"}) | {
            "unpriced_kinds": list(record.unpriced_kinds)
        }
        self._connection.execute(insert(tables.usage_records).values(values))
        group, cost = record.effective_group_id, record.cost_micros
        ledger = pg_insert(tables.daily_spend).values(
            user_id=record.user_id,
            effective_group_id=group,
            organization_id=record.organization_id,
            day=record.day,
            spend_micros=cost,
        )
        self._connection.execute(
            ledger.on_conflict_do_update(
                index_elements=["user_id", "effective_group_id", "day"],
                set_={
                    "spend_micros": tables.daily_spend.c.spend_micros + ledger.excluded.spend_micros
                },
            )
        )
        counter = pg_insert(tables.spend_counters).values(
            user_id=record.user_id,
            group_id=group,
            period_start=record.period_start,
            spent_micros=cost,
            held_micros=0,
        )
        spent = self._connection.execute(
            counter.on_conflict_do_update(
                index_elements=["user_id", "group_id", "period_start"],
                set_={
                    "spent_micros": tables.spend_counters.c.spent_micros
                    + counter.excluded.spent_micros
                },
            ).returning(tables.spend_counters.c.spent_micros)
        ).scalar_one()
        return int(spent)

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        usage = tables.usage_records
        row = self._connection.execute(
            select(usage).where(usage.c.reservation_id == reservation_id)
        ).first()
        return None if row is None else UsageRecord.model_validate(row._mapping)

    def _counter_key(self, reservation: Reservation) -> ColumnElement[bool]:
        counters = tables.spend_counters
        return where(
            (counters.c.user_id, reservation.user_id),
            (counters.c.group_id, reservation.group_id),
            (counters.c.period_start, reservation.period_start),
        )

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        holds = tables.reservations
        row = self._connection.execute(
            select(holds).where(holds.c.id == reservation_id).with_for_update()
        ).first()
        return None if row is None else Reservation.model_validate(row._mapping)

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        holds, counters = tables.reservations, tables.spend_counters
        was = self._connection.execute(
            select(holds.c.state).where(holds.c.id == reservation.id).with_for_update()
        ).scalar_one()
        self._connection.execute(
            update(holds).where(holds.c.id == reservation.id).values(state=state)
        )
        if was == "held":
            self._connection.execute(
                update(counters)
                .where(self._counter_key(reservation))
                .values(held_micros=counters.c.held_micros - reservation.amount_micros)
            )

    def budgets_and_spend(
        self, user_ids: Sequence[UUID], period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> dict[UUID, BudgetAndSpend]:
        """The hot path's resolution and spend for many users in one query."""
        spend = SPEND_OF_CHOSEN.format(s=self._schema_sql, user="u.id")
        rows = self._connection.exec_driver_sql(
            f"SELECT u.id, chosen.spend_limit_micros, chosen.group_id, chosen.source, {spend}"
            f" FROM {self._schema_sql}.users AS u"
            f" LEFT JOIN {self._schema_sql}.effective_budget(u.id, %(policy)s) AS chosen ON true"
            " WHERE u.id = ANY(%(user_ids)s)",
            {
                "user_ids": list(user_ids),
                "policy": policy,
                "period_start": period_start,
                "now": now,
            },
        )
        found = {row[0]: budget_and_spend_of(row[1:]) for row in rows}
        return {user: found[user] for user in user_ids if user in found}

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        if not events:
            return []
        table = tables.budget_events
        kept = self._connection.execute(
            pg_insert(table)
            .values([event.model_dump() | {"acknowledged": False} for event in events])
            .on_conflict_do_nothing(constraint="ai_budget_events_once")
            .returning(table.c.id)
        ).scalars()
        new = set(kept)
        return [event for event in events if event.id in new]

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        table = tables.budget_events
        rows = self._connection.execute(
            select(*(c for c in table.c if c.name != "acknowledged"))
            .where(table.c.acknowledged.is_(False))
            .order_by(table.c.at, table.c.id)
            .limit(limit)
        )
        return [ThresholdCrossed.model_validate(row._mapping) for row in rows]

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        table = tables.budget_events
        acknowledged = self._connection.execute(
            update(table)
            .where(table.c.id.in_(list(ids)), table.c.acknowledged.is_(False))
            .values(acknowledged=True)
            .returning(table.c.id)
        ).all()
        return len(acknowledged)

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        counters = tables.spend_counters
        total = self._connection.scalar(
            select(func.coalesce(func.sum(counters.c.spent_micros), 0)).where(
                where((counters.c.group_id, group_id), (counters.c.period_start, period_start))
            )
        )
        return int(total or 0)

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        ledger = tables.daily_spend
        rows = self._connection.execution_options(yield_per=1_000).execute(
            select(ledger)
            .where(ledger.c.organization_id == organization_id, ledger.c.day >= start)
            .where(ledger.c.day < end)
            .order_by(ledger.c.day, ledger.c.user_id, ledger.c.effective_group_id)
        )
        for row in rows:
            yield DailySpend.model_validate(row._mapping)

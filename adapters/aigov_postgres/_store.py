"""``PostgresStore``: aigov's state in PostgreSQL, through SQLAlchemy Core and psycopg 3.

The database enforces the directory rules itself (constraints and triggers of the migrations), so
this module only reads and writes; every refusal comes back as a PostgreSQL error, translated once
(``aigov_postgres._errors``). Transactions run at READ COMMITTED on a thread-safe connection pool.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import IsolationLevel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from aigov.audit import AuditEntry, AuditFilter, AuditRecord
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    everyone_group,
)
from aigov.exceptions import InvalidInputError, NotFoundError, StorageError
from aigov.ports import Store, UnitOfWork
from aigov.prices import ModelPrice, PriceSource, SeedResult, SeedRow
from aigov.resolution import BudgetPolicy, ResolutionFacts
from aigov.settings import GovernanceSettings
from aigov.spend import (
    BudgetAndSpend,
    DailySpend,
    HoldOutcome,
    HoldRequest,
    Reservation,
    ReservationState,
    SpendCounter,
    ThresholdCrossed,
    UsageRecord,
)
from aigov_postgres import schema as t
from aigov_postgres._errors import translate
from aigov_postgres._hot_path import HotPathStatements
from aigov_postgres._liveness import drop_hung_up_connections
from aigov_postgres._migrations import (
    advisory_lock_key,
    apply_migrations,
    check_schema_name,
    current_version,
    latest_version,
)
from aigov_postgres._seed import SeedStatement
from aigov_postgres._statement_pool import Statement, StatementPool

__all__ = ["PostgresStore", "normalize_url"]


def normalize_url(url: str | URL) -> URL:
    """``url`` for SQLAlchemy with the psycopg 3 driver (``postgresql://`` and libpq URIs too)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInputError(f"not a database URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidInputError(
        f"aigov_postgres needs a postgresql+psycopg:// URL, not {parsed.drivername}://"
    )


def _where(*conditions: tuple[ColumnElement[Any], object | None]) -> ColumnElement[bool]:
    """AND of ``column == value`` for each value that is not None."""
    return and_(true(), *(column == value for column, value in conditions if value is not None))


def _missing(resource: str, key: object, message: str) -> NotFoundError:
    return NotFoundError(message, resource=resource, key=key)


class _PostgresUnitOfWork(UnitOfWork):
    def __init__(
        self, connection: Connection, seed: SeedStatement, schema: str, hot: HotPathStatements
    ) -> None:
        self._c = connection
        self._seed = seed
        self._schema = schema
        self._hot = hot
        self._context: tuple[str, datetime] | None = None

    def _one_or_missing(self, statement: Any, resource: str, key: object, message: str) -> Row[Any]:
        row = self._c.execute(statement).first()
        if row is None:
            raise _missing(resource, key, message)
        return row

    # -- organizations ---------------------------------------------------------------------------

    def add_organization(self, organization: Organization) -> Group:
        self._c.execute(insert(t.organizations).values(organization.model_dump()))
        return everyone_group(organization)

    def update_organization(self, organization: Organization) -> None:
        values = organization.model_dump(include={"name", "is_default", "deleted"})
        self._one_or_missing(
            update(t.organizations)
            .where(t.organizations.c.id == organization.id)
            .values(values)
            .returning(t.organizations.c.id),
            "organization",
            organization.id,
            f"organization {organization.id} not found",
        )

    def delete_organization(self, organization_id: UUID) -> None:
        self._one_or_missing(
            delete(t.organizations)
            .where(t.organizations.c.id == organization_id)
            .returning(t.organizations.c.id),
            "organization",
            organization_id,
            f"organization {organization_id} not found",
        )

    def get_organization(self, organization_id: UUID) -> Organization | None:
        row = self._c.execute(
            select(t.organizations).where(t.organizations.c.id == organization_id)
        ).first()
        return None if row is None else Organization.model_validate(row._mapping)

    def list_organizations(self) -> Sequence[Organization]:
        rows = self._c.execute(select(t.organizations).order_by(t.organizations.c.id))
        return [Organization.model_validate(row._mapping) for row in rows]

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        self._c.execute(insert(t.users).values(user.model_dump()))

    def delete_user(self, user_id: UUID) -> None:
        self._one_or_missing(
            delete(t.users).where(t.users.c.id == user_id).returning(t.users.c.id),
            "user",
            user_id,
            f"user {user_id} not found",
        )

    def get_user(self, user_id: UUID) -> User | None:
        row = self._c.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return None if row is None else User.model_validate(row._mapping)

    def list_users(self) -> Sequence[User]:
        rows = self._c.execute(select(t.users).order_by(t.users.c.id))
        return [User.model_validate(row._mapping) for row in rows]

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(self, member: OrganizationMember) -> None:
        values = member.model_dump() | {"roles": list(member.roles)}
        self._c.execute(insert(t.organization_members).values(values))

    def _organization_member_key(self, user_id: UUID, organization_id: UUID) -> ColumnElement[bool]:
        return _where(
            (t.organization_members.c.user_id, user_id),
            (t.organization_members.c.organization_id, organization_id),
        )

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        row = self._one_or_missing(
            update(t.organization_members)
            .where(self._organization_member_key(user_id, organization_id))
            .values(roles=list(roles))
            .returning(*t.organization_members.c),
            "organization member",
            (user_id, organization_id),
            f"user {user_id} is not a member of organization {organization_id}",
        )
        return OrganizationMember.model_validate(row._mapping)

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        self._one_or_missing(
            delete(t.organization_members)
            .where(self._organization_member_key(user_id, organization_id))
            .returning(t.organization_members.c.user_id),
            "organization member",
            (user_id, organization_id),
            f"user {user_id} is not a member of organization {organization_id}",
        )

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        row = self._c.execute(
            select(t.organization_members).where(
                self._organization_member_key(user_id, organization_id)
            )
        ).first()
        return None if row is None else OrganizationMember.model_validate(row._mapping)

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        members = t.organization_members
        rows = self._c.execute(
            select(members)
            .where(
                _where((members.c.organization_id, organization_id), (members.c.user_id, user_id))
            )
            .order_by(members.c.organization_id, members.c.user_id)
        )
        return [OrganizationMember.model_validate(row._mapping) for row in rows]

    # -- groups ----------------------------------------------------------------------------------

    def add_group(self, group: Group) -> None:
        self._c.execute(insert(t.groups).values(group.model_dump()))

    def delete_group(self, group_id: UUID) -> None:
        self._one_or_missing(
            delete(t.groups).where(t.groups.c.id == group_id).returning(t.groups.c.id),
            "group",
            group_id,
            f"group {group_id} not found",
        )

    def get_group(self, group_id: UUID) -> Group | None:
        row = self._c.execute(select(t.groups).where(t.groups.c.id == group_id)).first()
        return None if row is None else Group.model_validate(row._mapping)

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        rows = self._c.execute(
            select(t.groups)
            .where(_where((t.groups.c.organization_id, organization_id)))
            .order_by(t.groups.c.id)
        )
        return [Group.model_validate(row._mapping) for row in rows]

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        row = self._c.execute(
            insert(t.group_members)
            .values(user_id=user_id, group_id=group_id)
            .returning(*t.group_members.c)
        ).one()
        return GroupMember.model_validate(row._mapping)

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        members = t.group_members
        self._one_or_missing(
            delete(members)
            .where(_where((members.c.user_id, user_id), (members.c.group_id, group_id)))
            .returning(members.c.user_id),
            "group member",
            (user_id, group_id),
            f"user {user_id} is not a direct member of group {group_id}",
        )

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        members = t.group_members
        rows = self._c.execute(
            select(members)
            .where(_where((members.c.group_id, group_id), (members.c.user_id, user_id)))
            .order_by(members.c.group_id, members.c.user_id)
        )
        return [GroupMember.model_validate(row._mapping) for row in rows]

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        view = t.group_members_expanded
        rows = self._c.execute(
            select(view.c.user_id, view.c.group_id)
            .where(_where((view.c.group_id, group_id), (view.c.user_id, user_id)))
            .order_by(view.c.group_id, view.c.user_id)
        )
        return [(row.user_id, row.group_id) for row in rows]

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        view = t.group_members_expanded
        return bool(
            self._c.scalar(
                select(
                    exists().where(_where((view.c.user_id, user_id), (view.c.group_id, group_id)))
                )
            )
        )

    # -- budgets and overrides -------------------------------------------------------------------

    def _upsert(self, table: Table, key: tuple[str, ...], values: dict[str, Any]) -> None:
        """Insert a row, or replace every column but the key and ``created_at``."""
        statement = pg_insert(table).values(values)
        replaced = [c for c in values if c not in (*key, "created_at")]
        self._c.execute(
            statement.on_conflict_do_update(
                index_elements=list(key), set_={c: statement.excluded[c] for c in replaced}
            )
        )

    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        budgets = t.group_ai_budgets
        row = self._c.execute(select(budgets).where(budgets.c.group_id == group_id)).first()
        return None if row is None else GroupAIBudget.model_validate(row._mapping)

    def list_group_budgets(self) -> Sequence[GroupAIBudget]:
        budgets = t.group_ai_budgets
        rows = self._c.execute(select(budgets).order_by(budgets.c.group_id))
        return [GroupAIBudget.model_validate(row._mapping) for row in rows]

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        self._upsert(t.group_ai_budgets, ("group_id",), budget.model_dump())

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        budgets = t.group_ai_budgets
        row = self._one_or_missing(
            delete(budgets).where(budgets.c.group_id == group_id).returning(*budgets.c),
            "group budget",
            group_id,
            f"group {group_id} has no budget",
        )
        return GroupAIBudget.model_validate(row._mapping)

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        overrides = t.user_ai_budget_overrides
        row = self._c.execute(select(overrides).where(overrides.c.user_id == user_id)).first()
        return None if row is None else UserAIBudgetOverride.model_validate(row._mapping)

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        overrides = t.user_ai_budget_overrides
        rows = self._c.execute(
            select(overrides)
            .where(_where((overrides.c.group_id, group_id)))
            .order_by(overrides.c.user_id)
        )
        return [UserAIBudgetOverride.model_validate(row._mapping) for row in rows]

    def put_override(self, override: UserAIBudgetOverride) -> None:
        self._upsert(t.user_ai_budget_overrides, ("user_id",), override.model_dump())

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        overrides = t.user_ai_budget_overrides
        row = self._one_or_missing(
            delete(overrides).where(overrides.c.user_id == user_id).returning(*overrides.c),
            "override",
            user_id,
            f"user {user_id} has no budget override",
        )
        return UserAIBudgetOverride.model_validate(row._mapping)

    def resolution_facts(self, user_id: UUID) -> ResolutionFacts | None:
        om, o, ov, g = t.organization_members, t.organizations, t.user_ai_budget_overrides, t.groups
        view, budgets = t.group_members_expanded, t.group_ai_budgets
        empty: ColumnElement[Any] = literal_column("'[]'::jsonb")
        memberships = (
            select(
                func.coalesce(
                    func.jsonb_agg(
                        func.jsonb_build_object(
                            "organization_id", om.c.organization_id,
                            "joined_at", om.c.created_at,
                            "deleted", o.c.deleted,
                            "is_default", o.c.is_default,
                        )
                    ),
                    empty,
                )
            )
            .select_from(om.join(o, o.c.id == om.c.organization_id))
            .where(om.c.user_id == user_id)
            .scalar_subquery()
        )  # fmt: skip
        group_budgets = (
            select(
                func.coalesce(
                    func.jsonb_agg(
                        func.jsonb_build_object(
                            "group_id", view.c.group_id,
                            "organization_id", view.c.organization_id,
                            "spend_limit_micros", budgets.c.spend_limit_micros,
                        )
                    ),
                    empty,
                )
            )
            .select_from(view.join(budgets, budgets.c.group_id == view.c.group_id))
            .where(view.c.user_id == user_id)
            .scalar_subquery()
        )  # fmt: skip
        override = (
            select(
                func.jsonb_build_object(
                    "group_id", ov.c.group_id,
                    "organization_id", g.c.organization_id,
                    "spend_limit_micros", ov.c.spend_limit_micros,
                )
            )
            .select_from(ov.join(g, g.c.id == ov.c.group_id))
            .where(ov.c.user_id == user_id)
            .scalar_subquery()
        )  # fmt: skip
        user_exists = exists().where(t.users.c.id == user_id)
        row = self._c.execute(select(user_exists, memberships, group_budgets, override)).one()
        if not row[0]:
            return None
        return ResolutionFacts(memberships=row[1], budgets=row[2], override=row[3])

    # -- spend -----------------------------------------------------------------------------------

    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        usage = t.usage_records
        row = self._c.execute(
            select(usage).where(
                _where((usage.c.user_id, user_id), (usage.c.idempotency_key, idempotency_key))
            )
        ).first()
        return None if row is None else UsageRecord.model_validate(row._mapping)

    def record_usage(self, record: UsageRecord) -> int:
        values = record.model_dump(exclude={"threshold_events"}) | {
            "unpriced_kinds": list(record.unpriced_kinds)
        }
        self._c.execute(insert(t.usage_records).values(values))
        group, cost = record.effective_group_id, record.cost_micros
        ledger = pg_insert(t.daily_spend).values(
            user_id=record.user_id,
            effective_group_id=group,
            organization_id=record.organization_id,
            day=record.day,
            spend_micros=cost,
        )
        self._c.execute(
            ledger.on_conflict_do_update(
                index_elements=["user_id", "effective_group_id", "day"],
                set_={"spend_micros": t.daily_spend.c.spend_micros + ledger.excluded.spend_micros},
            )
        )
        counter = pg_insert(t.spend_counters).values(
            user_id=record.user_id,
            group_id=group,
            period_start=record.period_start,
            spent_micros=cost,
            held_micros=0,
        )
        spent = self._c.execute(
            counter.on_conflict_do_update(
                index_elements=["user_id", "group_id", "period_start"],
                set_={
                    "spent_micros": t.spend_counters.c.spent_micros + counter.excluded.spent_micros
                },
            ).returning(t.spend_counters.c.spent_micros)
        ).scalar_one()
        return int(spent)

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        usage = t.usage_records
        row = self._c.execute(select(usage).where(usage.c.reservation_id == reservation_id)).first()
        return None if row is None else UsageRecord.model_validate(row._mapping)

    def _counter_key(self, reservation: Reservation) -> ColumnElement[bool]:
        counters = t.spend_counters
        return _where(
            (counters.c.user_id, reservation.user_id),
            (counters.c.group_id, reservation.group_id),
            (counters.c.period_start, reservation.period_start),
        )

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        holds = t.reservations
        row = self._c.execute(
            select(holds).where(holds.c.id == reservation_id).with_for_update()
        ).first()
        return None if row is None else Reservation.model_validate(row._mapping)

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        holds, counters = t.reservations, t.spend_counters
        was = self._c.execute(
            select(holds.c.state).where(holds.c.id == reservation.id).with_for_update()
        ).scalar_one()
        self._c.execute(update(holds).where(holds.c.id == reservation.id).values(state=state))
        if was == "held":
            self._c.execute(
                update(counters)
                .where(self._counter_key(reservation))
                .values(held_micros=counters.c.held_micros - reservation.amount_micros)
            )

    def budgets_and_spend(
        self, user_ids: Sequence[UUID], period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> dict[UUID, BudgetAndSpend]:
        """The hot path's query for each user, pipelined: one round trip for them all, and one
        more when some have no group (to tell users in no organization from unknown ones)."""
        driver = self._c.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        statement = self._hot.budget_and_spend[policy]
        with driver.pipeline():
            cursors = [
                psycopg.RawCursor(driver).execute(statement.text, (user, period_start, now))
                for user in user_ids
            ]
        found = {
            user: self._hot.budget_and_spend_of(cursor.fetchone())
            for user, cursor in zip(user_ids, cursors, strict=True)
        }
        groupless = [user for user, each in found.items() if each.effective.group_id is None]
        known = (
            set(self._c.scalars(select(t.users.c.id).where(t.users.c.id.in_(groupless))))
            if groupless
            else set()
        )
        return {
            user: each
            for user, each in found.items()
            if each.effective.group_id is not None or user in known
        }

    def spend_in_period(
        self, user_id: UUID, group_id: UUID, period_start: datetime, now: datetime
    ) -> tuple[int, int]:
        counters, holds = t.spend_counters, t.reservations
        live = (
            select(func.coalesce(func.sum(holds.c.amount_micros), 0))
            .where(
                _where(
                    (holds.c.user_id, user_id),
                    (holds.c.group_id, group_id),
                    (holds.c.period_start, period_start),
                    (holds.c.state, "held"),
                ),
                holds.c.expires_at > now,
            )
            .scalar_subquery()
        )
        spent = (
            select(counters.c.spent_micros)
            .where(
                _where(
                    (counters.c.user_id, user_id),
                    (counters.c.group_id, group_id),
                    (counters.c.period_start, period_start),
                )
            )
            .scalar_subquery()
        )
        row = self._c.execute(select(func.coalesce(spent, 0), live)).one()
        return int(row[0]), int(row[1])

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        if not events:
            return []
        table = t.budget_events
        kept = self._c.execute(
            pg_insert(table)
            .values([event.model_dump() | {"acknowledged": False} for event in events])
            .on_conflict_do_nothing(constraint="ai_budget_events_once")
            .returning(table.c.id)
        ).scalars()
        new = set(kept)
        return [event for event in events if event.id in new]

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        table = t.budget_events
        rows = self._c.execute(
            select(*(c for c in table.c if c.name != "acknowledged"))
            .where(table.c.acknowledged.is_(False))
            .order_by(table.c.at, table.c.id)
            .limit(limit)
        )
        return [ThresholdCrossed.model_validate(row._mapping) for row in rows]

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        table = t.budget_events
        acknowledged = self._c.execute(
            update(table)
            .where(table.c.id.in_(list(ids)), table.c.acknowledged.is_(False))
            .values(acknowledged=True)
            .returning(table.c.id)
        ).all()
        return len(acknowledged)

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        counters = t.spend_counters
        total = self._c.scalar(
            select(func.coalesce(func.sum(counters.c.spent_micros), 0)).where(
                _where((counters.c.group_id, group_id), (counters.c.period_start, period_start))
            )
        )
        return int(total or 0)

    def list_reservations(self) -> Sequence[Reservation]:
        holds = t.reservations
        rows = self._c.execute(select(holds).order_by(holds.c.created_at, holds.c.id))
        return [Reservation.model_validate(row._mapping) for row in rows]

    def list_usage(self, *, user_id: UUID | None = None) -> Sequence[UsageRecord]:
        usage = t.usage_records
        rows = self._c.execute(
            select(usage).where(_where((usage.c.user_id, user_id))).order_by(usage.c.at, usage.c.id)
        )
        return [UsageRecord.model_validate(row._mapping) for row in rows]

    def list_daily_spend(self) -> Sequence[DailySpend]:
        ledger = t.daily_spend
        rows = self._c.execute(
            select(ledger).order_by(ledger.c.user_id, ledger.c.effective_group_id, ledger.c.day)
        )
        return [DailySpend.model_validate(row._mapping) for row in rows]

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        ledger = t.daily_spend
        rows = self._c.execution_options(yield_per=1_000).execute(
            select(ledger)
            .where(ledger.c.organization_id == organization_id, ledger.c.day >= start)
            .where(ledger.c.day < end)
            .order_by(ledger.c.day, ledger.c.user_id, ledger.c.effective_group_id)
        )
        for row in rows:
            yield DailySpend.model_validate(row._mapping)

    def list_spend_counters(self) -> Sequence[SpendCounter]:
        counters = t.spend_counters
        rows = self._c.execute(
            select(counters).order_by(
                counters.c.user_id, counters.c.group_id, counters.c.period_start
            )
        )
        return [SpendCounter.model_validate(row._mapping) for row in rows]

    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        table = t.governance_settings
        self._c.execute(
            pg_insert(table)
            .values(singleton=True, settings=settings.model_dump(mode="json"))
            .on_conflict_do_nothing(index_elements=["singleton"])
        )
        stored = self._c.scalar(select(table.c.settings))
        return GovernanceSettings.model_validate(stored)

    # -- the audit log ---------------------------------------------------------------------------

    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        key = advisory_lock_key(f"{resource_type} {resource_id}", self._schema)
        self._c.execute(select(func.pg_advisory_xact_lock(key)))

    def set_audit_context(self, actor: str, at: datetime) -> None:
        self._context = (actor, at)
        self._c.execute(
            select(
                func.set_config("aigov.actor", actor, True),
                func.set_config("aigov.now", at.isoformat(), True),
            )
        )

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        row = self._c.execute(
            insert(t.audit_log).values(record.model_dump()).returning(*t.audit_log.c)
        ).one()
        return AuditEntry.model_validate(row._mapping)

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        log = t.audit_log
        rows = self._c.execute(
            select(log)
            .where(
                _where(
                    (log.c.resource_type, query.resource_type),
                    (log.c.resource_id, query.resource_id),
                    (log.c.actor, query.actor),
                ),
                true() if query.since is None else log.c.at >= query.since,
                true() if query.after is None else log.c.id > query.after,
            )
            .order_by(log.c.id)
            .limit(query.limit)
        )
        return [AuditEntry.model_validate(row._mapping) for row in rows]

    # -- prices ----------------------------------------------------------------------------------

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        driver = self._c.connection.driver_connection
        if driver is None:
            raise StorageError("the connection was closed")
        actor, at = self._context or ("system", now)
        return self._seed.apply(driver, rows, now, actor=actor, audit_at=at)

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        prices = t.model_prices
        rows = self._c.execute(
            select(prices)
            .where(
                _where(
                    (prices.c.provider, provider),
                    (prices.c.model, model),
                    (prices.c.source, source),
                )
            )
            .order_by(prices.c.provider, prices.c.model, prices.c.source)
        )
        return [ModelPrice.model_validate(row._mapping) for row in rows]

    def put_custom_price(self, price: ModelPrice) -> None:
        values = price.model_dump() | {"source": "custom"}
        self._upsert(t.model_prices, ("provider", "model", "source"), values)

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        prices = t.model_prices
        row = self._one_or_missing(
            delete(prices)
            .where(
                _where(
                    (prices.c.provider, provider),
                    (prices.c.model, model),
                    (prices.c.source, "custom"),
                )
            )
            .returning(*prices.c),
            "price",
            (provider, model),
            f"no custom price for {provider}/{model}",
        )
        return ModelPrice.model_validate(row._mapping)


def connection_pools(
    url: str | URL, *, pool_size: int = 5, max_overflow: int = 10, **engine_options: Any
) -> tuple[Engine, StatementPool]:
    """What ``PostgresStore.from_url`` connects with: SQLAlchemy's pool for units of work (LIFO,
    hung-up connections replaced without a ping) and a LIFO pool of its own for the hot path."""
    options: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}
    options |= {"pool_use_lifo": True} | engine_options
    engine = create_engine(normalize_url(url), **options)
    if not options.get("pool_pre_ping"):
        drop_hung_up_connections(engine)
    connect = options.get("creator") or functools.partial(
        psycopg.connect,
        engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
        **options.get("connect_args", {}),
    )
    statements = StatementPool(
        connect, size=pool_size + max_overflow, timeout=options.get("pool_timeout", 30.0)
    )
    return engine, statements


_Found = TypeVar("_Found", HoldOutcome, BudgetAndSpend)


class PostgresStore(Store):
    """A store in one schema of a PostgreSQL database (15 or newer). Safe to share between
    threads: each unit of work takes a pooled connection for the length of one transaction."""

    def __init__(
        self, engine: Engine, *, schema: str = "public", statements: StatementPool | None = None
    ) -> None:
        """``engine`` runs the units of work. ``statements``, when given, runs the hot path's
        single statements (``from_url`` makes one); without it they borrow ``engine``'s
        connections."""
        self._schema = check_schema_name(schema)
        self._pool_owner = engine
        self._statements = statements
        self._seed = SeedStatement(self._schema)
        self._engine = engine.execution_options(
            isolation_level="READ COMMITTED", schema_translate_map={None: self._schema}
        )
        self._hot = HotPathStatements(self._schema)

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        schema: str = "public",
        pool_size: int = 5,
        max_overflow: int = 10,
        **engine_options: Any,
    ) -> PostgresStore:
        """A store on the database at ``url`` (``postgresql+psycopg://…``; ``postgresql://`` and
        libpq URIs are accepted too). Connects lazily; an already migrated database needs no
        ``migrate()``. Two pools of ``pool_size`` (+ ``max_overflow``) connections each: one
        for units of work (SQLAlchemy's), one in autocommit for the hot path's single
        statements (``StatementPool``)."""
        engine, statements = connection_pools(
            url, pool_size=pool_size, max_overflow=max_overflow, **engine_options
        )
        return cls(engine, schema=schema, statements=statements)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def schema(self) -> str:
        return self._schema

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise translate(exc) from exc

    def migrate(self) -> list[int]:
        """Create or upgrade the schema to the latest version; return the versions applied (none
        when it is current). Safe to call from many processes at once."""
        with self._connection() as connection:
            return apply_migrations(connection, self._schema)

    def schema_version(self) -> int | None:
        """The schema's migration version, or None when it was never migrated."""
        with self._connection() as connection:
            return current_version(connection, self._schema)

    @staticmethod
    def latest_schema_version() -> int:
        return latest_version()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self._connection() as connection:
            yield _PostgresUnitOfWork(connection, self._seed, self._schema, self._hot)

    def _one_row(self, statement: Statement, parameters: Sequence[Any]) -> Any:
        """The row of one statement run on its own, as its own READ COMMITTED transaction: on
        the statement pool one round trip (autocommit; prepared on each connection at its
        first use there). On a bare engine's connections it is an explicit transaction at that
        level, whatever the server's default (BEGIN, the statement, COMMIT)."""
        try:
            if self._statements is not None:
                return self._statements.one_row(statement, parameters)
            pooled = self._pool_owner.raw_connection()
            try:
                driver = pooled.driver_connection
                assert isinstance(driver, psycopg.Connection)
                level = driver.isolation_level
                driver.isolation_level = IsolationLevel.READ_COMMITTED
                try:
                    with driver.transaction():
                        cursor = psycopg.RawCursor(driver).execute(statement.text, parameters)
                        return cursor.fetchone()
                finally:
                    if not driver.closed:
                        driver.isolation_level = level
            finally:
                pooled.close()
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise translate(exc) from exc

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        """One statement: resolve, expire, guard and hold (``_hot_path``)."""
        row = self._one_row(self._hot.reserve[policy], request)
        if row is not None and row[4] is None:  # refused: the counter as committed now
            where = (request.user_id, row[1], request.period_start)
            row = (*row[:4], *(self._one_row(self._hot.counter, where) or (0, 0)))
        return self._known(self._hot.hold_outcome(row, request), request.user_id)

    def budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        """One query: resolve, then the counter's spend and the live holds (``_hot_path``)."""
        row = self._one_row(self._hot.budget_and_spend[policy], (user_id, period_start, now))
        return self._known(self._hot.budget_and_spend_of(row), user_id)

    def _known(self, found: _Found, user_id: UUID) -> _Found | None:
        """``found``, or None when it has no group because the user is unknown."""
        if found.effective.group_id is not None:
            return found
        return found if self._one_row(self._hot.user_exists, (user_id,))[0] else None

    def close(self) -> None:
        """Close the pooled connections; a later unit of work opens new ones."""
        self._pool_owner.dispose()
        if self._statements is not None:
            self._statements.close()

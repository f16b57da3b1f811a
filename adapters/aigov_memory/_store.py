"""``MemoryStore``: the reference store, built from the core's rules and kept in process memory.

One lock serializes units of work, so concurrent callers see each transaction whole. Every write is
logged with the value it replaced; a unit of work that raises is undone from that log, so a failed
call leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from itertools import count
from typing import Any, Final, TypeVar
from uuid import UUID

from aigov.audit import (
    AuditEntry,
    AuditFilter,
    AuditRecord,
    ResourceType,
    change_record,
    seed_record,
)
from aigov.budgets import (
    GroupAIBudget,
    UserAIBudgetOverride,
    check_override_membership,
    orphaned_overrides,
)
from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    check_group_deletion,
    check_group_member,
    check_new_organization,
    everyone_group,
    group_memberships_lost,
)
from aigov.exceptions import ConflictError, NotFoundError
from aigov.money import check_micros
from aigov.ports import Store, UnitOfWork
from aigov.prices import ModelPrice, PriceSource, SeedResult, SeedRow, plan_seed, seed_result
from aigov.resolution import (
    BudgetFact,
    BudgetPolicy,
    MembershipFact,
    OverrideFact,
    ResolutionFacts,
)
from aigov.settings import GovernanceSettings
from aigov.spend import (
    DailySpend,
    HoldOutcome,
    HoldRequest,
    Reservation,
    ReservationState,
    SpendCounter,
    ThresholdCrossed,
    UsageRecord,
    fits,
)

__all__ = ["MemoryStore"]

K = TypeVar("K")
V = TypeVar("V")

_MISSING: Final = object()


class _Indexed(dict[K, V]):
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


class _Tables:
    """The stored rows, keyed as their primary keys are on Postgres."""

    def __init__(self) -> None:
        self.organizations: dict[UUID, Organization] = {}
        self.users: dict[UUID, User] = {}
        self.organization_members: _Indexed[tuple[UUID, UUID], OrganizationMember] = _Indexed(
            user=lambda key, _: key[1]
        )
        self.groups: dict[UUID, Group] = {}
        self.group_members: _Indexed[tuple[UUID, UUID], GroupMember] = _Indexed(
            user=lambda key, _: key[1], group=lambda key, _: key[0]
        )
        self.model_prices: dict[tuple[str, str, PriceSource], ModelPrice] = {}
        self.group_budgets: dict[UUID, GroupAIBudget] = {}
        self.overrides: dict[UUID, UserAIBudgetOverride] = {}
        self.audit: dict[int, AuditEntry] = {}
        self.audit_ids = count(1)  # like a sequence: not rolled back
        self.settings: dict[None, GovernanceSettings] = {}
        self.usage: _Indexed[UUID, UsageRecord] = _Indexed(
            reservation=lambda _, r: r.reservation_id
        )
        self.usage_keys: dict[tuple[UUID, str], UUID] = {}
        self.daily_spend: dict[tuple[UUID, UUID, date], tuple[UUID, int]] = {}
        self.counters: dict[tuple[UUID, UUID, datetime], tuple[int, int]] = {}
        self.reservations: _Indexed[UUID, Reservation] = _Indexed(
            counter=lambda _, r: (r.user_id, r.group_id, r.period_start)
        )
        self.budget_events: dict[UUID, tuple[ThresholdCrossed, bool]] = {}


class _MemoryUnitOfWork(UnitOfWork):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []
        self._context: tuple[str, datetime] | None = None

    # -- the write log ---------------------------------------------------------------------------

    def _put(self, table: dict[K, V], key: K, value: V) -> None:
        self._undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _pop(self, table: dict[K, V], key: K) -> None:
        self._undo.append((table, key, table[key]))
        del table[key]

    def rollback(self) -> None:
        for table, key, old in reversed(self._undo):
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old
        self._undo.clear()

    # -- organizations ---------------------------------------------------------------------------

    def _current_default(self) -> UUID | None:
        return next((o.id for o in self._t.organizations.values() if o.is_default), None)

    def add_organization(self, organization: Organization) -> Group:
        if organization.id in self._t.organizations:
            raise ConflictError(
                f"organization {organization.id} exists already", constraint="organizations_pkey"
            )
        if organization.id in self._t.groups:
            raise ConflictError(
                f"group {organization.id} exists already, so it cannot be the Everyone group "
                f"of organization {organization.id}",
                constraint="groups_pkey",
            )
        check_new_organization(organization, current_default=self._current_default())
        group = everyone_group(organization)
        self._put(self._t.organizations, organization.id, organization)
        self._put(self._t.groups, group.id, group)
        return group

    def update_organization(self, organization: Organization) -> None:
        self._organization(organization.id)
        check_new_organization(organization, current_default=self._current_default())
        self._put(self._t.organizations, organization.id, organization)

    def delete_organization(self, organization_id: UUID) -> None:
        self._organization(organization_id)
        for key, member in list(self._t.group_members.items()):
            if member.organization_id == organization_id:
                self._pop(self._t.group_members, key)
        for key in [k for k in self._t.organization_members if k[0] == organization_id]:
            self._pop(self._t.organization_members, key)
        for group_id in [
            g.id for g in self._t.groups.values() if g.organization_id == organization_id
        ]:
            self._pop(self._t.groups, group_id)
        self._pop(self._t.organizations, organization_id)
        self._cascade()

    def _organization(self, organization_id: UUID) -> Organization:
        organization = self._t.organizations.get(organization_id)
        if organization is None:
            raise NotFoundError(
                f"organization {organization_id} not found",
                resource="organization",
                key=organization_id,
            )
        return organization

    def get_organization(self, organization_id: UUID) -> Organization | None:
        return self._t.organizations.get(organization_id)

    def list_organizations(self) -> Sequence[Organization]:
        return sorted(self._t.organizations.values(), key=lambda o: o.id)

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        if user.id in self._t.users:
            raise ConflictError(f"user {user.id} exists already", constraint="users_pkey")
        self._put(self._t.users, user.id, user)

    def delete_user(self, user_id: UUID) -> None:
        self._user(user_id)
        for key in [k for k in self._t.group_members if k[1] == user_id]:
            self._pop(self._t.group_members, key)
        for key in [k for k in self._t.organization_members if k[1] == user_id]:
            self._pop(self._t.organization_members, key)
        self._pop(self._t.users, user_id)
        self._forget_spend(user_id)
        self._cascade()

    def _forget_spend(self, user_id: UUID) -> None:
        """A deleted user's spend goes with them (SPEC §2: everything of theirs)."""
        for record_id in [r.id for r in self._t.usage.values() if r.user_id == user_id]:
            self._pop(self._t.usage, record_id)
        for event_id in [k for k, (e, _) in self._t.budget_events.items() if e.user_id == user_id]:
            self._pop(self._t.budget_events, event_id)
        for reservation_id in [r.id for r in self._t.reservations.values() if r.user_id == user_id]:
            self._pop(self._t.reservations, reservation_id)
        tables: tuple[dict[Any, Any], ...] = (
            self._t.usage_keys,
            self._t.daily_spend,
            self._t.counters,
        )
        for table in tables:
            for key in [k for k in table if k[0] == user_id]:
                self._pop(table, key)

    def _user(self, user_id: UUID) -> User:
        user = self._t.users.get(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found", resource="user", key=user_id)
        return user

    def get_user(self, user_id: UUID) -> User | None:
        return self._t.users.get(user_id)

    def list_users(self) -> Sequence[User]:
        return sorted(self._t.users.values(), key=lambda u: u.id)

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(self, member: OrganizationMember) -> None:
        self._user(member.user_id)
        self._organization(member.organization_id)
        key = (member.organization_id, member.user_id)
        if key in self._t.organization_members:
            raise ConflictError(
                f"user {member.user_id} is a member of organization {member.organization_id} "
                "already",
                constraint="organization_members_pkey",
            )
        self._put(self._t.organization_members, key, member)

    def _organization_member(self, user_id: UUID, organization_id: UUID) -> OrganizationMember:
        member = self._t.organization_members.get((organization_id, user_id))
        if member is None:
            raise NotFoundError(
                f"user {user_id} is not a member of organization {organization_id}",
                resource="organization member",
                key=(user_id, organization_id),
            )
        return member

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        member = self._organization_member(user_id, organization_id)
        updated = member.model_copy(update={"roles": roles})
        self._put(self._t.organization_members, (organization_id, user_id), updated)
        return updated

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        self._organization_member(user_id, organization_id)
        for lost in group_memberships_lost(
            user_id, organization_id, list(self._t.group_members.values())
        ):
            self._pop(self._t.group_members, (lost.group_id, lost.user_id))
        self._pop(self._t.organization_members, (organization_id, user_id))
        self._cascade()

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        return self._t.organization_members.get((organization_id, user_id))

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        return [
            member
            for (org, user), member in sorted(self._t.organization_members.items())
            if organization_id in (None, org) and user_id in (None, user)
        ]

    # -- groups ----------------------------------------------------------------------------------

    def add_group(self, group: Group) -> None:
        if group.id in self._t.groups:
            raise ConflictError(f"group {group.id} exists already", constraint="groups_pkey")
        if any(
            g.organization_id == group.organization_id and g.name == group.name
            for g in self._t.groups.values()
        ):
            raise ConflictError(
                f"organization {group.organization_id} has a group named {group.name!r} already",
                constraint="groups_organization_id_name_key",
            )
        self._organization(group.organization_id)
        self._put(self._t.groups, group.id, group)

    def delete_group(self, group_id: UUID) -> None:
        check_group_deletion(self._group(group_id))
        for key in [k for k in self._t.group_members if k[0] == group_id]:
            self._pop(self._t.group_members, key)
        self._pop(self._t.groups, group_id)
        self._cascade()

    def _group(self, group_id: UUID) -> Group:
        group = self._t.groups.get(group_id)
        if group is None:
            raise NotFoundError(f"group {group_id} not found", resource="group", key=group_id)
        return group

    def get_group(self, group_id: UUID) -> Group | None:
        return self._t.groups.get(group_id)

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        return [
            group
            for _, group in sorted(self._t.groups.items())
            if organization_id in (None, group.organization_id)
        ]

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        group = self._group(group_id)
        member = check_group_member(
            group,
            user_id,
            user_exists=user_id in self._t.users,
            is_organization_member=(group.organization_id, user_id) in self._t.organization_members,
        )
        if (group_id, user_id) in self._t.group_members:
            raise ConflictError(
                f"user {user_id} is a member of group {group_id} already",
                constraint="group_members_pkey",
            )
        self._put(self._t.group_members, (group_id, user_id), member)
        return member

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        if (group_id, user_id) not in self._t.group_members:
            raise NotFoundError(
                f"user {user_id} is not a direct member of group {group_id}",
                resource="group member",
                key=(user_id, group_id),
            )
        self._pop(self._t.group_members, (group_id, user_id))
        self._cascade()

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        return [
            member
            for (group, user), member in sorted(self._t.group_members.items())
            if group_id in (None, group) and user_id in (None, user)
        ]

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        groups, organizations = self._t.group_members, self._t.organization_members
        if user_id is not None:
            pairs = groups.where("user", user_id) + organizations.where("user", user_id)
        elif group_id is not None:
            everyone = [(org, user) for org, user in organizations if org == group_id]
            pairs = groups.where("group", group_id) + everyone
        else:
            pairs = [*groups, *organizations]
        return [
            (user, group)
            for group, user in sorted(pairs)
            if group_id in (None, group) and user_id in (None, user)
        ]

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        return (group_id, user_id) in self._t.group_members or (
            group_id,
            user_id,
        ) in self._t.organization_members

    def _cascade(self) -> None:
        """What a removal takes with it, audited as cascade deletes: overrides whose user left
        their group (SPEC §5.3), and budgets of deleted groups."""
        for lost in orphaned_overrides(list(self._t.overrides.values()), self.is_group_member):
            self._pop(self._t.overrides, lost.user_id)
            self._audit_cascade("user_budget_override", str(lost.user_id), lost)
        for group_id in [g for g in self._t.group_budgets if g not in self._t.groups]:
            budget = self._t.group_budgets[group_id]
            self._pop(self._t.group_budgets, group_id)
            self._audit_cascade("group_budget", str(group_id), budget)

    def _audit_cascade(
        self,
        resource_type: ResourceType,
        resource_id: str,
        before: GroupAIBudget | UserAIBudgetOverride,
    ) -> None:
        actor, at = self._audit_context()
        self.append_audit(
            change_record(
                at=at,
                actor=actor,
                resource_type=resource_type,
                resource_id=resource_id,
                before=before,
                after=None,
                cascade=True,
            )
        )

    # -- budgets and overrides -------------------------------------------------------------------

    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        return self._t.group_budgets.get(group_id)

    def list_group_budgets(self) -> Sequence[GroupAIBudget]:
        return [budget for _, budget in sorted(self._t.group_budgets.items())]

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        self._group(budget.group_id)
        self._put(self._t.group_budgets, budget.group_id, budget)

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        budget = self._t.group_budgets.get(group_id)
        if budget is None:
            raise NotFoundError(
                f"group {group_id} has no budget", resource="group budget", key=group_id
            )
        self._pop(self._t.group_budgets, group_id)
        return budget

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        return self._t.overrides.get(user_id)

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        return [
            override
            for _, override in sorted(self._t.overrides.items())
            if group_id in (None, override.group_id)
        ]

    def put_override(self, override: UserAIBudgetOverride) -> None:
        self._user(override.user_id)
        self._group(override.group_id)
        check_override_membership(
            override, is_member=self.is_group_member(override.user_id, override.group_id)
        )
        self._put(self._t.overrides, override.user_id, override)

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        override = self._t.overrides.get(user_id)
        if override is None:
            raise NotFoundError(
                f"user {user_id} has no budget override", resource="override", key=user_id
            )
        self._pop(self._t.overrides, user_id)
        return override

    def resolution_facts(self, user_id: UUID) -> ResolutionFacts | None:
        if user_id not in self._t.users:
            return None
        members = self._t.organization_members
        memberships = [members[key] for key in members.where("user", user_id)]
        override = self._t.overrides.get(user_id)
        return ResolutionFacts(
            memberships=tuple(
                MembershipFact(
                    organization_id=m.organization_id,
                    joined_at=m.created_at,
                    deleted=self._t.organizations[m.organization_id].deleted,
                    is_default=self._t.organizations[m.organization_id].is_default,
                )
                for m in memberships
            ),
            budgets=tuple(
                BudgetFact(
                    group_id=group_id,
                    organization_id=self._t.groups[group_id].organization_id,
                    spend_limit_micros=self._t.group_budgets[group_id].spend_limit_micros,
                )
                for _, group_id in self.expanded_memberships(user_id=user_id)
                if group_id in self._t.group_budgets
            ),
            override=None
            if override is None
            else OverrideFact(
                group_id=override.group_id,
                organization_id=self._t.groups[override.group_id].organization_id,
                spend_limit_micros=override.spend_limit_micros,
            ),
        )

    # -- spend -----------------------------------------------------------------------------------

    def find_usage(self, user_id: UUID, idempotency_key: str) -> UsageRecord | None:
        record_id = self._t.usage_keys.get((user_id, idempotency_key))
        return None if record_id is None else self._t.usage[record_id]

    def record_usage(self, record: UsageRecord) -> int:
        self._user(record.user_id)
        if record.idempotency_key is not None:
            key = (record.user_id, record.idempotency_key)
            if key in self._t.usage_keys:
                raise ConflictError(
                    f"user {record.user_id} has a usage under key {record.idempotency_key!r}",
                    constraint="ai_usage_records_user_id_idempotency_key_key",
                )
            self._put(self._t.usage_keys, key, record.id)
        if record.id in self._t.usage:
            raise ConflictError(
                f"usage {record.id} exists already", constraint="ai_usage_records_pkey"
            )
        group = record.effective_group_id
        day_key = (record.user_id, group, record.day)
        _, day_before = self._t.daily_spend.get(day_key, (record.organization_id, 0))
        day_total = day_before + record.cost_micros
        counter_key = (record.user_id, group, record.period_start)
        spent, held = self._t.counters.get(counter_key, (0, 0))
        spent = check_micros(spent + record.cost_micros, "the period's spend")
        self._put(
            self._t.daily_spend,
            day_key,
            (record.organization_id, check_micros(day_total, "the day's spend")),
        )
        self._put(self._t.counters, counter_key, (spent, held))
        self._put(self._t.usage, record.id, record.model_copy(update={"threshold_events": ()}))
        return spent

    def find_usage_of_reservation(self, reservation_id: UUID) -> UsageRecord | None:
        found = self._t.usage.where("reservation", reservation_id)
        return self._t.usage[found[0]] if found else None

    def _counter(self, key: tuple[UUID, UUID, datetime]) -> SpendCounter:
        spent, held = self._t.counters.get(key, (0, 0))
        return SpendCounter(
            user_id=key[0],
            group_id=key[1],
            period_start=key[2],
            spent_micros=spent,
            held_micros=held,
        )

    def _holds_of(self, counter: tuple[UUID, UUID, datetime]) -> list[Reservation]:
        holds = self._t.reservations
        return [holds[key] for key in holds.where("counter", counter)]

    def hold_if_fits(
        self, reservation: Reservation, limit: int | None, now: datetime
    ) -> tuple[bool, SpendCounter]:
        """The enforcement step of ``MemoryStore.reserve_if_fits`` (SPEC §8.3)."""
        key = (reservation.user_id, reservation.group_id, reservation.period_start)
        spent, held = self._t.counters.get(key, (0, 0))
        for stale in [r for r in self._holds_of(key) if r.state == "held" and r.expires_at <= now]:
            self._put(self._t.reservations, stale.id, stale.model_copy(update={"state": "expired"}))
            held -= stale.amount_micros
        granted = fits(limit, spent, held, reservation.amount_micros)
        if granted:
            held = check_micros(held + reservation.amount_micros, "the period's holds")
            self._put(self._t.reservations, reservation.id, reservation)
        if granted or key in self._t.counters:
            self._put(self._t.counters, key, (spent, held))
        return granted, self._counter(key)

    def lock_reservation(self, reservation_id: UUID) -> Reservation | None:
        return self._t.reservations.get(reservation_id)

    def end_reservation(self, reservation: Reservation, state: ReservationState) -> None:
        current = self._t.reservations[reservation.id]
        if current.state == "held":
            key = (current.user_id, current.group_id, current.period_start)
            spent, held = self._t.counters[key]
            self._put(self._t.counters, key, (spent, held - current.amount_micros))
        self._put(self._t.reservations, current.id, current.model_copy(update={"state": state}))

    def spend_in_period(
        self, user_id: UUID, group_id: UUID, period_start: datetime, now: datetime
    ) -> tuple[int, int]:
        spent, _ = self._t.counters.get((user_id, group_id, period_start), (0, 0))
        held = sum(
            r.amount_micros
            for r in self._holds_of((user_id, group_id, period_start))
            if r.state == "held" and r.expires_at > now
        )
        return spent, held

    def add_budget_events(self, events: Sequence[ThresholdCrossed]) -> list[ThresholdCrossed]:
        kept = {
            (e.user_id, e.group_id, e.period_start, e.percent)
            for e, _ in self._t.budget_events.values()
        }
        new = [e for e in events if (e.user_id, e.group_id, e.period_start, e.percent) not in kept]
        for event in new:
            self._put(self._t.budget_events, event.id, (event, False))
        return new

    def pending_budget_events(self, limit: int) -> Sequence[ThresholdCrossed]:
        pending = [e for e, acknowledged in self._t.budget_events.values() if not acknowledged]
        return sorted(pending, key=lambda e: (e.at, e.id))[:limit]

    def ack_budget_events(self, ids: Sequence[UUID]) -> int:
        acknowledged = 0
        for event_id in set(ids):
            found = self._t.budget_events.get(event_id)
            if found is not None and not found[1]:
                self._put(self._t.budget_events, event_id, (found[0], True))
                acknowledged += 1
        return acknowledged

    def group_spend_in_period(self, group_id: UUID, period_start: datetime) -> int:
        return sum(
            spent
            for (_, group, start), (spent, _) in self._t.counters.items()
            if (group, start) == (group_id, period_start)
        )

    def list_reservations(self) -> Sequence[Reservation]:
        return sorted(self._t.reservations.values(), key=lambda r: (r.created_at, r.id))

    def list_usage(self, *, user_id: UUID | None = None) -> Sequence[UsageRecord]:
        records = [r for r in self._t.usage.values() if user_id in (None, r.user_id)]
        return sorted(records, key=lambda r: (r.at, r.id))

    def list_daily_spend(self) -> Sequence[DailySpend]:
        return [
            DailySpend(
                user_id=user,
                effective_group_id=group,
                organization_id=organization,
                day=day,
                spend_micros=amount,
            )
            for (user, group, day), (organization, amount) in sorted(self._t.daily_spend.items())
        ]

    def iter_daily_spend(
        self, organization_id: UUID, start: date, end: date
    ) -> Iterator[DailySpend]:
        rows = (
            row
            for row in self.list_daily_spend()
            if row.organization_id == organization_id and start <= row.day < end
        )
        yield from sorted(rows, key=lambda row: (row.day, row.user_id, row.effective_group_id))

    def list_spend_counters(self) -> Sequence[SpendCounter]:
        return [
            SpendCounter(
                user_id=user,
                group_id=group,
                period_start=start,
                spent_micros=spent,
                held_micros=held,
            )
            for (user, group, start), (spent, held) in sorted(self._t.counters.items())
        ]

    def ensure_settings(self, settings: GovernanceSettings) -> GovernanceSettings:
        if None not in self._t.settings:
            self._put(self._t.settings, None, settings)
        return self._t.settings[None]

    # -- the audit log ---------------------------------------------------------------------------

    def lock_resource(self, resource_type: str, resource_id: str) -> None:
        """Units of work already run one at a time here."""

    def set_audit_context(self, actor: str, at: datetime) -> None:
        self._context = (actor, at)

    def _audit_context(self) -> tuple[str, datetime]:
        return self._context or ("system", datetime.now(UTC))

    def append_audit(self, record: AuditRecord) -> AuditEntry:
        entry = AuditEntry(id=next(self._t.audit_ids), **record.model_dump())
        self._put(self._t.audit, entry.id, entry)
        return entry

    def list_audit(self, query: AuditFilter) -> Sequence[AuditEntry]:
        found = [
            entry
            for _, entry in sorted(self._t.audit.items())
            if query.resource_type in (None, entry.resource_type)
            and query.resource_id in (None, entry.resource_id)
            and query.actor in (None, entry.actor)
            and (query.since is None or entry.at >= query.since)
            and (query.after is None or entry.id > query.after)
        ]
        return found[: query.limit]

    # -- prices ----------------------------------------------------------------------------------

    def apply_seed(self, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
        pricebook = {
            price.key: price
            for price in self._t.model_prices.values()
            if price.source == "pricebook"
        }
        plan = plan_seed(rows, pricebook)
        for row in plan.insert:
            self._put_price(row, "pricebook", created_at=now, updated_at=now)
        for row in plan.update:
            self._put_price(
                row, "pricebook", created_at=pricebook[row.key].created_at, updated_at=now
            )
        result = seed_result(plan)
        if plan.insert or plan.update:
            actor, at = self._audit_context()
            self.append_audit(seed_record(at=at, actor=actor, result=result))
        return result

    def _put_price(
        self, row: SeedRow, source: PriceSource, *, created_at: datetime, updated_at: datetime
    ) -> None:
        price = ModelPrice(
            provider=row.provider,
            model=row.model,
            source=source,
            created_at=created_at,
            updated_at=updated_at,
            **row.prices().model_dump(),
        )
        self._put(self._t.model_prices, (row.provider, row.model, source), price)

    def list_model_prices(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        source: PriceSource | None = None,
    ) -> Sequence[ModelPrice]:
        return [
            price
            for key, price in sorted(self._t.model_prices.items())
            if provider in (None, key[0]) and model in (None, key[1]) and source in (None, key[2])
        ]

    def put_custom_price(self, price: ModelPrice) -> None:
        self._put(self._t.model_prices, (price.provider, price.model, "custom"), price)

    def delete_custom_price(self, provider: str, model: str) -> ModelPrice:
        key: tuple[str, str, PriceSource] = (provider, model, "custom")
        price = self._t.model_prices.get(key)
        if price is None:
            raise NotFoundError(
                f"no custom price for {provider}/{model}", resource="price", key=(provider, model)
            )
        self._pop(self._t.model_prices, key)
        return price


class MemoryStore(Store):
    """A complete, thread-safe store in process memory: the reference every other store is
    checked against, and a supported store for tests and single-process use."""

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self._lock:
            uow = _MemoryUnitOfWork(self._tables)
            try:
                yield uow
            except BaseException:
                uow.rollback()
                raise

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        with self.transaction() as uow:
            assert isinstance(uow, _MemoryUnitOfWork)
            effective = uow.resolve_budget(request.user_id, policy)
            if effective is None:
                return None
            if effective.group_id is None:
                return HoldOutcome(
                    effective=effective, reservation=None, spent_micros=0, held_micros=0
                )
            reservation = request.on(effective.group_id)
            granted, counter = uow.hold_if_fits(
                reservation, effective.spend_limit_micros, request.created_at
            )
            return HoldOutcome(
                effective=effective,
                reservation=reservation if granted else None,
                spent_micros=counter.spent_micros,
                held_micros=counter.held_micros,
            )

    def close(self) -> None:
        """Nothing to release; present so every store closes the same way."""

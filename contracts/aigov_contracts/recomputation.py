"""SPEC §9's reports recomputed by brute force from what a store holds (its ``snapshot()``): the
usage records, the reservations and the directory, with none of the store's counters, ledgers or
report queries.

The equivalence machine compares every report a store gives with these, so that a report can be
wrong in neither store even when both stores agree with each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from uuid import UUID

from aigov.periods import Period, period_window
from aigov.ports import StoreSnapshot
from aigov.resolution import (
    BudgetFact,
    BudgetPolicy,
    EffectiveBudget,
    MembershipFact,
    OverrideFact,
    ResolutionFacts,
    resolve,
)
from aigov.spend import GroupSummary, MemberSpend, SpendStatus

__all__ = [
    "expanded_memberships",
    "expected_export",
    "expected_group_summary",
    "expected_members_report",
    "expected_spend_status",
]


def expanded_memberships(snapshot: StoreSnapshot) -> list[tuple[UUID, UUID]]:
    """SPEC §2's expanded memberships ``(user_id, group_id)``, from the directory alone: the
    direct members of each group, and each organization member in its organization's Everyone
    group (whose id is the organization's); ordered by ``(group_id, user_id)`` as
    ``expanded_memberships`` lists them."""
    pairs = {(m.group_id, m.user_id) for m in snapshot.group_members} | {
        (m.organization_id, m.user_id) for m in snapshot.organization_members
    }
    return [(user, group) for group, user in sorted(pairs)]


def _effective(snapshot: StoreSnapshot, user: UUID, policy: BudgetPolicy) -> EffectiveBudget:
    organizations = {o.id: o for o in snapshot.organizations}
    groups = {g.id: g for g in snapshot.groups}
    budgets = {b.group_id: b for b in snapshot.group_budgets}
    override = next((o for o in snapshot.overrides if o.user_id == user), None)
    return resolve(
        ResolutionFacts(
            memberships=tuple(
                MembershipFact(
                    organization_id=m.organization_id,
                    joined_at=m.created_at,
                    deleted=organizations[m.organization_id].deleted,
                    is_default=organizations[m.organization_id].is_default,
                )
                for m in snapshot.organization_members
                if m.user_id == user
            ),
            budgets=tuple(
                BudgetFact(
                    group_id=group,
                    organization_id=groups[group].organization_id,
                    spend_limit_micros=budgets[group].spend_limit_micros,
                )
                for member, group in expanded_memberships(snapshot)
                if member == user and group in budgets
            ),
            override=None
            if override is None
            else OverrideFact(
                group_id=override.group_id,
                organization_id=groups[override.group_id].organization_id,
                spend_limit_micros=override.spend_limit_micros,
            ),
        ),
        policy,
    )


def _spent(
    snapshot: StoreSnapshot, period_start: datetime, *, user: UUID | None, group: UUID
) -> int:
    """Σ cost of the usage records of the period attributed to ``group`` (by ``user``)."""
    return sum(
        r.cost_micros
        for r in snapshot.usage
        if r.effective_group_id == group
        and r.period_start == period_start
        and (user is None or r.user_id == user)
    )


def expected_spend_status(
    snapshot: StoreSnapshot, user: UUID, *, policy: BudgetPolicy, period: Period, now: datetime
) -> SpendStatus:
    effective = _effective(snapshot, user, policy)
    window = period_window(now, period)
    group = effective.group_id
    spent = 0 if group is None else _spent(snapshot, window.start, user=user, group=group)
    held = sum(
        h.amount_micros
        for h in snapshot.reservations
        if (h.user_id, h.group_id, h.period_start) == (user, group, window.start)
        and h.state == "held"
        and h.expires_at > now
    )
    limit = effective.spend_limit_micros
    return SpendStatus(
        user_id=user,
        spend_limit_micros=limit,
        source=effective.source,
        group_id=group,
        period_start=window.start,
        period_end=window.end,
        spent_micros=spent,
        held_micros=held,
        remaining_micros=None if limit is None else max(0, limit - spent - held),
    )


def expected_group_summary(
    snapshot: StoreSnapshot, organization: UUID, *, period: Period, now: datetime
) -> list[GroupSummary]:
    window = period_window(now, period)
    budgets = {b.group_id: b.spend_limit_micros for b in snapshot.group_budgets}
    overridden = {o.user_id for o in snapshot.overrides}
    rows = []
    for group in sorted(
        (g for g in snapshot.groups if g.organization_id == organization), key=lambda g: g.id
    ):
        members = [user for user, g in expanded_memberships(snapshot) if g == group.id]
        overrides = [o.spend_limit_micros for o in snapshot.overrides if o.group_id == group.id]
        per_member = budgets.get(group.id)
        rows.append(
            GroupSummary(
                group_id=group.id,
                name=group.name,
                per_member_limit_micros=per_member,
                member_count=len(members),
                override_count=len(overrides),
                total_limit_micros=None
                if per_member is None
                else per_member * sum(1 for u in members if u not in overridden) + sum(overrides),
                spent_micros=_spent(snapshot, window.start, user=None, group=group.id),
            )
        )
    return rows


def expected_members_report(
    snapshot: StoreSnapshot,
    group: UUID,
    *,
    policy: BudgetPolicy,
    period: Period,
    now: datetime,
    over_budget_only: bool,
) -> list[MemberSpend]:
    window = period_window(now, period)
    rows = []
    for user in sorted(u for u, g in expanded_memberships(snapshot) if g == group):
        effective = _effective(snapshot, user, policy)
        target, limit = effective.group_id, effective.spend_limit_micros
        spent = 0 if target is None else _spent(snapshot, window.start, user=user, group=target)
        row = MemberSpend(
            user_id=user,
            spend_limit_micros=limit,
            limit_source=effective.source,
            effective_group_id=target,
            spent_micros=spent,
            remaining_micros=None if limit is None else max(0, limit - spent),
            over_budget=limit is not None and spent > limit,
        )
        if row.over_budget or not over_budget_only:
            rows.append(row)
    return rows


def expected_export(
    snapshot: StoreSnapshot, organization: UUID, start: date, end: date
) -> Iterator[tuple[str, str, str, int]]:
    """The export's rows ``(user_id, group_id, day, spend_micros)`` in its order, summed from the
    usage records of the organization's days in ``[start, end)``."""
    days: defaultdict[tuple[date, str, str], int] = defaultdict(int)
    for record in snapshot.usage:
        if record.organization_id == organization and start <= record.day < end:
            days[record.day, str(record.user_id), str(record.effective_group_id)] += (
                record.cost_micros
            )
    for (day, user, group), spend in sorted(days.items()):
        yield user, group, day.isoformat(), spend

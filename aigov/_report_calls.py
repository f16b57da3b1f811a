"""Reporting calls of ``Governance`` (SPEC §9): group summaries and group-member reports for the
current period, authorized as "read a group's spend reports", sorted and paged by keyset."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Sequence
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from aigov._service import (
    Call,
    Service,
    _authorize,
    _check_actor,
    _found,
    _optional_uuid,
    _page_size,
)
from aigov._validation import as_uuid
from aigov.actor import Actor
from aigov.authorization import Need
from aigov.directory import Group
from aigov.exceptions import InvalidInputError
from aigov.ports import UnitOfWork
from aigov.spend import BudgetAndSpend, GroupSummary, MemberSpend

__all__ = ["ExportFormat", "ReportCalls"]

MAX_GROUPS = 100

ExportFormat = Literal["csv", "jsonl"]


def _ids(ids: object, name: str) -> list[UUID]:
    """A collection of at most ``MAX_GROUPS`` distinct ids from the caller, sorted."""
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise InvalidInputError(f"{name} must be a collection of ids")
    chosen = sorted({as_uuid(each, name) for each in ids})
    if len(chosen) > MAX_GROUPS:
        raise InvalidInputError(f"at most {MAX_GROUPS} {name} per call, not {len(chosen)}")
    return chosen


class ReportCalls(Service):
    def group_summary(
        self,
        actor: Actor,
        organization_id: UUID | str,
        *,
        group_ids: Iterable[UUID | str] | None = None,
        after: UUID | str | None = None,
        limit: int = MAX_GROUPS,
    ) -> Call[Sequence[GroupSummary]]:
        """Up to ``limit`` (at most 100) groups of one organization, by group id after ``after``
        (or the ``group_ids`` given, at most 100): per-member limit, member count, override
        count, total limit (per-member limit * members without an override + the limits of the
        overrides attributed to the group; None without a budget) and the spend attributed to
        the group this period."""
        yield from self._require_feature()
        organization = as_uuid(organization_id, "organization_id")
        count = _page_size(limit, at_most=MAX_GROUPS)
        chosen = None if group_ids is None else _ids(group_ids, "group_ids")
        start = _optional_uuid(after, "after")
        _check_actor(actor)
        window = self._period_of(self._now())

        def work(uow: UnitOfWork) -> list[GroupSummary]:
            # The organization's reporters are its groups' (its id is its Everyone group's):
            # rights come first, so an outsider learns nothing of what it holds.
            _authorize(
                uow, actor, "read the spend reports of", Need("read_group_spend", organization)
            )
            _found(uow.directory.get_organization(organization), "organization", organization)
            in_organization = {
                g.id: g for g in uow.directory.list_groups(organization_id=organization)
            }
            for requested in chosen if chosen is not None else ():
                _found(in_organization.get(requested), "group", requested)
            candidates = chosen if chosen is not None else sorted(in_organization)
            ids = [g for g in candidates if start is None or g > start]
            return _summaries(uow, [in_organization[g] for g in ids[:count]], window.start)

        return (yield from self._run(work))

    def group_summary_of(self, actor: Actor, group_id: UUID | str) -> Call[GroupSummary]:
        """One group's line of ``group_summary``: its budget, members, overrides and spend this
        period. Authorized before anything is read, so a group the actor may not read is
        NotFoundError, as one that does not exist."""
        yield from self._require_feature()
        group = as_uuid(group_id, "group_id")
        _check_actor(actor)
        window = self._period_of(self._now())

        def work(uow: UnitOfWork) -> GroupSummary:
            _authorize(uow, actor, "read the spend reports of", Need("read_group_spend", group))
            (summary,) = _summaries(
                uow, [_found(uow.directory.get_group(group), "group", group)], window.start
            )
            return summary

        return (yield from self._run(work))

    def group_members_report(
        self,
        actor: Actor,
        group_id: UUID | str,
        *,
        over_budget_only: bool = False,
        user_ids: Iterable[UUID | str] | None = None,
        after: UUID | str | None = None,
        limit: int = MAX_GROUPS,
    ) -> Call[Sequence[MemberSpend]]:
        """The group's (expanded) members by user id after ``after``, at most ``limit`` (100):
        each member's own effective limit and its source, the group their spend goes to (which
        may be another), what they spent this period there, what remains, and whether they are
        over budget; ``over_budget_only`` keeps those, ``user_ids`` (at most 100) the members
        among those users."""
        yield from self._require_feature()
        group = as_uuid(group_id, "group_id")
        if not isinstance(over_budget_only, bool):
            raise InvalidInputError(f"over_budget_only must be a bool, not {over_budget_only!r}")
        wanted = None if user_ids is None else set(_ids(user_ids, "user_ids"))
        start = _optional_uuid(after, "after")
        count = _page_size(limit, at_most=MAX_GROUPS)
        _check_actor(actor)
        now = self._now()
        window = self._period_of(now)
        policy = self._settings.budget_policy

        def work(uow: UnitOfWork) -> list[MemberSpend]:
            _authorize(uow, actor, "read the spend reports of", Need("read_group_spend", group))
            _found(uow.directory.get_group(group), "group", group)
            members = [
                user
                for user, _ in uow.directory.expanded_memberships(group_id=group)
                if (start is None or user > start) and (wanted is None or user in wanted)
            ]
            rows: list[MemberSpend] = []
            for first in range(0, len(members), MEMBERS_AT_ONCE):
                chunk = members[first : first + MEMBERS_AT_ONCE]
                found = uow.spend.budgets_and_spend(chunk, window.start, now, policy)
                for user in chunk:
                    row = _member_spend(user, _found(found.get(user), "user", user))
                    if row.over_budget or not over_budget_only:
                        rows.append(row)
                        if len(rows) == count:
                            return rows
            return rows

        return (yield from self._run(work))

    def export_organization_spend(
        self,
        actor: Actor,
        organization_id: UUID | str,
        *,
        start: date,
        end: date,
        format: ExportFormat = "csv",
    ) -> Call[Generator[str]]:
        """The organization's daily spend for days in ``[start, end)`` (SPEC §9), as RFC 4180
        CSV with the header ``user_id,group_id,day,spend_micros`` or as JSON lines, ordered by
        day, user and group, read a few rows at a time: constant memory whatever the range.
        Needs owner or auditor, or organization-admin or -auditor of that organization. Input
        and rights are checked at once; the rows stream as the iterator is consumed (closing
        it ends the read)."""
        yield from self._require_feature()
        organization = as_uuid(organization_id, "organization_id")
        if (
            not (isinstance(start, date) and isinstance(end, date))
            or isinstance(start, datetime)
            or isinstance(end, datetime)
        ):
            raise InvalidInputError("start and end must be dates (days in UTC)")
        if end < start:
            raise InvalidInputError(f"end {end} is before start {start}")
        if format not in ("csv", "jsonl"):
            raise InvalidInputError(f"format must be 'csv' or 'jsonl', not {format!r}")
        _check_actor(actor)

        def authorize(uow: UnitOfWork) -> None:
            _found(uow.directory.get_organization(organization), "organization", organization)
            _authorize(uow, actor, "export the spend of", Need("export_organization", organization))

        yield from self._run(authorize)
        return self._stream(organization, start, end, format)

    def _stream(
        self, organization: UUID, start: date, end: date, format: ExportFormat
    ) -> Generator[str]:
        with self._store.transaction() as uow:
            if format == "csv":
                yield "user_id,group_id,day,spend_micros\r\n"
            for row in uow.spend.iter_daily_spend(organization, start, end):
                fields = (str(row.user_id), str(row.effective_group_id), row.day.isoformat())
                if format == "csv":
                    yield f"{fields[0]},{fields[1]},{fields[2]},{row.spend_micros}\r\n"
                else:
                    yield (
                        json.dumps(
                            {
                                "user_id": fields[0],
                                "group_id": fields[1],
                                "day": fields[2],
                                "spend_micros": row.spend_micros,
                            }
                        )
                        + "\n"
                    )


MEMBERS_AT_ONCE = 200
"""Members whose budgets and spend a group report reads at once (one round trip on PostgreSQL)."""


def _member_spend(user: UUID, found: BudgetAndSpend) -> MemberSpend:
    """A member's line of the group report: their own limit against their spend this period on
    the counter of their effective group (SPEC §9)."""
    effective, spent = found.effective, found.spent_micros
    limit = effective.spend_limit_micros
    return MemberSpend(
        user_id=user,
        spend_limit_micros=limit,
        limit_source=effective.source,
        effective_group_id=effective.group_id,
        spent_micros=spent,
        remaining_micros=None if limit is None else max(0, limit - spent),
        over_budget=limit is not None and spent > limit,
    )


def _summaries(
    uow: UnitOfWork, groups: Sequence[Group], period_start: datetime
) -> list[GroupSummary]:
    """Each group's line: per-member limit, members, overrides, total limit and spend since
    ``period_start``."""
    overridden = {o.user_id for o in uow.budgets.list_overrides()}
    summaries = []
    for group in groups:
        budget = uow.budgets.get_group_budget(group.id)
        members = [user for user, _ in uow.directory.expanded_memberships(group_id=group.id)]
        overrides = uow.budgets.list_overrides(group_id=group.id)
        per_member = None if budget is None else budget.spend_limit_micros
        plain = sum(1 for user in members if user not in overridden)
        summaries.append(
            GroupSummary(
                group_id=group.id,
                name=group.name,
                per_member_limit_micros=per_member,
                member_count=len(members),
                override_count=len(overrides),
                total_limit_micros=None
                if per_member is None
                else per_member * plain + sum(o.spend_limit_micros for o in overrides),
                spent_micros=uow.spend.group_spend_in_period(group.id, period_start),
            )
        )
    return summaries

"""The reports as rich tables: one look for ``aigov demo`` and the ``spend`` commands.

Ids are long; people read names. Tables show the username or group name that the directory
holds, and the id where a script or the next command needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from rich.markup import escape
from rich.table import Table

from aigov import Governance, NotFoundError
from aigov.spend import GroupSummary, MemberSpend, SpendStatus
from aigov_cli._money import dollars

__all__ = ["Names", "members_table", "period_label", "status_table", "summary_table"]

SOURCES = {"user_override": "override", "group": "group budget", None: "none"}


class Names:
    """Usernames and group names by id, read once each through the directory."""

    def __init__(self, gov: Governance) -> None:
        self._gov = gov
        self._users: dict[UUID, str] = {}
        self._groups: dict[UUID, str] = {}

    def user(self, user_id: UUID) -> str:
        if user_id not in self._users:
            try:
                self._users[user_id] = escape(self._gov.get_user(user_id).username)
            except NotFoundError:
                self._users[user_id] = str(user_id)
        return self._users[user_id]

    def group(self, group_id: UUID | None) -> str:
        if group_id is None:
            return "none"
        if group_id not in self._groups:
            try:
                self._groups[group_id] = escape(self._gov.get_group(group_id).name)
            except NotFoundError:  # spend history outlives deleted groups
                self._groups[group_id] = str(group_id)
        return self._groups[group_id]


def period_label(status: SpendStatus) -> str:
    start, end = status.period_start, status.period_end
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def status_table(statuses: Iterable[SpendStatus], names: Names, *, title: str) -> Table:
    """One row per user: their limit, where it comes from, where their spend goes, and what is
    spent, held and left in the period."""
    table = Table(title=title, title_justify="left")
    table.add_column("user")
    for heading in ("limit", "source", "group", "spent", "held", "remaining"):
        right = heading in ("limit", "spent", "held", "remaining")
        table.add_column(heading, justify="right" if right else "left")
    for status in statuses:
        table.add_row(
            names.user(status.user_id),
            dollars(status.spend_limit_micros),
            SOURCES[status.source],
            names.group(status.group_id),
            dollars(status.spent_micros),
            dollars(status.held_micros),
            dollars(status.remaining_micros, none="unlimited"),
        )
    return table


def summary_table(summaries: Sequence[GroupSummary], *, title: str, ids: bool) -> Table:
    """One row per group: the per-member limit, who it covers, the total the group may spend,
    and what it spent."""
    table = Table(title=title, title_justify="left")
    table.add_column("group")
    for heading in ("per member", "members", "overrides", "total limit", "spent"):
        table.add_column(heading, justify="right")
    if ids:
        table.add_column("id", no_wrap=True)
    for row in summaries:
        table.add_row(
            escape(row.name),
            dollars(row.per_member_limit_micros, none="no budget"),
            str(row.member_count),
            str(row.override_count),
            dollars(row.total_limit_micros, none="no budget"),
            dollars(row.spent_micros),
            *([str(row.group_id)] if ids else []),
        )
    return table


def members_table(rows: Sequence[MemberSpend], names: Names, *, title: str, ids: bool) -> Table:
    """One row per member: their own limit and its source, the group their spend goes to
    (perhaps another), what they spent there and what is left; over-budget rows stand out."""
    table = Table(title=title, title_justify="left")
    table.add_column("user")
    table.add_column("limit", justify="right")
    table.add_column("source")
    table.add_column("spends in")
    for heading in ("spent", "remaining"):
        table.add_column(heading, justify="right")
    table.add_column("over")
    if ids:
        table.add_column("id", no_wrap=True)
    for row in rows:
        table.add_row(
            names.user(row.user_id),
            dollars(row.spend_limit_micros),
            SOURCES[row.limit_source],
            names.group(row.effective_group_id),
            dollars(row.spent_micros),
            dollars(row.remaining_micros, none="unlimited"),
            "[bold red]yes[/bold red]" if row.over_budget else "",
            *([str(row.user_id)] if ids else []),
        )
    return table

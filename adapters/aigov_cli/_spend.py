"""``aigov spend status | report | export``: where users and groups stand (SPEC §9)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, TextIO
from uuid import UUID

import typer
from rich.markup import escape

from aigov import Actor, Governance, InvalidInputError
from aigov.spend import GroupSummary, MemberSpend
from aigov_cli._common import Schema, console, errors, run
from aigov_cli._session import AsUser, At, GovernedUrl, SiteRoles, actor, governed, instant, today
from aigov_cli._tables import Names, members_table, status_table, summary_table

__all__ = ["spend"]

spend = typer.Typer(
    help="Spend status, group reports and the organization export.", no_args_is_help=True
)

PAGE = 100


@spend.command()
def status(
    *,
    users: Annotated[list[str], typer.Argument(help="User ids.", show_default=False)],
    at: At = None,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Each user's limit and its source, the group their spend goes to, and what is spent, held
    and left in the period."""

    def work() -> None:
        who = actor(as_user, site_role)
        with governed(database_url, schema, instant(at)) as gov:
            rows = [gov.spend_status(who, user) for user in users]
            title = f"Spend this {gov.settings.period}" + (f" (at {at})" if at else "")
            console.print(status_table(rows, Names(gov), title=title))

    run(work)


@spend.command()
def report(
    *,
    organization: Annotated[
        str | None, typer.Option(help="Summarize every group of this organization.")
    ] = None,
    group: Annotated[str | None, typer.Option(help="List this group's members.")] = None,
    over_budget: Annotated[
        bool, typer.Option("--over-budget", help="With --group: only members over budget.")
    ] = False,
    ids: Annotated[bool, typer.Option("--ids", help="Add a column of ids.")] = False,
    at: At = None,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """The group summary of an organization (--organization), or the members report of one
    group (--group); both need the right to read the groups' spend reports."""

    def work() -> None:
        if (organization is None) == (group is None):
            raise InvalidInputError("give one of --organization and --group")
        if over_budget and group is None:
            raise InvalidInputError("--over-budget goes with --group")
        who = actor(as_user, site_role)
        with governed(database_url, schema, instant(at)) as gov:
            period = f"this {gov.settings.period}" + (f" (at {at})" if at else "")
            if organization is not None:
                summaries = _summaries(gov, who, organization)
                name = escape(gov.get_organization(organization).name)
                title = f"Groups of {name}, {period}"
                console.print(summary_table(summaries, title=title, ids=ids))
            else:
                assert group is not None
                rows = _members(gov, who, group, over_budget=over_budget)
                names = Names(gov)
                title = f"Members of {names.group(UUID(group))}, {period}"
                console.print(members_table(rows, names, title=title, ids=ids))

    run(work)


def _summaries(gov: Governance, who: Actor, organization: str) -> list[GroupSummary]:
    """Every group of the organization, a page of 100 at a time."""
    rows: list[GroupSummary] = []
    while True:
        after = rows[-1].group_id if rows else None
        page = gov.group_summary(who, organization, after=after, limit=PAGE)
        rows.extend(page)
        if len(page) < PAGE:
            return rows


def _members(gov: Governance, who: Actor, group: str, *, over_budget: bool) -> list[MemberSpend]:
    """Every member of the group, a page of 100 at a time."""
    rows: list[MemberSpend] = []
    while True:
        after = rows[-1].user_id if rows else None
        page = gov.group_members_report(
            who, group, over_budget_only=over_budget, after=after, limit=PAGE
        )
        rows.extend(page)
        if len(page) < PAGE:
            return rows


@spend.command()
def export(
    *,
    organization: Annotated[str, typer.Option(help="The organization's id.", show_default=False)],
    start: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD).", show_default="this month's 1st")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Day after the last (YYYY-MM-DD).", show_default="next month's 1st"),
    ] = None,
    format: Annotated[
        str, typer.Option(help="csv (RFC 4180, micros) or jsonl (JSON lines).")
    ] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.", show_default=False)
    ] = None,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """The organization's spend per user, group and day, for days in [start, end): streamed, so
    any range takes constant memory. Amounts are micros (1 dollar = 1,000,000)."""

    def work() -> None:
        who = actor(as_user, site_role)
        first = today(instant(None)).replace(day=1)
        since = first if start is None else _day(start, "--start")
        until = _next_month(first) if end is None else _day(end, "--end")
        with governed(database_url, schema) as gov:
            lines = gov.export_organization_spend(
                who,
                organization,
                start=since,
                end=until,
                format=format,  # type: ignore[arg-type]  # the library validates it
            )
            count = 0
            with _target(output) as sink:
                for line in lines:
                    sink.write(line)
                    count += 1
        rows = count - 1 if format == "csv" else count  # the CSV header is no row
        errors.print(f"{rows} rows, days {since} to {until} (exclusive)", highlight=False)

    run(work)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option} must be a day, YYYY-MM-DD, not {text!r}") from exc


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@contextmanager
def _target(output: Path | None) -> Iterator[TextIO]:
    """stdout, or the file: CSV keeps its CRLF line ends (``newline=""``)."""
    if output is None:
        yield sys.stdout
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as sink:
            yield sink
    except OSError as exc:
        raise InvalidInputError(f"cannot write {output}: {exc.strerror}") from exc

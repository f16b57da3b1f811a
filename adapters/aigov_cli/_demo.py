"""``aigov demo``: a governed organization and one simulated day of AI requests, then its reports.

The demo drives the library exactly as a gateway would: directory sync with the system actor,
``reserve_for`` before each request and ``settle`` after it, ``record_usage`` for what reports
itself later, and the reports at the end of the day. A simulated clock makes the day and every
id fixed, so two runs print the same report.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from aigov import (
    AI_GOVERNANCE,
    EVERYONE_GROUP_NAME,
    Actor,
    BudgetExceededError,
    Governance,
    UsageRecord,
)
from aigov.spend import ThresholdCrossed
from aigov_cli import _demo_day as day
from aigov_cli._common import DatabaseUrl, console, open_store, run
from aigov_cli._demo_schema import reset_demo_schema
from aigov_cli._money import dollars
from aigov_cli._tables import Names, members_table, status_table, summary_table

__all__ = ["demo"]

SYSTEM = Actor.system()


class SimulatedClock:
    """The demo's "now": set to each request's time as the day is replayed."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Outcome:
    """What the day did: requests granted and refused, usage recorded, what was still held."""

    granted: int = 0
    refused: list[tuple[day.Request, BudgetExceededError]] = field(default_factory=list)
    running: int = 0
    records: list[UsageRecord] = field(default_factory=list)


def demo(
    database_url: DatabaseUrl = None,
    schema: Annotated[
        str,
        typer.Option(
            envvar="AIGOV_SCHEMA",
            help="The demo's own schema: dropped and recreated on every run, so pick a new name.",
        ),
    ] = "aigov_demo",
) -> None:
    """Set up an organization with budgets, replay a day of requests, and print the reports.

    Without --database-url the demo runs on an embedded PostgreSQL that is gone when it ends;
    with one it keeps its data in --schema, which it owns: every run empties it first.
    """

    def work() -> None:
        with open_store(database_url, schema) as (store, source):
            with console.status(f"Preparing schema {schema} on {source}…"):
                reset_demo_schema(store)
                store.migrate()
            clock = SimulatedClock(day.DAY)
            ids = (day.demo_id("record", str(n)) for n in itertools.count(1))
            gov = Governance(
                store, entitlements={AI_GOVERNANCE}, clock=clock, ids=lambda: next(ids)
            )
            with console.status("Applying the embedded price book…"):
                prices = gov.apply_price_book()
            console.print(f"Price book: {prices.inserted} models priced.", highlight=False)
            with console.status("Creating the organization, groups and budgets…"):
                _organization(gov)
            outcome = _replay(gov, clock)
            clock.now = day.END_OF_DAY
            _report(gov, outcome)
            _next_steps(schema, database_url is not None)

    run(work)


def _organization(gov: Governance) -> None:
    """Acme, its people and groups (the host's directory sync), then budgets and an override."""
    acme = day.demo_id("organization", day.ORGANIZATION)
    gov.create_organization(SYSTEM, acme, day.ORGANIZATION, is_default=True)
    for name in day.GROUPS:
        gov.create_group(SYSTEM, day.demo_id("group", name), acme, name)
    for person in day.PEOPLE:
        user = day.demo_id("user", person.name)
        gov.create_user(SYSTEM, user, person.name)
        gov.add_organization_member(SYSTEM, user, acme, roles=person.roles)
        for group in person.groups:
            gov.add_group_member(SYSTEM, user, day.demo_id("group", group))
    for group, micros in day.BUDGETS.items():
        group_id = acme if group == EVERYONE_GROUP_NAME else day.demo_id("group", group)
        gov.upsert_group_budget(SYSTEM, group_id, micros)
    for name, group, micros in day.OVERRIDES:
        gov.upsert_user_budget_override(
            SYSTEM, day.demo_id("user", name), day.demo_id("group", group), micros
        )


def _replay(gov: Governance, clock: SimulatedClock) -> Outcome:
    """Reserve before every request and settle after it, in time order; record the rest."""
    outcome = Outcome()
    traffic = day.requests()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Replaying the day", total=len(traffic) + len(day.RECORDED))
        for recorded in day.RECORDED:
            clock.now = recorded.at
            user = day.demo_id("user", recorded.user)
            outcome.records.append(
                gov.record_usage(
                    user,
                    recorded.provider,
                    recorded.model,
                    recorded.usage,
                    idempotency_key=recorded.idempotency_key,
                )
            )
            progress.advance(task)
        for request in traffic:
            clock.now = request.at
            user = day.demo_id("user", request.user)
            try:
                hold = gov.reserve_for(user, request.provider, request.model, request.expected)
            except BudgetExceededError as refused:
                outcome.refused.append((request, refused))
            else:
                outcome.granted += 1
                if request.actual is None:
                    outcome.running += 1
                else:
                    outcome.records.append(
                        gov.settle(hold.id, request.provider, request.model, request.actual)
                    )
            progress.advance(task)
    return outcome


def _report(gov: Governance, outcome: Outcome) -> None:
    names = Names(gov)
    acme = day.demo_id("organization", day.ORGANIZATION)
    console.print(_people(gov, names))
    console.print(_groups(gov))
    console.print(_day(outcome, names))
    users = [day.demo_id("user", person.name) for person in day.PEOPLE]
    statuses = [gov.spend_status(SYSTEM, user) for user in users]
    period = f"{statuses[0].period_start:%B %Y}"
    console.print(status_table(statuses, names, title=f"Spend status at 18:00, {period}"))
    summaries = gov.group_summary(SYSTEM, acme)
    console.print(summary_table(summaries, title=f"Groups of Acme, {period}", ids=False))
    engineering = day.demo_id("group", "engineering")
    members = gov.group_members_report(SYSTEM, engineering)
    title = f"Members of engineering, {period}"
    console.print(members_table(members, names, title=title, ids=False))
    events = gov.pending_budget_events()
    console.print(_events(events, names))
    gov.ack_budget_events([event.id for event in events])


def _people(gov: Governance, names: Names) -> Table:
    table = Table(title="Acme's people", title_justify="left")
    table.add_column("user")
    table.add_column("id", no_wrap=True)
    table.add_column("groups")
    table.add_column("roles")
    for person in day.PEOPLE:
        user = day.demo_id("user", person.name)
        groups = ", ".join(names.group(g) for g in gov.list_user_groups(user))
        table.add_row(person.name, str(user), groups, ", ".join(person.roles))
    return table


def _groups(gov: Governance) -> Table:
    table = Table(title="Acme's groups and budgets", title_justify="left")
    table.add_column("group")
    table.add_column("id", no_wrap=True)
    table.add_column("per member per month", justify="right")
    for group in gov.list_groups(organization_id=day.demo_id("organization", day.ORGANIZATION)):
        budget = gov.get_group_budget(SYSTEM, group.id)
        table.add_row(group.name, str(group.id), dollars(budget.spend_limit_micros))
    for name, group_name, micros in day.OVERRIDES:
        table.add_row(f"  override: {name}", f"spends in {group_name}", dollars(micros))
    return table


def _day(outcome: Outcome, names: Names) -> Table:
    recorded = [r for r in outcome.records if r.reservation_id is None]
    incomplete = [r for r in outcome.records if r.unpriced_kinds]
    table = Table(title="The day, 08:00 to 18:00 UTC", title_justify="left", show_header=False)
    table.add_row("requests granted", str(outcome.granted))
    table.add_row("still running at 18:00 (held)", str(outcome.running))
    table.add_row("refused: over budget", str(len(outcome.refused)))
    for request, refused in outcome.refused:
        table.add_row(
            f"  {request.at:%H:%M} {request.user}, {request.model}",
            f"needed {dollars(refused.requested_micros)}, "
            f"{dollars(refused.remaining_micros)} left of {dollars(refused.limit_micros)}",
        )
    table.add_row("usage recorded without a reservation", f"{len(recorded)} calls")
    distinct = {r.id for r in recorded}
    table.add_row("  counted once per idempotency key", str(len(distinct)))
    for record in incomplete:
        table.add_row(
            f"  incomplete: {names.user(record.user_id)}, {record.model}",
            f"no price for {', '.join(record.unpriced_kinds)}: flagged, never free",
        )
    total = sum(r.cost_micros for r in {r.id: r for r in outcome.records}.values())
    table.add_row("spent in total", dollars(total))
    return table


def _events(events: Sequence[ThresholdCrossed], names: Names) -> Table:
    table = Table(title="Budget thresholds crossed (the outbox)", title_justify="left")
    for heading in ("at", "user", "group", "percent", "limit", "spent"):
        table.add_column(heading)
    for event in events:
        table.add_row(
            f"{event.at:%H:%M}",
            names.user(event.user_id),
            names.group(event.group_id),
            f"{event.percent}%",
            dollars(event.limit_micros),
            dollars(event.spent_micros),
        )
    return table


def _next_steps(schema: str, kept: bool) -> None:
    ann = day.demo_id("user", "ann")
    if kept:
        console.print(
            f"The data stays in schema {schema}; on the same database, try:\n"
            f"  aigov spend status {ann} --schema {schema} --at {day.END_OF_DAY:%Y-%m-%dT%H:%MZ}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            "The embedded server and its data are gone now; keep them on your own database"
            " with --database-url (docs/cli.md).",
            highlight=False,
            soft_wrap=True,
        )

"""``aigov budget get | set | delete``: the per-member limit of a group (SPEC §4)."""

from __future__ import annotations

from typing import Annotated

import typer

from aigov import Governance, GroupAIBudget
from aigov_cli._common import Schema, run, say
from aigov_cli._money import dollars, parse_dollars
from aigov_cli._session import AsUser, GovernedUrl, SiteRoles, actor, governed
from aigov_cli._tables import Names

__all__ = ["budget"]

budget = typer.Typer(
    help="A group's budget: the limit each member may spend per period (dollars).",
    no_args_is_help=True,
)

Group = Annotated[str, typer.Argument(help="The group's id.", show_default=False)]


def _line(gov: Governance, row: GroupAIBudget) -> str:
    name = Names(gov).group(row.group_id)
    each = f"{dollars(row.spend_limit_micros)} per member per {gov.settings.period}"
    return f"{name} ({row.group_id}): {each}"


@budget.command()
def get(
    *,
    group: Group,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Show the group's budget (exit 3 when it has none: no limit is enforced for it)."""

    def work() -> None:
        who = actor(as_user, site_role)
        with governed(database_url, schema) as gov:
            say(_line(gov, gov.get_group_budget(who, group)))

    run(work)


@budget.command("set")
def set_(
    *,
    group: Group,
    limit: Annotated[str, typer.Argument(help="Dollars per member per period, e.g. 25.50.")],
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Create or replace the group's budget (audited; the same limit again changes nothing)."""

    def work() -> None:
        who = actor(as_user, site_role)
        micros = parse_dollars(limit, "limit")
        with governed(database_url, schema) as gov:
            row = gov.upsert_group_budget(who, group, micros)
            say(f"set {_line(gov, row)}")

    run(work)


@budget.command()
def delete(
    *,
    group: Group,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Delete the group's budget: it limits nobody afterwards (exit 3 when it had none)."""

    def work() -> None:
        who = actor(as_user, site_role)
        with governed(database_url, schema) as gov:
            row = gov.delete_group_budget(who, group)
            say(f"deleted the budget of {_line(gov, row)}")

    run(work)

"""``aigov override get | set | delete``: a user's own limit, attributed to one group (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

import typer

from aigov import Governance, UserAIBudgetOverride
from aigov_cli._common import Schema, run, say
from aigov_cli._money import dollars, parse_dollars
from aigov_cli._session import AsUser, GovernedUrl, SiteRoles, actor, governed
from aigov_cli._tables import Names

__all__ = ["override"]

override = typer.Typer(
    help="A user's budget override: their own limit, which supersedes group budgets.",
    no_args_is_help=True,
)

User = Annotated[str, typer.Argument(help="The user's id.", show_default=False)]


def _line(gov: Governance, row: UserAIBudgetOverride) -> str:
    names = Names(gov)
    per = f"{dollars(row.spend_limit_micros)} per {gov.settings.period}"
    return (
        f"{names.user(row.user_id)} ({row.user_id}): {per}, "
        f"spending in {names.group(row.group_id)} ({row.group_id})"
    )


@override.command()
def get(
    *,
    user: User,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Show the user's override (exit 3 when they have none)."""

    def work() -> None:
        who = actor(as_user, site_role)
        with governed(database_url, schema) as gov:
            row = gov.get_user_budget_override(who, user)
            say(_line(gov, row))

    run(work)


@override.command("set")
def set_(
    *,
    user: User,
    group: Annotated[
        str, typer.Argument(help="The group their spend goes to; they must be a member.")
    ],
    limit: Annotated[str, typer.Argument(help="Dollars per period, e.g. 40 (0: may not spend).")],
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Create, replace or move the user's override (exit 5 when they are not in the group)."""

    def work() -> None:
        who = actor(as_user, site_role)
        micros = parse_dollars(limit, "limit")
        with governed(database_url, schema) as gov:
            row = gov.upsert_user_budget_override(who, user, group, micros)
            say(f"set {_line(gov, row)}")

    run(work)


@override.command()
def delete(
    *,
    user: User,
    database_url: GovernedUrl = None,
    schema: Schema = "public",
    as_user: AsUser = None,
    site_role: SiteRoles = None,
) -> None:
    """Delete the user's override: group budgets apply to them again (exit 3 without one)."""

    def work() -> None:
        who = actor(as_user, site_role)
        with governed(database_url, schema) as gov:
            row = gov.delete_user_budget_override(who, user)
            say(f"deleted the override of {_line(gov, row)}")

    run(work)

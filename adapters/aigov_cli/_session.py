"""What a command that reads or changes budgets needs: a migrated database, the settings it
enforces, an actor, and optionally the instant to report on.

The commands act on a database that a host already governs, so they adopt the settings stored
there (SPEC §8.0) instead of imposing their own, and refuse an unmigrated schema at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from aigov import AI_GOVERNANCE, SITE_ROLES, Actor, Governance, InvalidInputError, StorageError
from aigov.clock import Clock, system_clock
from aigov.settings import GovernanceSettings
from aigov_cli._common import open_store

__all__ = ["AsUser", "At", "GovernedUrl", "SiteRoles", "actor", "governed", "instant", "today"]

GovernedUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="AIGOV_DATABASE_URL",
        help="postgresql://… of the database to act on (required).",
        show_default=False,
    ),
]

AsUser = Annotated[
    str | None,
    typer.Option(
        "--as-user",
        envvar="AIGOV_AS_USER",
        help="Act as this user (their id), with their rights; default: the system actor.",
        show_default=False,
    ),
]
SiteRoles = Annotated[
    list[str] | None,
    typer.Option(
        "--site-role",
        help=f"A site role of --as-user (repeat): {', '.join(SITE_ROLES)}.",
        show_default=False,
    ),
]
At = Annotated[
    str | None,
    typer.Option(
        help="Report the period holding this day or instant (ISO 8601, UTC unless it says).",
        show_default="now",
    ),
]


def actor(as_user: str | None, site_roles: list[str] | None) -> Actor:
    """The system actor by default: whoever holds the database URL can already write every
    table, so the command does not pretend otherwise. ``--as-user`` answers what that user
    would get: their organization roles come from the directory, site roles from ``--site-role``."""
    if as_user is None:
        if site_roles:
            raise InvalidInputError("--site-role needs --as-user")
        return Actor.system()
    unknown = sorted(set(site_roles or ()) - set(SITE_ROLES))
    if unknown:
        raise InvalidInputError(
            f"--site-role must be one of {', '.join(SITE_ROLES)}, not {', '.join(unknown)}"
        )
    return Actor.user(as_user, site_roles=tuple(r for r in SITE_ROLES if r in (site_roles or ())))


def instant(at: str | None) -> Clock:
    """A clock stopped at ``at`` (a day means its midnight, UTC), or the system clock."""
    if at is None:
        return system_clock
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError as exc:
        raise InvalidInputError(f"--at must be an ISO 8601 day or instant, not {at!r}") from exc
    stopped = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return lambda: stopped


def today(clock: Clock) -> date:
    return clock().astimezone(UTC).date()


@contextmanager
def governed(
    database_url: str | None, schema: str, clock: Clock = system_clock
) -> Iterator[Governance]:
    """A ``Governance`` on the migrated ``schema`` of the database, with its stored settings."""
    if database_url is None:
        raise InvalidInputError(
            "give --database-url or set AIGOV_DATABASE_URL (an embedded server would be empty)"
        )
    with open_store(database_url, schema) as (store, _):
        if store.schema_version() is None:
            raise StorageError(f"schema {schema} is not migrated: run aigov migrate first")
        with store.transaction() as uow:
            # The first settings a store is given stay; a database never used keeps the defaults.
            settings = uow.settings.ensure_settings(GovernanceSettings())
        yield Governance(
            store,
            entitlements={AI_GOVERNANCE},
            period=settings.period,
            budget_policy=settings.budget_policy,
            unknown_price_policy=settings.unknown_price_policy,
            thresholds=settings.thresholds,
            clock=clock,
        )

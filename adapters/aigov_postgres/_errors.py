"""The one place where PostgreSQL's errors become aigov's, by SQLSTATE and constraint name."""

from __future__ import annotations

from typing import Final

import psycopg
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from aigov.exceptions import (
    AigovError,
    AmountOutOfRangeError,
    ConflictError,
    DirectoryRuleError,
    InvalidInputError,
    MembershipInvariantError,
    NotFoundError,
    StorageError,
    TransientError,
)

__all__ = ["translate"]

TRANSIENT_SQLSTATES: Final = frozenset({"40001", "40P01", "55P03"})

# A foreign key that fails on insert means the referenced row is missing: say which kind.
_MISSING_REFERENCE: Final = {
    "organization_members_user_id_fkey": "user",
    "organization_members_organization_id_fkey": "organization",
    "groups_organization_id_fkey": "organization",
    "group_members_user_id_fkey": "user",
    "group_members_group_id_fkey": "group",
    "group_ai_budgets_group_id_fkey": "group",
    "ai_usage_records_user_id_fkey": "user",
    "user_ai_budget_overrides_user_id_fkey": "user",
    "user_ai_budget_overrides_group_id_fkey": "group",
}

_MEMBERSHIP_RULES: Final = frozenset(
    {"group_members_organization_member_fkey", "user_ai_budget_overrides_must_be_group_member"}
)

_DIRECTORY_RULES: Final = frozenset(
    {
        "group_members_not_everyone_group",
        "group_members_organization_matches_group",
        "groups_everyone_group_undeletable",
        "organization_members_no_truncate",
        "group_members_no_truncate",
        *(
            f"{table}_key_columns_immutable"
            for table in (
                "organizations",
                "users",
                "organization_members",
                "groups",
                "group_members",
            )
        ),
    }
)


def _driver_error(exc: BaseException) -> psycopg.Error | None:
    if isinstance(exc, psycopg.Error):
        return exc
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.Error):
        return exc.orig
    return None


def translate(exc: SQLAlchemyError | psycopg.Error) -> AigovError:  # noqa: PLR0911 - a table
    """The aigov error for a driver error; the caller raises it ``from exc``."""
    error = _driver_error(exc)
    if error is None:
        return StorageError(f"the PostgreSQL store failed: {exc}")
    sqlstate = error.sqlstate or ""
    constraint = error.diag.constraint_name
    message = (error.diag.message_primary or str(error)).strip()
    if sqlstate in TRANSIENT_SQLSTATES:
        return TransientError(f"retry: {message}")
    if constraint in _DIRECTORY_RULES:
        return DirectoryRuleError(message, constraint=constraint)
    if constraint in _MEMBERSHIP_RULES:
        return MembershipInvariantError(message, constraint=constraint)
    if sqlstate == "23503" and constraint in _MISSING_REFERENCE:
        kind = _MISSING_REFERENCE[constraint]
        detail = error.diag.message_detail or message
        return NotFoundError(f"{kind} not found: {detail}", resource=kind, key=None)
    if sqlstate in {"23505", "23503"}:
        return ConflictError(message, constraint=constraint)
    if sqlstate == "22003":
        return AmountOutOfRangeError(f"an amount would pass 2**63-1: {message}")
    if sqlstate.startswith(("22", "23")):
        return InvalidInputError(message)
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return StorageError(f"the PostgreSQL store failed: {message}{code}")

"""Group budgets and user overrides (SPEC §4, §5), and the membership invariant that binds them.

A group budget's limit applies to each member of the group, not to a shared pool; no budget row
means no limit is enforced for that group. A user override supersedes group budgets for its user
and attributes the user's spend to its group, of which the user must be an (expanded) member at
every moment: a write that would break that is refused, and losing the membership deletes the
override.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from aigov.exceptions import MembershipInvariantError
from aigov.money import Micros

__all__ = [
    "OVERRIDE_MEMBERSHIP_CONSTRAINT",
    "GroupAIBudget",
    "UserAIBudgetOverride",
    "check_override_membership",
    "orphaned_overrides",
    "plan_group_budget",
    "plan_override",
]

OVERRIDE_MEMBERSHIP_CONSTRAINT: Final = "user_ai_budget_overrides_must_be_group_member"


class GroupAIBudget(BaseModel):
    """The per-member spend limit of a group, at most one per group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: UUID
    spend_limit_micros: Micros
    created_at: AwareDatetime
    updated_at: AwareDatetime


class UserAIBudgetOverride(BaseModel):
    """A user's own limit, at most one per user; their spend is attributed to ``group_id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID
    group_id: UUID
    spend_limit_micros: Micros
    created_at: AwareDatetime
    updated_at: AwareDatetime


def plan_group_budget(
    existing: GroupAIBudget | None, group_id: UUID, spend_limit_micros: int, now: datetime
) -> GroupAIBudget | None:
    """The budget row to store for an upsert, or None when the stored one already has this
    limit (nothing is rewritten). ``updated_at`` records when the limit last changed."""
    if existing is not None and existing.spend_limit_micros == spend_limit_micros:
        return None
    return GroupAIBudget(
        group_id=group_id,
        spend_limit_micros=spend_limit_micros,
        created_at=now if existing is None else existing.created_at,
        updated_at=now,
    )


def plan_override(
    existing: UserAIBudgetOverride | None,
    user_id: UUID,
    group_id: UUID,
    spend_limit_micros: int,
    now: datetime,
) -> UserAIBudgetOverride | None:
    """The override row to store for an upsert (a new group moves it), or None when the stored
    one already says exactly this."""
    if (
        existing is not None
        and existing.group_id == group_id
        and existing.spend_limit_micros == spend_limit_micros
    ):
        return None
    return UserAIBudgetOverride(
        user_id=user_id,
        group_id=group_id,
        spend_limit_micros=spend_limit_micros,
        created_at=now if existing is None else existing.created_at,
        updated_at=now,
    )


def check_override_membership(override: UserAIBudgetOverride, *, is_member: bool) -> None:
    """Refuse an override whose user is not an expanded member of its group (SPEC §5.2)."""
    if not is_member:
        raise MembershipInvariantError(
            f"user {override.user_id} is not a member of group {override.group_id}, so no "
            "override may attribute their spend to it",
            constraint=OVERRIDE_MEMBERSHIP_CONSTRAINT,
        )


def orphaned_overrides(
    overrides: Iterable[UserAIBudgetOverride], is_member: Callable[[UUID, UUID], bool]
) -> list[UserAIBudgetOverride]:
    """The overrides a membership loss deletes: those whose user is no longer an expanded member
    of their group (SPEC §5.3). Leaving a group, leaving the group's organization, and deleting
    the user or the group all come down to this."""
    return [o for o in overrides if not is_member(o.user_id, o.group_id)]

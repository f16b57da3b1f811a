"""Budget resolution (SPEC §7): which limit applies to a user, and which group their spend is
attributed to. A pure function of the facts a store reads in one query."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from aigov.money import Micros

__all__ = [
    "BudgetFact",
    "BudgetPolicy",
    "BudgetSource",
    "EffectiveBudget",
    "MembershipFact",
    "OverrideFact",
    "ResolutionFacts",
    "resolve",
]

BudgetPolicy = Literal["highest", "lowest"]
BudgetSource = Literal["user_override", "group"]


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MembershipFact(_Fact):
    """One organization membership of the user, with what resolution needs of the organization."""

    organization_id: UUID
    joined_at: AwareDatetime
    deleted: bool
    is_default: bool


class BudgetFact(_Fact):
    """A budget of a group the user is an expanded member of."""

    group_id: UUID
    organization_id: UUID
    spend_limit_micros: Micros


class OverrideFact(_Fact):
    """The user's override, with its group's organization."""

    group_id: UUID
    organization_id: UUID
    spend_limit_micros: Micros


class ResolutionFacts(_Fact):
    """Everything ``resolve`` reads about one existing user."""

    memberships: tuple[MembershipFact, ...] = ()
    budgets: tuple[BudgetFact, ...] = ()
    override: OverrideFact | None = None


class EffectiveBudget(_Fact):
    """The limit that applies (None: no limit), the group spend is attributed to (None: the user
    belongs to no organization), and where the limit came from (None: no limit)."""

    spend_limit_micros: int | None
    group_id: UUID | None
    source: BudgetSource | None


def _earliest(memberships: list[MembershipFact]) -> MembershipFact:
    return min(memberships, key=lambda m: (m.joined_at, m.organization_id))


def resolve(facts: ResolutionFacts, policy: BudgetPolicy = "highest") -> EffectiveBudget:
    """Decide in SPEC §7's order:

    1. an override whose group's organization is not deleted: its limit and group;
    2. else the highest (``policy="lowest"``: the lowest) limit among the budgets of the user's
       groups in organizations that are not deleted, ties broken by the earliest organization
       membership, then the smallest group id;
    3. else no limit, attributed to the Everyone group of the default organization if the user
       is a member of it, else of the earliest-joined organization (then the smallest id); no
       group when the user belongs to no (non-deleted) organization.
    """
    live = {m.organization_id: m for m in facts.memberships if not m.deleted}
    override = facts.override
    if override is not None and override.organization_id in live:
        return EffectiveBudget(
            spend_limit_micros=override.spend_limit_micros,
            group_id=override.group_id,
            source="user_override",
        )
    budgets = [b for b in facts.budgets if b.organization_id in live]
    if budgets:
        sign = -1 if policy == "highest" else 1
        chosen = min(
            budgets,
            key=lambda b: (
                sign * b.spend_limit_micros,
                live[b.organization_id].joined_at,
                b.group_id,
            ),
        )
        return EffectiveBudget(
            spend_limit_micros=chosen.spend_limit_micros, group_id=chosen.group_id, source="group"
        )
    if not live:
        return EffectiveBudget(spend_limit_micros=None, group_id=None, source=None)
    defaults = [m for m in live.values() if m.is_default]
    fallback = defaults[0] if defaults else _earliest(list(live.values()))
    return EffectiveBudget(spend_limit_micros=None, group_id=fallback.organization_id, source=None)

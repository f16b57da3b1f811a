"""The memory store's group budgets and user overrides (SPEC §4, §5), and budget resolution
(SPEC §7) over them by the core's ``resolve``."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from aigov.budgets import GroupAIBudget, UserAIBudgetOverride, check_override_membership
from aigov.exceptions import NotFoundError
from aigov.ports import BudgetRepository
from aigov.resolution import (
    BudgetFact,
    BudgetPolicy,
    EffectiveBudget,
    MembershipFact,
    OverrideFact,
    ResolutionFacts,
    resolve,
)
from aigov_memory._directory import MemoryDirectory
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemoryBudgets"]


class MemoryBudgets(BudgetRepository):
    """Budgets and overrides; the directory checks the groups, users and memberships they name."""

    def __init__(self, tables: Tables, log: WriteLog, directory: MemoryDirectory) -> None:
        self._tables = tables
        self._log = log
        self._directory = directory

    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        return self._tables.group_budgets.get(group_id)

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        self._directory.existing_group(budget.group_id)
        self._log.put(self._tables.group_budgets, budget.group_id, budget)

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        budget = self._tables.group_budgets.get(group_id)
        if budget is None:
            raise NotFoundError(
                f"group {group_id} has no budget", resource="group budget", key=group_id
            )
        self._log.pop(self._tables.group_budgets, group_id)
        return budget

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        return self._tables.overrides.get(user_id)

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        return [
            override
            for _, override in sorted(self._tables.overrides.items())
            if group_id in (None, override.group_id)
        ]

    def put_override(self, override: UserAIBudgetOverride) -> None:
        directory = self._directory
        directory.existing_user(override.user_id)
        directory.existing_group(override.group_id)
        check_override_membership(
            override, is_member=directory.is_group_member(override.user_id, override.group_id)
        )
        self._log.put(self._tables.overrides, override.user_id, override)

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        override = self._tables.overrides.get(user_id)
        if override is None:
            raise NotFoundError(
                f"user {user_id} has no budget override", resource="override", key=user_id
            )
        self._log.pop(self._tables.overrides, user_id)
        return override

    def resolve_budget(self, user_id: UUID, policy: BudgetPolicy) -> EffectiveBudget | None:
        facts = self._resolution_facts(user_id)
        return None if facts is None else resolve(facts, policy)

    def _resolution_facts(self, user_id: UUID) -> ResolutionFacts | None:
        """What resolution needs to know of the user (their organization memberships, the
        budgets of their expanded groups, their override); None for an unknown user."""
        tables = self._tables
        if user_id not in tables.users:
            return None
        members = tables.organization_members
        memberships = [members[key] for key in members.where("user", user_id)]
        override = tables.overrides.get(user_id)
        return ResolutionFacts(
            memberships=tuple(
                MembershipFact(
                    organization_id=m.organization_id,
                    joined_at=m.created_at,
                    deleted=tables.organizations[m.organization_id].deleted,
                    is_default=tables.organizations[m.organization_id].is_default,
                )
                for m in memberships
            ),
            budgets=tuple(
                BudgetFact(
                    group_id=group_id,
                    organization_id=tables.groups[group_id].organization_id,
                    spend_limit_micros=tables.group_budgets[group_id].spend_limit_micros,
                )
                for _, group_id in self._directory.expanded_memberships(user_id=user_id)
                if group_id in tables.group_budgets
            ),
            override=None
            if override is None
            else OverrideFact(
                group_id=override.group_id,
                organization_id=tables.groups[override.group_id].organization_id,
                spend_limit_micros=override.spend_limit_micros,
            ),
        )

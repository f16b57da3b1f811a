"""Group budgets, user overrides (SPEC §4, §5) and budget resolution (SPEC §7, the schema's
``effective_budget``)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select

from aigov.budgets import GroupAIBudget, UserAIBudgetOverride
from aigov.ports import BudgetRepository
from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov_postgres import schema as tables
from aigov_postgres._hot_path import effective
from aigov_postgres._repository import Repository, where


class PostgresBudgets(Repository, BudgetRepository):
    def get_group_budget(self, group_id: UUID) -> GroupAIBudget | None:
        budgets = tables.group_ai_budgets
        row = self._connection.execute(
            select(budgets).where(budgets.c.group_id == group_id)
        ).first()
        return None if row is None else GroupAIBudget.model_validate(row._mapping)

    def put_group_budget(self, budget: GroupAIBudget) -> None:
        self._upsert(tables.group_ai_budgets, ("group_id",), budget.model_dump())

    def delete_group_budget(self, group_id: UUID) -> GroupAIBudget:
        budgets = tables.group_ai_budgets
        row = self._one_or_missing(
            delete(budgets).where(budgets.c.group_id == group_id).returning(*budgets.c),
            "group budget",
            group_id,
            f"group {group_id} has no budget",
        )
        return GroupAIBudget.model_validate(row._mapping)

    def get_override(self, user_id: UUID) -> UserAIBudgetOverride | None:
        overrides = tables.user_ai_budget_overrides
        row = self._connection.execute(
            select(overrides).where(overrides.c.user_id == user_id)
        ).first()
        return None if row is None else UserAIBudgetOverride.model_validate(row._mapping)

    def list_overrides(self, *, group_id: UUID | None = None) -> Sequence[UserAIBudgetOverride]:
        overrides = tables.user_ai_budget_overrides
        rows = self._connection.execute(
            select(overrides)
            .where(where((overrides.c.group_id, group_id)))
            .order_by(overrides.c.user_id)
        )
        return [UserAIBudgetOverride.model_validate(row._mapping) for row in rows]

    def put_override(self, override: UserAIBudgetOverride) -> None:
        self._upsert(tables.user_ai_budget_overrides, ("user_id",), override.model_dump())

    def delete_override(self, user_id: UUID) -> UserAIBudgetOverride:
        overrides = tables.user_ai_budget_overrides
        row = self._one_or_missing(
            delete(overrides).where(overrides.c.user_id == user_id).returning(*overrides.c),
            "override",
            user_id,
            f"user {user_id} has no budget override",
        )
        return UserAIBudgetOverride.model_validate(row._mapping)

    def resolve_budget(self, user_id: UUID, policy: BudgetPolicy) -> EffectiveBudget | None:
        """The schema's ``effective_budget`` (SPEC §7 in SQL, the hot path's too)."""
        row = self._connection.exec_driver_sql(
            f"SELECT EXISTS (SELECT FROM {self._schema_sql}.users WHERE id = %(user_id)s),"
            f" chosen.* FROM (SELECT) AS one"
            f" LEFT JOIN {self._schema_sql}.effective_budget(%(user_id)s, %(policy)s) AS chosen"
            " ON true",
            {"user_id": user_id, "policy": policy},
        ).one()
        if not row[0]:
            return None
        return effective(row[1:])  # NULL columns when the user has no group

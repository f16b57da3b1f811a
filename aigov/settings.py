"""The rules a deployment enforces (SPEC §8.0), fixed once per database.

Processes sharing one database must never enforce different rules, so a store keeps the settings
of the first ``Governance`` that used it, and a later one that disagrees is refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aigov.periods import Period
from aigov.resolution import BudgetPolicy

__all__ = ["GovernanceSettings", "UnknownPricePolicy"]

UnknownPricePolicy = Literal["deny", "allow"]
Percent = Annotated[int, Field(strict=True, ge=1, le=1000)]


class GovernanceSettings(BaseModel):
    """How budgets are enforced: the period, the budget policy, what an unknown price does to a
    reservation, and the percentages of a limit at which threshold events fire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: Period = "month"
    budget_policy: BudgetPolicy = "highest"
    unknown_price_policy: UnknownPricePolicy = "deny"
    thresholds: tuple[Percent, ...] = (80, 100)

    @field_validator("thresholds")
    @classmethod
    def _ascending_once(cls, thresholds: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(thresholds)))

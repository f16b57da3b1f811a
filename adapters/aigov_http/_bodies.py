"""The JSON bodies of the HTTP API (SPEC §14), with the source system's field names; the
OpenAPI document is generated from them. Each answer is built from the core's result by one
``of`` classmethod, so that a route says which call it makes and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aigov import ModelPrice
from aigov.periods import PeriodWindow
from aigov.prices import Identifier
from aigov.resolution import BudgetSource
from aigov.spend import GroupSummary, MemberSpend, SpendStatus

__all__ = [
    "CustomPrice",
    "CustomPrices",
    "EffectiveBudget",
    "GroupBudgetChange",
    "GroupSpend",
    "GroupsSpend",
    "MemberSpendLine",
    "MembersSpend",
    "OneGroupSpend",
    "OverrideChange",
    "Price",
    "Prices",
    "UserSpend",
]

MAX_MICROS = 2**63 - 1
Micros = Annotated[int, Field(strict=True, ge=0, le=MAX_MICROS)]
PriceMicros = Annotated[int | None, Field(strict=True, ge=0, le=MAX_MICROS)]
MAX_PRICES = 1_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------------


class GroupBudgetChange(_Body):
    """``PUT /api/v2/groups/{group}/ai/budget``: the per-member limit, in micros per period."""

    spend_limit_micros: Micros


class OverrideChange(_Body):
    """``PUT /api/v2/users/{user}/ai/budget/override``: the user's own limit, and the group of
    theirs that their spend is attributed to."""

    group_id: UUID
    spend_limit_micros: Micros


class CustomPrice(_Body):
    """One custom price, in micros per million tokens; a price left out is unknown (null)."""

    provider: Identifier
    model: Identifier
    input_price_micros: PriceMicros = None
    output_price_micros: PriceMicros = None
    cache_read_price_micros: PriceMicros = None
    cache_write_price_micros: PriceMicros = None

    def as_core(self) -> dict[str, object]:
        """The mapping ``set_custom_prices`` takes."""
        return {
            "provider": self.provider,
            "model": self.model,
            "input_price": self.input_price_micros,
            "output_price": self.output_price_micros,
            "cache_read_price": self.cache_read_price_micros,
            "cache_write_price": self.cache_write_price_micros,
        }


class CustomPrices(_Body):
    """``POST /api/experimental/ai/model-prices``: set all of them, or (one is bad) none."""

    prices: Annotated[list[CustomPrice], Field(max_length=MAX_PRICES)]


# -- answers -------------------------------------------------------------------------------------


class EffectiveBudget(_Body):
    spend_limit_micros: int
    limit_source: BudgetSource


class UserSpend(_Body):
    """``GET /api/v2/users/{user}/ai/spend``: where the user stands this period."""

    user_id: UUID
    effective_group_id: UUID | None
    effective_budget: EffectiveBudget | None
    current_spend_micros: int
    held_micros: int
    remaining_micros: int | None
    period_start: datetime
    period_end: datetime

    @classmethod
    def of(cls, status: SpendStatus) -> Self:
        budget = (
            None
            if status.spend_limit_micros is None or status.source is None
            else EffectiveBudget(
                spend_limit_micros=status.spend_limit_micros, limit_source=status.source
            )
        )
        return cls(
            user_id=status.user_id,
            effective_group_id=status.group_id,
            effective_budget=budget,
            current_spend_micros=status.spent_micros,
            held_micros=status.held_micros,
            remaining_micros=status.remaining_micros,
            period_start=status.period_start,
            period_end=status.period_end,
        )


class GroupSpend(_Body):
    """One group's budget and spend this period."""

    group_id: UUID
    spend_limit_micros: int | None
    total_spend_limit_micros: int | None
    member_count: int
    override_count: int
    current_spend_micros: int

    @classmethod
    def of(cls, summary: GroupSummary) -> GroupSpend:
        return GroupSpend(
            group_id=summary.group_id,
            spend_limit_micros=summary.per_member_limit_micros,
            total_spend_limit_micros=summary.total_limit_micros,
            member_count=summary.member_count,
            override_count=summary.override_count,
            current_spend_micros=summary.spent_micros,
        )


class GroupsSpend(_Body):
    """``GET /api/v2/organizations/{org}/groups/ai/spend``; ``next`` is the ``after`` of the
    next page, null on the last."""

    period_start: datetime
    period_end: datetime
    groups: list[GroupSpend]
    next: UUID | None = None

    @classmethod
    def of(cls, window: PeriodWindow, rows: Sequence[GroupSummary], page: int) -> Self:
        return cls(
            period_start=window.start,
            period_end=window.end,
            groups=[GroupSpend.of(row) for row in rows],
            next=rows[-1].group_id if len(rows) == page else None,
        )


class OneGroupSpend(GroupSpend):
    """``GET /api/v2/groups/{group}/ai/spend``: the group's line, with the period."""

    period_start: datetime
    period_end: datetime

    @classmethod
    def of_group(cls, window: PeriodWindow, summary: GroupSummary) -> Self:
        return cls(
            period_start=window.start,
            period_end=window.end,
            **GroupSpend.of(summary).model_dump(),
        )


class MemberSpendLine(_Body):
    user_id: UUID
    effective_spend_limit_micros: int | None
    effective_limit_source: BudgetSource | None
    effective_group_id: UUID | None
    current_spend_micros: int
    remaining_micros: int | None
    over_budget: bool

    @classmethod
    def of(cls, row: MemberSpend) -> MemberSpendLine:
        return MemberSpendLine(
            user_id=row.user_id,
            effective_spend_limit_micros=row.spend_limit_micros,
            effective_limit_source=row.limit_source,
            effective_group_id=row.effective_group_id,
            current_spend_micros=row.spent_micros,
            remaining_micros=row.remaining_micros,
            over_budget=row.over_budget,
        )


class MembersSpend(_Body):
    """``GET /api/v2/groups/{group}/members/ai/spend``; ``next`` is the ``after`` of the next
    page, null on the last."""

    period_start: datetime
    period_end: datetime
    members: list[MemberSpendLine]
    next: UUID | None

    @classmethod
    def of(cls, window: PeriodWindow, rows: Sequence[MemberSpend], page: int) -> Self:
        return cls(
            period_start=window.start,
            period_end=window.end,
            members=[MemberSpendLine.of(row) for row in rows],
            next=rows[-1].user_id if len(rows) == page else None,
        )


class Price(_Body):
    """A stored price, in micros per million tokens; an unknown one is null, never 0."""

    provider: str
    model: str
    source: str
    input_price_micros: int | None
    output_price_micros: int | None
    cache_read_price_micros: int | None
    cache_write_price_micros: int | None

    @classmethod
    def of(cls, price: ModelPrice) -> Price:
        return Price(
            provider=price.provider,
            model=price.model,
            source=price.source,
            input_price_micros=price.input_price,
            output_price_micros=price.output_price,
            cache_read_price_micros=price.cache_read_price,
            cache_write_price_micros=price.cache_write_price,
        )


class Prices(_Body):
    prices: list[Price]

    @classmethod
    def of(cls, prices: Sequence[ModelPrice]) -> Self:
        return cls(prices=[Price.of(price) for price in prices])

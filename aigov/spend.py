"""Recorded spend (SPEC §8.2): usage records, the daily ledger and the period counters.

Recorded usage is a fact: it is always recorded, priced with the price in effect (snapshotted on
the record), attributed to the user's effective group, and added to the day's ledger and to the
period counter in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, NamedTuple
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

from aigov.cost import TOKEN_KINDS, Cost, TokenKind, TokenUsage
from aigov.directory import storable_text
from aigov.exceptions import BudgetExceededError, ConflictError
from aigov.money import Micros
from aigov.periods import PeriodWindow
from aigov.prices import ModelPrice, PriceSource
from aigov.resolution import BudgetSource, EffectiveBudget

__all__ = [
    "BudgetAndSpend",
    "DailySpend",
    "GroupSummary",
    "HoldOutcome",
    "HoldRequest",
    "IdempotencyKey",
    "MemberSpend",
    "Reservation",
    "ReservationState",
    "SpendCounter",
    "SpendStatus",
    "ThresholdCrossed",
    "UsageRecord",
    "budget_exceeded",
    "check_replay",
    "crossed_thresholds",
    "fits",
    "spend_status_of",
    "usage_record",
]

IdempotencyKey = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=255), AfterValidator(storable_text)
]


class ThresholdCrossed(BaseModel):
    """Recorded spend crossed ``percent`` of the limit (SPEC §8.4): one per ``(user, group,
    period, percent)``, kept in an outbox until the host acknowledges it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    user_id: UUID
    group_id: UUID
    period_start: AwareDatetime
    percent: int
    limit_micros: int
    spent_micros: int
    at: AwareDatetime


class UsageRecord(BaseModel):
    """One recorded usage, with the price it was charged at (None: unknown) and its cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    user_id: UUID
    effective_group_id: UUID
    organization_id: UUID
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    price_source: PriceSource | None
    input_price: int | None
    output_price: int | None
    cache_read_price: int | None
    cache_write_price: int | None
    cost_micros: Micros
    unpriced_kinds: tuple[TokenKind, ...]
    at: AwareDatetime
    day: date
    period_start: AwareDatetime
    idempotency_key: str | None = None
    reservation_id: UUID | None = None
    overrun_micros: Micros = 0
    threshold_events: tuple[ThresholdCrossed, ...] = ()

    @property
    def incomplete(self) -> bool:
        """Some kind had tokens but no known price: the cost counts the priced kinds only."""
        return bool(self.unpriced_kinds)

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(
            **{f"{kind}_tokens": getattr(self, f"{kind}_tokens") for kind in TOKEN_KINDS}
        )


ReservationState = Literal["held", "expired", "settled", "released"]


class Reservation(BaseModel):
    """A hold on a user's budget for a request in flight (SPEC §8.3), taken on the counter of
    ``(user_id, group_id, period_start)`` and freed from that counter whatever happens later."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    user_id: UUID
    group_id: UUID
    period_start: AwareDatetime
    amount_micros: Micros
    expires_at: AwareDatetime
    created_at: AwareDatetime
    state: ReservationState = "held"


class DailySpend(BaseModel):
    """The ledger: a user's spend attributed to one group on one UTC day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID
    effective_group_id: UUID
    organization_id: UUID
    day: date
    spend_micros: int


class SpendCounter(BaseModel):
    """A user's spend and holds against one group in one period (SPEC §8.3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID
    group_id: UUID
    period_start: AwareDatetime
    spent_micros: int
    held_micros: int


class HoldRequest(NamedTuple):
    """A hold to take on whichever counter the user's effective group has in the period: the
    store resolves the group and takes the hold in one operation (SPEC §8.3). ``Governance``
    builds it from values it has checked; ``on`` checks the rest of the reservation it becomes.
    Like ``HoldOutcome`` and ``BudgetAndSpend``, a named tuple: a plain record of values
    already checked, which the store unpacks."""

    id: UUID
    user_id: UUID
    period_start: datetime
    amount_micros: int
    expires_at: datetime
    created_at: datetime

    def on(self, group_id: UUID) -> Reservation:
        """The reservation this request becomes on ``group_id``'s counter, validated: the id
        comes from the host's id factory and the group from the store."""
        return Reservation.model_validate(
            {
                "id": self.id,
                "user_id": self.user_id,
                "group_id": group_id,
                "period_start": self.period_start,
                "amount_micros": self.amount_micros,
                "expires_at": self.expires_at,
                "created_at": self.created_at,
                "state": "held",
            }
        )


class HoldOutcome(NamedTuple):
    """What a store's reserve operation found and did: the effective budget it enforced, the
    reservation when the hold fit (None when it did not, or the user has no group), and the
    counter's spent and held as the decision saw them. A store builds it from values it has
    already checked."""

    effective: EffectiveBudget
    reservation: Reservation | None
    spent_micros: int
    held_micros: int


class BudgetAndSpend(NamedTuple):
    """A user's effective budget and, on its group's counter in one period, the spend and the
    live holds: the hot path's "may I still spend?" read, one query on PostgreSQL."""

    effective: EffectiveBudget
    spent_micros: int
    held_micros: int


class SpendStatus(BaseModel):
    """Where a user stands in the current period (SPEC §9): their limit and where it comes from,
    the group their spend goes to, the period, and what is spent, held and left."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID
    spend_limit_micros: int | None
    source: BudgetSource | None
    group_id: UUID | None
    period_start: AwareDatetime
    period_end: AwareDatetime
    spent_micros: int
    held_micros: int
    remaining_micros: int | None


class MemberSpend(BaseModel):
    """One member of a group in a group-members report (SPEC §9): their own effective limit
    (which may come from an override or another group), where their spend goes, and how much."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID
    spend_limit_micros: int | None
    limit_source: BudgetSource | None
    effective_group_id: UUID | None
    spent_micros: int
    remaining_micros: int | None
    over_budget: bool


class GroupSummary(BaseModel):
    """One group in a group summary (SPEC §9)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: UUID
    name: str
    per_member_limit_micros: int | None
    member_count: int
    override_count: int
    total_limit_micros: int | None
    spent_micros: int


def spend_status_of(user_id: UUID, found: BudgetAndSpend, window: PeriodWindow) -> SpendStatus:
    """Where ``user_id`` stands in ``window`` (SPEC §9), from what the store found: what is
    left of the limit after the spend and the live holds, never below 0."""
    effective, spent, held = found
    limit = effective.spend_limit_micros
    return SpendStatus.model_validate(
        {
            "user_id": user_id,
            "spend_limit_micros": limit,
            "source": effective.source,
            "group_id": effective.group_id,
            "period_start": window.start,
            "period_end": window.end,
            "spent_micros": spent,
            "held_micros": held,
            "remaining_micros": None if limit is None else max(0, limit - spent - held),
        }
    )


def usage_record(
    *,
    record_id: UUID,
    user_id: UUID,
    group_id: UUID,
    organization_id: UUID,
    provider: str,
    model: str,
    usage: TokenUsage,
    price: ModelPrice | None,
    cost: Cost,
    at: datetime,
    day: date,
    period_start: datetime,
    idempotency_key: str | None,
    reservation: Reservation | None = None,
) -> UsageRecord:
    """The record of one usage, snapshotting the price it was charged at."""
    prices = (
        {
            "input_price": None,
            "output_price": None,
            "cache_read_price": None,
            "cache_write_price": None,
        }
        if price is None
        else price.prices().model_dump()
    )
    return UsageRecord(
        id=record_id,
        user_id=user_id,
        effective_group_id=group_id,
        organization_id=organization_id,
        provider=provider,
        model=model,
        **usage.model_dump(),
        price_source=None if price is None else price.source,
        **prices,
        cost_micros=cost.micros,
        unpriced_kinds=cost.unpriced_kinds,
        at=at,
        day=day,
        period_start=period_start,
        idempotency_key=idempotency_key,
        reservation_id=None if reservation is None else reservation.id,
        overrun_micros=0
        if reservation is None
        else max(0, cost.micros - reservation.amount_micros),
    )


def crossed_thresholds(
    thresholds: tuple[int, ...], limit: int | None, spent_before: int, spent_after: int
) -> list[int]:
    """The percentages of ``limit`` that spend passed on its way from ``spent_before`` to
    ``spent_after`` (reaching a percentage exactly counts); none without a positive limit."""
    if limit is None or limit <= 0:
        return []
    return [
        percent
        for percent in thresholds
        if spent_before * 100 < percent * limit <= spent_after * 100
    ]


def fits(limit: int | None, spent: int, held: int, amount: int) -> bool:
    """The enforcement decision: ``spent + held + amount <= limit`` (no limit: always)."""
    return limit is None or spent + held + amount <= limit


def budget_exceeded(
    *, limit: int, spent: int, held: int, amount: int, group_id: UUID
) -> BudgetExceededError:
    remaining = max(0, limit - spent - held)
    return BudgetExceededError(
        f"a hold of {amount} micros does not fit: limit {limit}, spent {spent}, held {held}, "
        f"remaining {remaining}",
        limit_micros=limit,
        spent_micros=spent,
        held_micros=held,
        requested_micros=amount,
        remaining_micros=remaining,
        group_id=group_id,
    )


def check_replay(
    existing: UsageRecord, provider: str, model: str, usage: TokenUsage
) -> UsageRecord:
    """A usage recorded again under the same idempotency key: the original record when the
    payload is the same, else ConflictError (the key was reused for something else)."""
    if (existing.provider, existing.model, existing.usage) != (provider, model, usage):
        raise ConflictError(
            f"idempotency key {existing.idempotency_key!r} of user {existing.user_id} was used "
            "for another usage",
            constraint="ai_usage_records_user_id_idempotency_key_key",
        )
    return existing

"""The hot path's results, built from values already validated, are the validated models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from aigov.money import MAX_MICROS
from aigov.periods import period_window
from aigov.resolution import EffectiveBudget
from aigov.spend import BudgetAndSpend, HoldRequest, Reservation, SpendStatus, spend_status_of

# hypothesis takes naive bounds and attaches the time zone itself
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001
    max_value=datetime(9990, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
budgets = st.builds(
    EffectiveBudget,
    spend_limit_micros=st.none() | st.integers(0, MAX_MICROS),
    group_id=st.none() | st.uuids(),
    source=st.none() | st.sampled_from(["user_override", "group"]),
)
amounts = st.integers(0, MAX_MICROS)


def assert_same_model(built: BaseModel, validated: BaseModel) -> None:
    """Equal in every way a caller can see: values, fields set, JSON, hash and frozenness."""
    assert type(built) is type(validated)
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)
    assert hash(built) == hash(validated)
    first = next(iter(type(built).model_fields))
    with pytest.raises(ValidationError):
        setattr(built, first, getattr(built, first))
    assert built.model_copy(update={}) == validated


@given(st.uuids(), budgets, amounts, amounts, instants)
def test_a_spend_status_is_the_validated_model(user, effective, spent, held, now):
    """Built unvalidated from a store's ints, it equals the model validated from its fields."""
    window = period_window(now, "month")
    built = spend_status_of(user, BudgetAndSpend(effective, spent, held), window)
    limit = effective.spend_limit_micros
    validated = SpendStatus(
        user_id=user,
        spend_limit_micros=limit,
        source=effective.source,
        group_id=effective.group_id,
        period_start=window.start,
        period_end=window.end,
        spent_micros=spent,
        held_micros=held,
        remaining_micros=None if limit is None else max(0, limit - spent - held),
    )
    assert_same_model(built, validated)


def test_a_spend_status_from_numbers_that_are_not_ints_is_validated():
    """A store's numbers of another type are converted, or refused, by validation."""
    effective = EffectiveBudget(spend_limit_micros=100, group_id=UUID(int=1), source="group")
    window = period_window(datetime(2026, 11, 26, tzinfo=UTC), "month")
    status = spend_status_of(UUID(int=2), BudgetAndSpend(effective, Decimal(5), 6), window)
    assert type(status.spent_micros) is int
    assert status.spent_micros == 5
    with pytest.raises(ValidationError):
        spend_status_of(UUID(int=2), BudgetAndSpend(effective, Decimal("5.5"), 6), window)


@given(st.uuids(), st.uuids(), st.uuids(), instants, st.integers(1, MAX_MICROS))
def test_a_granted_hold_is_the_validated_reservation(hold, user, group, now, amount):
    """Built unvalidated from a request and a store's group, it equals the validated model."""
    request = HoldRequest(
        id=hold,
        user_id=user,
        period_start=period_window(now, "month").start,
        amount_micros=amount,
        expires_at=now + timedelta(minutes=10),
        created_at=now,
    )
    validated = Reservation(
        id=hold,
        user_id=user,
        group_id=group,
        period_start=request.period_start,
        amount_micros=amount,
        expires_at=request.expires_at,
        created_at=now,
        state="held",  # set, as on a reservation a store reads back
    )
    assert_same_model(request.on(group), validated)


def test_a_hold_id_or_group_that_is_not_a_uuid_is_validated():
    """An id factory's string, or a store's, becomes a UUID; anything else is refused."""
    now = datetime(2026, 11, 26, tzinfo=UTC)
    request = HoldRequest(str(UUID(int=3)), UUID(int=4), now, 5, now, now)  # type: ignore[arg-type]
    reservation = request.on(str(UUID(int=5)))  # type: ignore[arg-type]
    assert (reservation.id, reservation.group_id) == (UUID(int=3), UUID(int=5))
    with pytest.raises(ValidationError):
        request._replace(id="not a uuid").on(UUID(int=5))

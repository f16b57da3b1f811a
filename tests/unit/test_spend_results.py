"""The hot path's results are validated models: what a store or an id factory hands back is
converted, or refused, by validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from aigov.periods import period_window
from aigov.resolution import EffectiveBudget
from aigov.spend import BudgetAndSpend, HoldRequest, spend_status_of


def test_what_is_left_never_goes_below_zero():
    effective = EffectiveBudget(spend_limit_micros=100, group_id=UUID(int=1), source="group")
    window = period_window(datetime(2026, 11, 26, tzinfo=UTC), "month")
    status = spend_status_of(UUID(int=2), BudgetAndSpend(effective, 60, 30), window)
    assert status.remaining_micros == 10
    status = spend_status_of(UUID(int=2), BudgetAndSpend(effective, 90, 30), window)
    assert status.remaining_micros == 0
    unlimited = EffectiveBudget(spend_limit_micros=None, group_id=UUID(int=1), source=None)
    assert (
        spend_status_of(UUID(int=2), BudgetAndSpend(unlimited, 90, 30), window).remaining_micros
        is None
    )


def test_a_spend_status_from_numbers_that_are_not_ints_is_validated():
    """A store's numbers of another type are converted, or refused, by validation."""
    effective = EffectiveBudget(spend_limit_micros=100, group_id=UUID(int=1), source="group")
    window = period_window(datetime(2026, 11, 26, tzinfo=UTC), "month")
    status = spend_status_of(UUID(int=2), BudgetAndSpend(effective, Decimal(5), 6), window)
    assert type(status.spent_micros) is int
    assert status.spent_micros == 5
    with pytest.raises(ValidationError):
        spend_status_of(UUID(int=2), BudgetAndSpend(effective, Decimal("5.5"), 6), window)


def test_a_hold_id_or_group_that_is_not_a_uuid_is_validated():
    """An id factory's string, or a store's, becomes a UUID; anything else is refused."""
    now = datetime(2026, 11, 26, tzinfo=UTC)
    request = HoldRequest(str(UUID(int=3)), UUID(int=4), now, 5, now, now)  # type: ignore[arg-type]
    reservation = request.on(str(UUID(int=5)))  # type: ignore[arg-type]
    assert (reservation.id, reservation.group_id) == (UUID(int=3), UUID(int=5))
    assert reservation.state == "held"
    with pytest.raises(ValidationError):
        request._replace(id="not a uuid").on(UUID(int=5))

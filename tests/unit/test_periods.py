"""SPEC §8.1: periods are half-open UTC intervals that tile time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigov import InvalidInputError
from aigov.periods import FIRST_SUPPORTED, LAST_SUPPORTED, period_window, utc_day

PERIODS = ["day", "week", "month"]
# hypothesis takes naive bounds and attaches the time zone itself
instants = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=datetime(9998, 12, 31, 23, 59, 59, 999999),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(instant=instants, period=st.sampled_from(PERIODS))
def test_every_instant_lies_in_exactly_its_period(instant, period):
    window = period_window(instant, period)
    assert window.start <= instant < window.end
    if window.start >= FIRST_SUPPORTED:  # the first week of 1970 starts in 1969
        assert period_window(window.start, period) == window
    assert period_window(window.end - timedelta(microseconds=1), period) == window


@given(instant=instants, period=st.sampled_from(PERIODS))
def test_periods_tile_time_without_gaps(instant, period):
    window = period_window(instant, period)
    if window.end < LAST_SUPPORTED:
        assert period_window(window.end, period).start == window.end
    if window.start > FIRST_SUPPORTED:
        assert period_window(window.start - timedelta(microseconds=1), period).end == window.start


def test_weeks_start_on_monday_and_months_on_the_first():
    wednesday = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    week = period_window(wednesday, "week")
    assert (week.start, week.end) == (
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    )
    december = period_window(datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "month")
    assert (december.start, december.end) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    leap = period_window(datetime(2028, 2, 29, tzinfo=UTC), "month")
    assert leap.end - leap.start == timedelta(days=29)


def test_days_are_utc_days_whatever_the_callers_zone():
    tokyo = timezone(timedelta(hours=9))
    late_in_tokyo = datetime(2026, 1, 2, 3, 0, tzinfo=tokyo)  # 2026-01-01 18:00 UTC
    assert utc_day(late_in_tokyo).isoformat() == "2026-01-01"
    assert period_window(late_in_tokyo, "day").start == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 1, 1),  # noqa: DTZ001 - naive on purpose
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
        "2026-01-01",
    ],
)
def test_naive_and_unsupported_instants_are_invalid(instant):
    with pytest.raises(InvalidInputError):
        period_window(instant, "month")


def test_an_unknown_period_is_invalid():
    with pytest.raises(InvalidInputError):
        period_window(datetime(2026, 1, 1, tzinfo=UTC), "year")  # type: ignore[arg-type]

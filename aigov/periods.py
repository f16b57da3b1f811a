"""Budget periods (SPEC §8.1): a day, an ISO week (from Monday 00:00 UTC) or a calendar month,
each the half-open interval ``[start, end)`` in UTC, computed here and never by a session's time
zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from aigov.exceptions import InvalidInputError

__all__ = [
    "FIRST_SUPPORTED",
    "LAST_SUPPORTED",
    "Period",
    "PeriodWindow",
    "check_instant",
    "period_window",
    "utc_day",
]

Period = Literal["day", "week", "month"]

FIRST_SUPPORTED: Final = datetime(1970, 1, 1, tzinfo=UTC)
LAST_SUPPORTED: Final = datetime(9999, 1, 1, tzinfo=UTC)  # exclusive: years 1970 … 9998


class PeriodWindow(BaseModel):
    """One period: ``start <= instant < end``, both in UTC."""

    model_config = ConfigDict(frozen=True)

    period: Period
    start: datetime
    end: datetime


def check_instant(instant: datetime, what: str = "instant") -> datetime:
    """``instant`` in UTC; InvalidInputError when it is naive or outside the years 1970 … 9998."""
    if not isinstance(instant, datetime):
        raise InvalidInputError(f"{what} must be a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInputError(f"{what} {instant!r} is naive: give a time zone")
    try:
        utc = instant.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInputError(f"{what} {instant!r} is outside the years 1970 … 9998") from exc
    if not FIRST_SUPPORTED <= utc < LAST_SUPPORTED:
        raise InvalidInputError(f"{what} {instant!r} is outside the years 1970 … 9998")
    return utc


def utc_day(instant: datetime) -> date:
    """The UTC calendar day of ``instant``: the day its spend is kept under."""
    return check_instant(instant).date()


def period_window(instant: datetime, period: Period) -> PeriodWindow:
    """The period of kind ``period`` that contains ``instant``."""
    utc = check_instant(instant)
    if period not in ("day", "week", "month"):
        raise InvalidInputError(f"period must be 'day', 'week' or 'month', not {period!r}")
    return _window_of_day(utc.date(), period)


@lru_cache(maxsize=64)
def _window_of_day(day: date, period: Period) -> PeriodWindow:
    """A period depends only on the UTC day: the hot path asks for the same few, so they are
    built once (a window is frozen)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if period == "day":
        end = start + timedelta(days=1)
    elif period == "week":
        start -= timedelta(days=start.weekday())
        end = start + timedelta(days=7)
    else:
        start = start.replace(day=1)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    return PeriodWindow(period=period, start=start, end=end)

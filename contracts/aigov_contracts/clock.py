"""A clock the tests move by hand, so that periods, expiry and timestamps are reproducible."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class ManualClock:
    """Returns the same instant until moved with ``advance`` or ``set``. Thread-safe."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = self._checked(start)
        self._lock = threading.Lock()

    @staticmethod
    def _checked(instant: datetime) -> datetime:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("ManualClock needs an aware datetime")
        return instant

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = self._checked(instant)

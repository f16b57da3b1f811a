"""Where "now" comes from. The core's rules take ``now`` as a parameter; the facade asks a clock,
which callers replace (tests, simulations) so that periods and expiry are reproducible."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], datetime]
"""A function returning the current instant as an aware datetime."""


def system_clock() -> datetime:
    """The machine's clock, in UTC: the default clock of ``Governance``."""
    return datetime.now(UTC)

"""Where "now" and new ids come from. The core's rules take both as parameters; the facade asks
a clock and an id factory, which callers replace (tests, simulations) to make runs reproducible."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

__all__ = ["Clock", "IdFactory", "random_ids", "system_clock"]

Clock = Callable[[], datetime]
"""A function returning the current instant as an aware datetime."""


def system_clock() -> datetime:
    """The machine's clock, in UTC: the default clock of ``Governance``."""
    return datetime.now(UTC)


IdFactory = Callable[[], UUID]
"""A function returning a new, unique id (for usage records and reservations)."""


random_ids: IdFactory = uuid4
"""Random (version 4) UUIDs: the default id factory of ``Governance`` (``uuid.uuid4`` itself:
a wrapper would cost the hot path a call)."""

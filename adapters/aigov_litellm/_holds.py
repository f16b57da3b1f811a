"""The calls in flight and their holds, by ``litellm_call_id``: bounded by the hold's TTL.

LiteLLM's success and failure events carry the request's ``litellm_call_id`` and nothing of
ours, so the hold taken before a call is found again by it. An entry leaves when its call is
settled or released, and, because a cancelled call gets no event at all, at the first insert
after its TTL: the registry never holds more than the calls of one TTL. Entries are taken out
before anything is awaited on them, so a success LiteLLM reports twice settles once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from aigov import TokenUsage
from aigov_litellm._models import ModelKey

__all__ = ["Hold", "HoldRegistry"]


@dataclass(frozen=True)
class Hold:
    """What one call holds: its user, the price-book key it is priced by, the usage it was
    estimated at, and its reservation (None for a model that costs nothing: no hold to take,
    the usage is recorded after the call)."""

    user_id: UUID
    key: ModelKey
    estimate: TokenUsage
    reservation_id: UUID | None


class HoldRegistry:
    """Holds by call id, each kept until it is taken or its TTL has passed. Thread-safe: LiteLLM
    may report from another thread than the one that called."""

    def __init__(self, ttl: timedelta, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        # Insertion order is expiry order, but for how long each reserve took: the sweep stops
        # at the first live entry, so an entry may stay that much longer, never more.
        self._entries: OrderedDict[str, tuple[float, Hold]] = OrderedDict()
        self._finishing = 0

    def __len__(self) -> int:
        """Holds kept, and holds taken whose settle or release has not finished."""
        with self._lock:
            return len(self._entries) + self._finishing

    def now(self) -> float:
        """The registry's clock: read it before reserving, and ``put`` the hold with it."""
        return self._clock()

    def put(self, call_id: str, hold: Hold, *, since: float) -> None:
        """Keep ``hold`` for ``call_id`` for one TTL from ``since`` (replacing what the id held),
        and drop the entries whose TTL has passed. ``since`` is read before the hold is asked
        for, so that no entry outlives its hold."""
        now = self._clock()
        with self._lock:
            self._entries.pop(call_id, None)
            self._entries[call_id] = (since + self._ttl, hold)
            while self._entries:
                deadline, _ = next(iter(self._entries.values()))
                if deadline > now:
                    break
                self._entries.popitem(last=False)

    def live(self, call_id: str) -> Hold | None:
        """The hold of ``call_id`` if its TTL has not passed, left in place."""
        with self._lock:
            entry = self._entries.get(call_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def take(self, call_id: str) -> Hold | None:
        """Remove and return the hold of ``call_id`` (None if there is none, or it was taken):
        whoever takes it settles or releases it, once, and then calls ``finished``."""
        with self._lock:
            entry = self._entries.pop(call_id, None)
            if entry is None:
                return None
            self._finishing += 1
            return entry[1]

    def finished(self) -> None:
        """A hold that ``take`` gave out is settled or released (or failed to be)."""
        with self._lock:
            self._finishing -= 1

"""The registry of calls in flight: each hold taken once, none kept past its TTL."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from aigov import TokenUsage
from aigov_litellm._holds import Hold, HoldRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def hold() -> Hold:
    return Hold(uuid4(), ("openai", "gpt-4o"), TokenUsage(input_tokens=1), uuid4())


def test_a_hold_is_taken_once():
    holds = HoldRegistry(timedelta(minutes=10))
    kept = hold()
    holds.put("call", kept, since=holds.now())
    assert holds.take("call") is kept
    assert holds.take("call") is None
    assert len(holds) == 1  # taken, not yet finished
    holds.finished()
    assert len(holds) == 0


def test_a_hold_is_live_until_its_ttl_and_dropped_at_the_next_put_after_it():
    clock = Clock()
    holds = HoldRegistry(timedelta(seconds=60), clock=clock)
    holds.put("old", hold(), since=clock.now - 1)  # asked for one second before it was kept
    clock.now += 58.5
    assert holds.live("old") is not None
    clock.now += 0.5
    assert holds.live("old") is None  # 60 s since it was asked for
    assert len(holds) == 1  # still there: a late success may still settle it
    holds.put("new", hold(), since=clock.now)
    assert holds.take("old") is None
    assert len(holds) == 1


def test_the_registry_never_keeps_more_than_the_calls_of_one_ttl():
    clock = Clock()
    holds = HoldRegistry(timedelta(seconds=10), clock=clock)
    for second in range(100):
        clock.now = 100.0 + second
        holds.put(f"call-{second}", hold(), since=clock.now)
        assert len(holds) <= 10
    assert len(holds) == 10


def test_putting_a_call_again_replaces_its_hold_and_its_ttl():
    clock = Clock()
    holds = HoldRegistry(timedelta(seconds=10), clock=clock)
    holds.put("call", hold(), since=clock.now)
    clock.now += 9
    again = hold()
    holds.put("call", again, since=clock.now)
    clock.now += 9
    holds.put("other", hold(), since=clock.now)
    assert holds.live("call") is again

"""The demo's story: one organization, its people and budgets, and one working day of requests.

Everything is fixed (ids are uuid5 of names, the day is a date, the traffic comes from a seeded
generator), so two runs print the same report and the docs can name the ids.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID, uuid5

from aigov import TokenUsage
from aigov.directory import OrganizationRole

__all__ = [
    "BUDGETS",
    "DAY",
    "END_OF_DAY",
    "GROUPS",
    "ORGANIZATION",
    "OVERRIDES",
    "PEOPLE",
    "RECORDED",
    "Person",
    "Recorded",
    "Request",
    "demo_id",
    "requests",
]

NAMESPACE: Final = UUID("6f1c1a8e-0d5b-5c36-9a43-2b7f4c1e9d20")


def demo_id(kind: str, name: str) -> UUID:
    """The fixed id of a demo organization, group, user or record."""
    return uuid5(NAMESPACE, f"aigov-demo/{kind}/{name}")


DAY: Final = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
"""A Monday morning: the simulated day runs from 08:00 to 18:00 UTC."""
END_OF_DAY: Final = DAY + timedelta(hours=10)

ORGANIZATION: Final = "Acme"
GROUPS: Final = ("engineering", "research", "support")
BUDGETS: Final = {  # per member per month, in micros; "Everyone" is the organization's group
    "Everyone": 2_000_000,
    "engineering": 5_000_000,
    "research": 9_000_000,
    "support": 4_000_000,
}
OVERRIDES: Final = (("cho", "research", 15_000_000),)
"""cho works in two groups; her own limit supersedes both budgets and her spend goes to research."""

SONNET: Final = ("anthropic", "claude-sonnet-4-5")
HAIKU: Final = ("anthropic", "claude-haiku-4-5")
OPUS: Final = ("anthropic", "claude-opus-4-1")
GPT5: Final = ("openai", "gpt-5")
GPT5_MINI: Final = ("openai", "gpt-5-mini")
O3: Final = ("openai", "o3")


@dataclass(frozen=True)
class Person:
    name: str
    roles: tuple[OrganizationRole, ...]
    groups: tuple[str, ...]
    models: tuple[tuple[str, str], ...]
    requests: int


PEOPLE: Final = (
    Person("ann", ("organization-admin",), ("engineering",), (SONNET, GPT5), 8),
    Person("bob", (), ("engineering",), (SONNET, HAIKU), 14),
    Person("cho", (), ("engineering", "research"), (OPUS, GPT5), 10),
    Person("dev", (), ("research",), (OPUS, O3), 9),
    Person("eve", (), ("support",), (GPT5_MINI, HAIKU), 12),
    Person("fay", (), ("support",), (GPT5_MINI,), 8),
    Person("gus", (), (), (GPT5, SONNET), 6),
)


@dataclass(frozen=True)
class Request:
    """A request through the gateway: reserved for its expected usage, then settled with what it
    really used; one that is still running at the end of the day is never settled."""

    at: datetime
    user: str
    provider: str
    model: str
    expected: TokenUsage
    actual: TokenUsage | None


@dataclass(frozen=True)
class Recorded:
    """Usage recorded after the fact (a batch job, a tool that cannot reserve)."""

    at: datetime
    user: str
    provider: str
    model: str
    usage: TokenUsage
    idempotency_key: str


RECORDED: Final = (
    # The nightly embedding batch reports its usage, and its retry reports it again: counted once.
    Recorded(
        DAY - timedelta(hours=6),
        "dev",
        "openai",
        "text-embedding-3-large",
        TokenUsage(input_tokens=10_000_000),
        "embeddings-2026-03-02",
    ),
    Recorded(
        DAY - timedelta(hours=6) + timedelta(minutes=5),
        "dev",
        "openai",
        "text-embedding-3-large",
        TokenUsage(input_tokens=10_000_000),
        "embeddings-2026-03-02",
    ),
    # An image model the price book has no price for: recorded, flagged incomplete, never free.
    Recorded(
        DAY + timedelta(hours=5, minutes=12),
        "gus",
        "openai",
        "gpt-image-1",
        TokenUsage(input_tokens=1_200, output_tokens=4_000),
        "gus-image-1",
    ),
)


def requests(seed: int = 20260302) -> list[Request]:
    """The day's traffic in time order: each person's requests at random minutes, plus two that
    tell the story: fay's long job that her budget refuses, and bob's job still running at 18:00."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
    traffic: list[Request] = []
    for person in PEOPLE:
        for _ in range(person.requests):
            provider, model = rng.choice(person.models)
            prompt = rng.randrange(20_000, 200_000, 1_000)
            answer = rng.randrange(2_000, 16_000, 500)
            traffic.append(
                Request(
                    at=DAY + timedelta(minutes=rng.randrange(0, 600)),
                    user=person.name,
                    provider=provider,
                    model=model,
                    expected=TokenUsage(input_tokens=prompt, output_tokens=answer),
                    actual=TokenUsage(
                        input_tokens=prompt, output_tokens=int(answer * rng.uniform(0.3, 1.0))
                    ),
                )
            )
    fay_long = TokenUsage(input_tokens=150_000, output_tokens=32_000)
    traffic.append(Request(DAY + timedelta(hours=8, minutes=30), "fay", *OPUS, fay_long, fay_long))
    bob_long = TokenUsage(input_tokens=60_000, output_tokens=8_000)
    traffic.append(Request(END_OF_DAY - timedelta(minutes=2), "bob", *SONNET, bob_long, None))
    return sorted(traffic, key=lambda r: (r.at, r.user))

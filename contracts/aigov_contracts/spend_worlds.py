"""Random worlds with spend in them, and the law that every report of such a world equals its
brute-force recomputation from the usage records (``aigov_contracts.recomputation``).

The equivalence machine explores operations one at a time and rarely reaches a world where
several users have spent in several groups; here each example builds one directly: organizations
(one maybe deleted), groups, memberships joined in a random order, budgets, overrides, then
usage, holds, settlements, releases and departures at random instants, under random settings.
Use it as::

    test_reports_of_my_store = report_recomputation_test(my_store_factory)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from aigov import AI_GOVERNANCE, Actor, AigovError, Governance, Store
from aigov.cost import TokenUsage
from aigov.prices import PRICE_FIELDS
from aigov_contracts import recomputation as again
from aigov_contracts import strategies as ds
from aigov_contracts.clock import ManualClock

__all__ = ["SpendWorld", "report_recomputation_test", "spend_worlds"]

SYSTEM = Actor.system()
ORGANIZATIONS = ds.ORGANIZATION_IDS[:2]
USERS = ds.USER_IDS
GROUPS = ds.GROUP_IDS
PRICED, UNPRICED = ("openai", "gpt-x"), ("openai", "o9")
LIMITS = (0, 500, 20_000, 10**6)


@dataclass(frozen=True)
class SpendWorld:
    """A world to build, then the things that happen in it, in order."""

    period: str
    policy: str
    group_organizations: tuple[int, ...]
    memberships: tuple[tuple[int, int], ...]
    group_memberships: tuple[tuple[int, int], ...]
    budgets: tuple[tuple[UUID, int], ...]
    overrides: tuple[tuple[int, UUID, int], ...]
    delete_second_organization: bool
    events: tuple[tuple[Any, ...], ...]


_user = st.integers(0, len(USERS) - 1)
_tokens = st.integers(0, 5_000)
_usage = st.tuples(
    st.just("usage"),
    _user,
    st.sampled_from([PRICED, PRICED, UNPRICED]),
    _tokens,
    st.integers(-60, 2),
)
_events = st.one_of(
    _usage,
    _usage,
    st.tuples(st.just("reserve"), _user, st.sampled_from([100, 5_000, 50_000])),
    st.tuples(st.just("settle"), st.integers(0, 20), _tokens),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("leave"), _user, st.integers(0, len(GROUPS) - 1)),
    st.tuples(st.just("wait"), st.sampled_from([1, 3_600, 86_400, 86_400 * 9])),
)


def spend_worlds() -> st.SearchStrategy[SpendWorld]:
    org = st.integers(0, len(ORGANIZATIONS) - 1)
    group = st.integers(0, len(GROUPS) - 1)
    return st.builds(
        SpendWorld,
        period=st.sampled_from(["day", "week", "month"]),
        policy=st.sampled_from(["highest", "lowest"]),
        group_organizations=st.tuples(*[org] * len(GROUPS)),
        memberships=st.lists(st.tuples(_user, org), min_size=2, max_size=8).map(tuple),
        group_memberships=st.lists(st.tuples(_user, group), max_size=8).map(tuple),
        budgets=st.lists(
            st.tuples(st.sampled_from(GROUPS + ORGANIZATIONS), st.sampled_from(LIMITS)),
            max_size=5,
        ).map(tuple),
        overrides=st.lists(
            st.tuples(_user, st.sampled_from(GROUPS + ORGANIZATIONS), st.sampled_from(LIMITS)),
            max_size=3,
        ).map(tuple),
        delete_second_organization=st.booleans(),
        events=st.lists(_events, min_size=4, max_size=30).map(tuple),
    )


def _attempt(call: Callable[[], Any]) -> Any:
    """Run one step of the world; a refusal (over budget, not a member, …) is part of it."""
    with suppress(AigovError):
        return call()
    return None


def build(world: SpendWorld, store: Store) -> tuple[Governance, ManualClock]:
    clock = ManualClock()
    gov = Governance(
        store,
        entitlements={AI_GOVERNANCE},
        period=world.period,  # type: ignore[arg-type]
        budget_policy=world.policy,  # type: ignore[arg-type]
        clock=clock,
    )
    for n, org_id in enumerate(ORGANIZATIONS):
        gov.create_organization(SYSTEM, org_id, f"org {n}", is_default=n == 0)
    for n, user_id in enumerate(USERS):
        gov.create_user(SYSTEM, user_id, f"user {n}")
    for group_id, org in zip(GROUPS, world.group_organizations, strict=True):
        gov.create_group(SYSTEM, group_id, ORGANIZATIONS[org], f"group {group_id.int % 100}")
    provider, model = PRICED
    gov.apply_price_book(
        [{"provider": provider, "model": model} | dict.fromkeys(PRICE_FIELDS, 3_000_000)]
    )
    for user, org in world.memberships:
        clock.advance(timedelta(seconds=1))  # joining order decides ties (SPEC §7)
        _attempt(partial(gov.add_organization_member, SYSTEM, USERS[user], ORGANIZATIONS[org]))
    for user, group in world.group_memberships:
        _attempt(partial(gov.add_group_member, SYSTEM, USERS[user], GROUPS[group]))
    for group_id, limit in world.budgets:
        _attempt(partial(gov.upsert_group_budget, SYSTEM, group_id, limit))
    for user, group_id, limit in world.overrides:
        _attempt(partial(gov.upsert_user_budget_override, SYSTEM, USERS[user], group_id, limit))
    if world.delete_second_organization:
        gov.delete_organization(SYSTEM, ORGANIZATIONS[1])
    holds: list[UUID] = []
    for event in world.events:
        _happen(gov, clock, holds, event)
    return gov, clock


def _happen(gov: Governance, clock: ManualClock, holds: list[UUID], event: tuple[Any, ...]) -> None:
    match event:
        case ("usage", user, (provider, model), tokens, hours):
            at = clock() + timedelta(hours=hours)
            usage = TokenUsage(input_tokens=tokens, output_tokens=tokens // 3)
            _attempt(lambda: gov.record_usage(USERS[user], provider, model, usage, at=at))
        case ("reserve", user, amount):
            hold = _attempt(lambda: gov.reserve(USERS[user], amount))
            if hold is not None:
                holds.append(hold.id)
        case ("settle", n, tokens) if holds:
            usage = TokenUsage(input_tokens=tokens)
            _attempt(lambda: gov.settle(holds[n % len(holds)], *PRICED, usage))
        case ("release", n) if holds:
            _attempt(lambda: gov.release(holds[n % len(holds)]))
        case ("leave", user, group):
            _attempt(lambda: gov.remove_group_member(SYSTEM, USERS[user], GROUPS[group]))
        case ("wait", seconds):
            clock.advance(timedelta(seconds=seconds))


def check_reports(gov: Governance, clock: ManualClock) -> None:
    """Every report of every group, organization and user equals its recomputation."""
    snapshot = gov.store.snapshot()
    settings, now = gov.settings, clock()
    context: dict[str, Any] = {"period": settings.period, "now": now}
    for user in USERS:
        assert gov.spend_status(SYSTEM, user) == again.expected_spend_status(
            snapshot, user, policy=settings.budget_policy, **context
        )
    for group in [g.id for g in snapshot.groups]:
        for over in (False, True):
            report = gov.group_members_report(SYSTEM, group, over_budget_only=over)
            assert list(report) == again.expected_members_report(
                snapshot, group, policy=settings.budget_policy, over_budget_only=over, **context
            )
    day = now.date()
    start, end = day - timedelta(days=10), day + timedelta(days=1)
    for org in (o.id for o in snapshot.organizations if not o.deleted):
        summary = gov.group_summary(SYSTEM, org)
        assert list(summary) == again.expected_group_summary(snapshot, org, **context)
        exported = gov.export_organization_spend(SYSTEM, org, start=start, end=end)
        assert list(exported)[1:] == [
            f"{user},{group},{day},{spend}\r\n"
            for user, group, day, spend in again.expected_export(snapshot, org, start, end)
        ]


def report_recomputation_test(store_factory: Callable[[], Store]) -> Callable[..., None]:
    """A Hypothesis test: on a fresh store from ``store_factory`` per example, build a random
    world and check every report against its brute-force recomputation."""

    @given(world=spend_worlds())
    def test_reports_equal_their_recomputation(world: SpendWorld) -> None:
        store = store_factory()
        try:
            check_reports(*build(world, store))
        finally:
            store.close()

    return test_reports_equal_their_recomputation

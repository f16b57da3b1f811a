"""Directory rules and enforcement under concurrency: opted into by stores that can open several
handles on the same data (the ``store_factory`` fixture: a picklable callable returning a new store
each call)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from threading import Barrier
from typing import NamedTuple, TypeVar
from uuid import UUID, uuid4

import pytest

from aigov import (
    AI_GOVERNANCE,
    Actor,
    BudgetExceededError,
    ConflictError,
    Governance,
    MembershipInvariantError,
    Reservation,
    Store,
    TokenUsage,
    UsageRecord,
)
from aigov_contracts._fixtures import GovernanceFixtures
from aigov_contracts.clock import ManualClock
from aigov_contracts.facades import GovernanceFactory

__all__ = ["DirectoryConcurrencyContract", "EnforcementConcurrencyContract", "StoreFactory"]

StoreFactory = Callable[[], Store]
SYSTEM = Actor.system()
ROUNDS = 25


@pytest.mark.aigov_store_factory
class DirectoryConcurrencyContract(GovernanceFixtures):
    """Racing "join a group" against "leave the organization" from two store handles never
    leaves a group member outside the group's organization."""

    def test_join_group_racing_leave_organization_keeps_the_rule(
        self, store_factory: StoreFactory, facade: GovernanceFactory
    ) -> None:
        stores = [store_factory(), store_factory()]
        try:
            first, second = (facade(s, entitlements={AI_GOVERNANCE}) for s in stores)
            org, group = uuid4(), uuid4()
            first.create_organization(SYSTEM, org, "Acme")
            first.create_group(SYSTEM, group, org, "engineering")
            for _ in range(ROUNDS):
                user = uuid4()
                first.create_user(SYSTEM, user, "racer")
                first.add_organization_member(SYSTEM, user, org)
                barrier = Barrier(2)

                def join(user: UUID = user, barrier: Barrier = barrier) -> None:
                    barrier.wait()
                    # Refused when the membership went first: the rule held either way.
                    with suppress(MembershipInvariantError):
                        first.add_group_member(SYSTEM, user, group)

                def leave(user: UUID = user, barrier: Barrier = barrier) -> None:
                    barrier.wait()
                    second.remove_organization_member(SYSTEM, user, org)

                with ThreadPoolExecutor(2) as pool:
                    for future in [pool.submit(join), pool.submit(leave)]:
                        future.result()

                assert not first.is_group_member(user, group)
                assert not second.is_group_member(user, group)
                assert user not in second.list_group_members(group)
        finally:
            for s in stores:
                s.close()


# -- enforcement (SPEC §8.3) ---------------------------------------------------------------------

T = TypeVar("T")
THREADS = 16  # racing threads, sharing HANDLES store handles (on PostgreSQL, connection pools)
HANDLES = 4
ATTEMPTS = 3  # reservations each thread tries in a race
LIMIT = 1_000_000
HOLD = 70_000
SPENT_BEFORE_RACES = (0, 65_000, 330_000, 790_000, LIMIT) * 2  # then 14, 13, 9, 3, 0 holds fit
BOOK_ROUNDS = 8
MODEL = ("p", "m")
ONE_PER_TOKEN = {"provider": "p", "model": "m", "input_price": 1_000_000, "output_price": 0,
                 "cache_read_price": 0, "cache_write_price": 0}  # fmt: skip
Outcome = UsageRecord | Reservation | ConflictError
Call = Callable[[Governance], Outcome]


class UserBooks(NamedTuple):
    usage_micros: int  # the cost of the user's usage records
    ledger_micros: int  # their daily spend
    spent_micros: int  # their counters' spent
    held_micros: int  # and held
    states: dict[UUID, str]  # the state of each of their reservations
    settled: list[UUID]  # the reservation of each usage record that has one, sorted


def books_of(store: Store, user: UUID) -> UserBooks:
    """One user's books, from one consistent read of the store."""
    read = store.snapshot()
    return UserBooks(
        sum(u.cost_micros for u in read.usage if u.user_id == user),
        sum(d.spend_micros for d in read.daily_spend if d.user_id == user),
        sum(c.spent_micros for c in read.counters if c.user_id == user),
        sum(c.held_micros for c in read.counters if c.user_id == user),
        {r.id: r.state for r in read.reservations if r.user_id == user},
        sorted(u.reservation_id for u in read.usage if u.user_id == user and u.reservation_id),
    )


def run_together(work: Sequence[Callable[[], T]]) -> list[T]:
    """Each callable in a thread of its own, all released at once: their results, in order."""
    barrier = Barrier(len(work), timeout=60)

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(work)) as pool:
        return [future.result() for future in [pool.submit(run, call) for call in work]]


def race_for_holds(governances: Sequence[Governance], user: UUID) -> list[Reservation]:
    """THREADS threads each try ATTEMPTS holds of HOLD on ``user`` (odd threads through
    ``reserve_for``): the holds granted. Every refusal must say that the hold did not fit."""

    def attempts(thread: int) -> list[Reservation]:
        gov = governances[thread % len(governances)]
        granted, refusals = [], []
        for _ in range(ATTEMPTS):
            try:
                if thread % 2:
                    granted.append(gov.reserve_for(user, *MODEL, TokenUsage(input_tokens=HOLD)))
                else:
                    granted.append(gov.reserve(user, HOLD))
            except BudgetExceededError as refused:
                refusals.append(refused)
        for refusal in refusals:
            assert (refusal.limit_micros, refusal.requested_micros) == (LIMIT, HOLD)
            assert refusal.spent_micros + refusal.held_micros + HOLD > LIMIT
        return granted

    made = run_together([functools.partial(attempts, thread) for thread in range(THREADS)])
    return [hold for granted in made for hold in granted]


def _settle(hold: UUID, usage: TokenUsage, gov: Governance) -> UsageRecord | ConflictError:
    try:
        return gov.settle(hold, *MODEL, usage)
    except ConflictError as released:
        return released


def _release(hold: UUID, gov: Governance) -> Reservation | ConflictError:
    try:
        return gov.release(hold)
    except ConflictError as settled:
        return settled


def _make(calls: Sequence[Call], gov: Governance) -> list[Outcome]:
    return [call(gov) for call in calls]


SETTLE_TWICE, RELEASE_TWICE, SETTLE_AND_RELEASE = range(3)


def _race_to_end(
    governances: Sequence[Governance], holds: Sequence[Reservation], usage: dict[UUID, TokenUsage]
) -> dict[UUID, UsageRecord]:
    """Two racing calls on each hold, from threads on two handles: settle and settle (the same
    usage: one record), release and release, or settle and release (one wins, the other is
    ConflictError). The holds settled, with their records."""
    calls: list[Call] = []
    for i, hold in enumerate(holds):
        settle: Call = functools.partial(_settle, hold.id, usage[hold.id])
        release: Call = functools.partial(_release, hold.id)
        calls += ([settle, settle], [release, release], [settle, release])[i % 3]
    # Thread t makes calls t, t + THREADS, ...: the two calls on a hold start together.
    work = [
        functools.partial(_make, calls[t::THREADS], governances[t % len(governances)])
        for t in range(THREADS)
    ]
    made = run_together(work)
    outcomes = [made[k % THREADS][k // THREADS] for k in range(len(calls))]
    settled: dict[UUID, UsageRecord] = {}
    for i, hold in enumerate(holds):
        first, second = outcomes[2 * i], outcomes[2 * i + 1]
        if i % 3 == SETTLE_TWICE:
            assert isinstance(first, UsageRecord)
            assert first == second
        elif i % 3 == RELEASE_TWICE:
            assert isinstance(first, Reservation)
            assert isinstance(second, Reservation)
            assert (first.state, second.state) == ("released", "released")
        else:
            assert [isinstance(o, ConflictError) for o in (first, second)].count(True) == 1
        if isinstance(first, UsageRecord):
            settled[hold.id] = first
    return settled


@pytest.mark.aigov_store_factory
class EnforcementConcurrencyContract(GovernanceFixtures):
    """Reservations racing from many threads and store handles hold exactly what fits the limit,
    and settles and releases racing on the same holds leave the books balanced: no hold left,
    each settle counted once, usage, ledger and counters agreeing to the micro."""

    @pytest.fixture
    def governances(
        self, facade: GovernanceFactory, store_factory: StoreFactory
    ) -> Iterator[list[Governance]]:
        """A facade on each of HANDLES store handles, all on one clock."""
        stores = [store_factory() for _ in range(HANDLES)]
        try:
            clock = ManualClock()
            yield [facade(s, entitlements={AI_GOVERNANCE}, clock=clock) for s in stores]
        finally:
            for s in stores:
                s.close()

    @pytest.fixture
    def org(self, governances: list[Governance]) -> UUID:
        """An organization whose members have a limit of LIMIT, and a price of 1 micro a token."""
        gov, org = governances[0], uuid4()
        gov.create_organization(SYSTEM, org, "Acme")
        gov.upsert_group_budget(SYSTEM, org, LIMIT)
        gov.apply_price_book([ONE_PER_TOKEN])
        return org

    @staticmethod
    def _racer(gov: Governance, org: UUID) -> UUID:
        user = uuid4()
        gov.create_user(SYSTEM, user, "racer")
        gov.add_organization_member(SYSTEM, user, org)
        return user

    def test_racing_reservations_hold_exactly_what_fits(
        self, governances: list[Governance], org: UUID
    ) -> None:
        gov = governances[0]
        for spent_before in SPENT_BEFORE_RACES:
            user = self._racer(gov, org)
            if spent_before:
                gov.record_usage(user, *MODEL, TokenUsage(input_tokens=spent_before))
            fits = (LIMIT - spent_before) // HOLD

            granted = race_for_holds(governances, user)

            assert (len(granted), len({hold.id for hold in granted})) == (fits, fits)
            status = governances[-1].spend_status(SYSTEM, user)
            assert (status.spent_micros, status.held_micros) == (spent_before, fits * HOLD)
            assert status.remaining_micros == LIMIT - spent_before - fits * HOLD
            read = books_of(gov.store, user)
            assert (read.spent_micros, read.held_micros) == (spent_before, fits * HOLD)
            assert read.states == {hold.id: "held" for hold in granted}

    def test_racing_settles_and_releases_balance_the_books(
        self, governances: list[Governance], org: UUID
    ) -> None:
        gov = governances[0]
        for _ in range(BOOK_ROUNDS):
            user = self._racer(gov, org)
            holds = race_for_holds(governances, user)
            assert len(holds) == LIMIT // HOLD
            # Some settles cost more than was held: recorded in full.
            usage = {
                hold.id: TokenUsage(input_tokens=HOLD + 9_000 if i % 5 == 0 else 20_000 + 3_000 * i)
                for i, hold in enumerate(holds)
            }

            settled = _race_to_end(governances, holds, usage)

            for hold_id, record in settled.items():
                assert (record.reservation_id, record.user_id) == (hold_id, user)
                assert record.cost_micros == usage[hold_id].input_tokens
                assert record.overrun_micros == max(0, record.cost_micros - HOLD)
            spent = sum(record.cost_micros for record in settled.values())
            states = {h.id: "settled" if h.id in settled else "released" for h in holds}
            balanced = UserBooks(spent, spent, spent, 0, states, sorted(settled))

            for handle in (gov, governances[-1]):
                status = handle.spend_status(SYSTEM, user)
                assert (status.spent_micros, status.held_micros) == (spent, 0)
                assert status.remaining_micros == max(0, LIMIT - spent)
            assert books_of(gov.store, user) == balanced

            for hold in holds:  # settled again: the first record; released again: no change
                if hold.id in settled:
                    assert _settle(hold.id, usage[hold.id], gov) == settled[hold.id]
                else:
                    again = _release(hold.id, gov)
                    assert isinstance(again, Reservation)
                    assert again.state == "released"
            assert books_of(gov.store, user) == balanced
            # What was freed is free again, and what was spent still counts.
            assert len(race_for_holds(governances, user)) == (LIMIT - spent) // HOLD

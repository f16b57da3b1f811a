"""SPEC §8.3 under churn: rounds of 32 concurrent reservations against one user, with the budget,
the override and the user's group memberships changed between rounds and while holds settle.

Each round the configuration is fixed while the reservations race, so exactly the holds that fit
the effective limit must be granted, all on the effective group's counter. Settlements and
releases of holds from every earlier round then run at the same time as more configuration
changes, which move the user between groups and drop overrides by cascade. After every round:
usage records = ledger = counters' spent, each counter's held = its live holds, and nothing ever
fits past a limit. The same rounds run from two processes at once.
"""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from threading import Barrier
from uuid import UUID, uuid4

import pytest
from sqlalchemy.engine import URL

from aigov import (
    AI_GOVERNANCE,
    Actor,
    BudgetExceededError,
    Governance,
    MembershipInvariantError,
    NotFoundError,
    Reservation,
    TokenUsage,
)
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from tests.postgres.test_enforcement_races import AMOUNT, reserve_from_a_process

SYSTEM = Actor.system()
CALLERS = 32
PRICE = {"input_price": 1_000_000, "output_price": 0, "cache_read_price": 0, "cache_write_price": 0}


class World:
    """One organization (Everyone budget) and a second group with its own budget, one spender."""

    def __init__(self, gov: Governance, seed: int) -> None:
        self.gov, self.random = gov, random.Random(seed)
        self.org, self.team, self.user = uuid4(), uuid4(), uuid4()
        gov.create_organization(SYSTEM, self.org, "Acme")
        gov.create_user(SYSTEM, self.user, "spender")
        gov.add_organization_member(SYSTEM, self.user, self.org)
        gov.create_group(SYSTEM, self.team, self.org, "team")
        gov.upsert_group_budget(SYSTEM, self.org, 600)
        gov.upsert_group_budget(SYSTEM, self.team, 900)
        gov.apply_price_book([{"provider": "p", "model": "m", **PRICE}])

    def churn(self) -> None:
        """One random change: a budget's limit, the team membership, or the user's override."""
        gov, rnd = self.gov, self.random
        match rnd.randrange(4):
            case 0:
                gov.upsert_group_budget(
                    SYSTEM, rnd.choice([self.org, self.team]), rnd.randrange(6000)
                )
            case 1:
                if gov.is_group_member(self.user, self.team):
                    gov.remove_group_member(SYSTEM, self.user, self.team)  # drops its override
                else:
                    gov.add_group_member(SYSTEM, self.user, self.team)
            case 2:
                with suppress(MembershipInvariantError):  # the override's group needs the user
                    gov.upsert_user_budget_override(
                        SYSTEM, self.user, rnd.choice([self.org, self.team]), rnd.randrange(6000)
                    )
            case _:
                with suppress(NotFoundError):
                    gov.delete_user_budget_override(SYSTEM, self.user)


def books(gov: Governance) -> tuple[int, int, int, dict[tuple[UUID, object], tuple[int, int]]]:
    snapshot = gov.store.snapshot()
    usage = sum(r.cost_micros for r in snapshot.usage)
    ledger = sum(d.spend_micros for d in snapshot.daily_spend)
    counters = {
        (c.group_id, c.period_start): (c.spent_micros, c.held_micros) for c in snapshot.counters
    }
    spent = sum(s for s, _ in counters.values())
    return usage, ledger, spent, counters


def run_rounds(govs: list[Governance], rounds: int, seed: int) -> None:
    world = World(govs[0], seed)
    rnd = random.Random(seed + 1)
    live: list[Reservation] = []
    with ThreadPoolExecutor(CALLERS) as pool:
        for _ in range(rounds):
            for _ in range(rnd.randrange(1, 4)):
                world.churn()
            live += reserve_at_once(pool, govs, world)
            rnd.shuffle(live)
            half = min(len(live) // 2 + 1, CALLERS - 1)  # each needs a thread of the pool
            end_while_churning(pool, govs, world, live[:half])
            live = live[half:]
            check_books(world.gov, live)
        for hold in live:
            world.gov.release(hold.id)
    check_books(world.gov, [])


def reserve_at_once(
    pool: ThreadPoolExecutor, govs: list[Governance], world: World
) -> list[Reservation]:
    """32 callers reserve at once: exactly the holds that fit are granted, on the right counter."""
    effective = world.gov.effective_budget(world.user)
    status = world.gov.spend_status(SYSTEM, world.user)
    assert effective.group_id is not None
    assert effective.spend_limit_micros is not None
    room = max(0, effective.spend_limit_micros - status.spent_micros - status.held_micros)
    start = Barrier(CALLERS)

    def reserve(n: int) -> Reservation | None:
        start.wait()
        try:
            return govs[n % len(govs)].reserve(world.user, AMOUNT)
        except BudgetExceededError:
            return None

    granted = [h for h in pool.map(reserve, range(CALLERS)) if h is not None]
    assert len(granted) == min(CALLERS, room // AMOUNT)
    assert {h.group_id for h in granted} <= {effective.group_id}
    return granted


def end_while_churning(
    pool: ThreadPoolExecutor, govs: list[Governance], world: World, ending: list[Reservation]
) -> None:
    """Settle (below and above the hold) or release holds of any round, all at once, while the
    configuration changes under them."""
    start = Barrier(len(ending) + 1)

    def end(n: int, hold: Reservation) -> None:
        gov = govs[n % len(govs)]
        start.wait()
        if n % 3 == 2:
            gov.release(hold.id)
        else:
            gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=(n * 37) % (2 * AMOUNT + 1)))

    def churn() -> None:
        start.wait()
        for _ in range(3):
            world.churn()

    churned = pool.submit(churn)
    list(pool.map(end, range(len(ending)), ending))
    churned.result()


def check_books(gov: Governance, live: list[Reservation]) -> None:
    usage, ledger, spent, counters = books(gov)
    assert usage == ledger == spent
    holds: dict[tuple[UUID, object], int] = {}
    for hold in live:
        key = (hold.group_id, hold.period_start)
        holds[key] = holds.get(key, 0) + hold.amount_micros
    assert {k: held for k, (_, held) in counters.items() if held} == holds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rounds_with_churn_in_memory(seed: int):
    run_rounds([Governance(MemoryStore(), entitlements={AI_GOVERNANCE})], rounds=8, seed=seed)


@pytest.mark.aigov_postgres
@pytest.mark.parametrize("seed", [1, 2])
def test_rounds_with_churn_on_postgres(postgres_url: URL, seed: int):
    stores = [PostgresStore.from_url(postgres_url, pool_size=8) for _ in range(4)]
    try:
        run_rounds([Governance(s, entitlements={AI_GOVERNANCE}) for s in stores], 6, seed)
    finally:
        for store in stores:
            store.close()


@pytest.mark.aigov_postgres
def test_rounds_with_churn_across_two_processes(postgres_url: URL):
    store = PostgresStore.from_url(postgres_url)
    url = postgres_url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    live: list[Reservation] = []
    try:
        world = World(Governance(store, entitlements={AI_GOVERNANCE}), seed=7)
        with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
            for _ in range(4):
                world.churn()
                effective = world.gov.effective_budget(world.user)
                status = world.gov.spend_status(SYSTEM, world.user)
                assert effective.spend_limit_micros is not None
                room = effective.spend_limit_micros - status.spent_micros - status.held_micros
                start = manager.Barrier(2)
                args = [url] * 2, [str(world.user)] * 2, [start] * 2, [CALLERS] * 2
                granted = [h for hs in pool.map(reserve_from_a_process, *args) for h in hs]
                assert len(granted) == min(2 * CALLERS, max(0, room) // AMOUNT)
                live += granted
                for n, hold in enumerate(live[::2]):
                    world.gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=n * 17 % 120))
                live = live[1::2]
                check_books(world.gov, live)
    finally:
        store.close()

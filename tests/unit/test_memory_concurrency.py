"""SPEC §8.3 in memory: 32 threads against one limit never hold more than it allows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from uuid import uuid4

from aigov import AI_GOVERNANCE, Actor, BudgetExceededError, Governance, TokenUsage
from aigov_memory import MemoryStore

LIMIT, AMOUNT = 1_000, 60


def test_32_threads_never_hold_more_than_the_limit_in_memory():
    store = MemoryStore()
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    system, org, user = Actor.system(), uuid4(), uuid4()
    gov.create_organization(system, org, "Acme")
    gov.create_user(system, user, "spender")
    gov.add_organization_member(system, user, org)
    gov.upsert_group_budget(system, org, LIMIT)
    price = {"input_price": 1_000_000, "output_price": 0, "cache_read_price": 0}
    gov.apply_price_book([{"provider": "p", "model": "m", **price, "cache_write_price": 0}])
    start = Barrier(32)

    def reserve(_: int):
        start.wait()
        try:
            return gov.reserve(user, AMOUNT)
        except BudgetExceededError:
            return None

    with ThreadPoolExecutor(32) as pool:
        holds = [h for h in pool.map(reserve, range(32)) if h is not None]
        assert len(holds) == LIMIT // AMOUNT
        list(
            pool.map(
                lambda hold: gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=AMOUNT)), holds
            )
        )
    snapshot = store.snapshot()
    usage = sum(r.cost_micros for r in snapshot.usage)
    ledger = sum(d.spend_micros for d in snapshot.daily_spend)
    (counter,) = snapshot.counters
    assert usage == ledger == counter.spent_micros == len(holds) * AMOUNT
    assert counter.held_micros == 0

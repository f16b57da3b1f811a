"""SPEC §8.3 across threads and processes: concurrent reservations against one user's limit never
hold more than the limit, and nothing recorded is lost or counted twice."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from threading import Barrier
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, BudgetExceededError, Governance, Reservation
from aigov.cost import TokenUsage
from aigov_postgres import PostgresStore

pytestmark = pytest.mark.aigov_postgres

SYSTEM = Actor.system()
LIMIT, AMOUNT = 1_000, 60  # 16 holds fit, the 17th does not
PRICE = {"input_price": 1_000_000, "output_price": 0, "cache_read_price": 0, "cache_write_price": 0}


def world(url: URL, *, limit: int = LIMIT) -> UUID:
    store = PostgresStore.from_url(url)
    try:
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        org, user = uuid4(), uuid4()
        gov.create_organization(SYSTEM, org, "Acme")
        gov.create_user(SYSTEM, user, "spender")
        gov.add_organization_member(SYSTEM, user, org)
        gov.upsert_group_budget(SYSTEM, org, limit)
        gov.apply_price_book([{"provider": "p", "model": "m", **PRICE}])
        return user
    finally:
        store.close()


def totals(url: URL) -> tuple[int, int, int, int]:
    store = PostgresStore.from_url(url)
    try:
        snapshot = store.snapshot()
        usage = sum(r.cost_micros for r in snapshot.usage)
        ledger = sum(d.spend_micros for d in snapshot.daily_spend)
        counters = snapshot.counters
        return (
            usage,
            ledger,
            sum(c.spent_micros for c in counters),
            sum(c.held_micros for c in counters),
        )
    finally:
        store.close()


def test_32_threads_never_hold_more_than_the_limit(postgres_url: URL):
    user = world(postgres_url)
    stores = [PostgresStore.from_url(postgres_url, pool_size=8) for _ in range(4)]
    govs = [Governance(store, entitlements={AI_GOVERNANCE}) for store in stores]
    start = Barrier(32)

    def reserve(n: int) -> Any:
        start.wait()
        try:
            return govs[n % len(govs)].reserve(user, AMOUNT)
        except BudgetExceededError:
            return None

    def finish(n: int, hold: Any) -> None:
        """Settle some below, some above the hold, release the rest: all at once."""
        start.wait()
        if n % 3 == 2:
            govs[n % len(govs)].release(hold.id)
        else:
            tokens = AMOUNT // 2 if n % 3 == 0 else AMOUNT * 2
            govs[n % len(govs)].settle(hold.id, "p", "m", TokenUsage(input_tokens=tokens))

    try:
        with ThreadPoolExecutor(32) as pool:
            holds = [h for h in pool.map(reserve, range(32)) if h is not None]
            assert len(holds) == LIMIT // AMOUNT
            assert totals(postgres_url) == (0, 0, 0, len(holds) * AMOUNT)
            start = Barrier(len(holds))
            list(pool.map(finish, range(len(holds)), holds))
    finally:
        for store in stores:
            store.close()
    usage, ledger, spent, held = totals(postgres_url)
    assert usage == ledger == spent > 0
    assert held == 0


def reserve_from_a_process(url: str, user: str, start: Any, attempts: int) -> list[Reservation]:
    """In a process of its own: connect, wait for the others, then try ``attempts`` holds of
    AMOUNT; the holds granted."""
    store = PostgresStore.from_url(url)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    granted = []
    try:
        store.schema_version()
        start.wait()
        for _ in range(attempts):
            with suppress(BudgetExceededError):
                granted.append(gov.reserve(user, AMOUNT))
        return granted
    finally:
        store.close()


def test_two_processes_never_hold_more_than_the_limit(postgres_url: URL):
    user = world(postgres_url)
    url = postgres_url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
        start = manager.Barrier(2)
        args = [url] * 2, [str(user)] * 2, [start] * 2, [20] * 2
        results = list(pool.map(reserve_from_a_process, *args))
    held_total = sum(hold.amount_micros for holds in results for hold in holds)
    assert held_total == (LIMIT // AMOUNT) * AMOUNT
    assert totals(postgres_url)[3] == held_total

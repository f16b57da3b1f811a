"""SPEC §13 on PostgreSQL: async callers mixed with threads and another process hold exactly
what fits; a task cancelled in flight leaks no connection and no hold past its TTL; and under
load no callback holds the event loop for 50 ms (asyncio debug mode's slow-callback check)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import URL

from aigov import (
    AI_GOVERNANCE,
    Actor,
    AsyncGovernance,
    BudgetExceededError,
    Governance,
    Reservation,
)
from aigov.cost import TokenUsage
from aigov_postgres import PostgresStore
from tests.postgres.test_enforcement_races import AMOUNT, world

pytestmark = pytest.mark.aigov_postgres

SYSTEM = Actor.system()
FITS = 100
TASKS, THREADS, THREAD_ATTEMPTS, PROCESS_ATTEMPTS = 200, 16, 6, 60


def _reserve_in_a_process(url: str, user: str, ready: Any, go: Any) -> list[Reservation]:
    """In a process of its own: connect, say so, wait for the start, then try its holds."""
    store = PostgresStore.from_url(url)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    granted = []
    try:
        gov.spend_status(SYSTEM, user)
        ready.set()
        go.wait()
        for _ in range(PROCESS_ATTEMPTS):
            with suppress(BudgetExceededError):
                granted.append(gov.reserve(user, AMOUNT))
        return granted
    finally:
        store.close()


def test_200_tasks_16_threads_and_a_process_hold_exactly_what_fits(postgres_url: URL):
    user = world(postgres_url, limit=FITS * AMOUNT)
    url = postgres_url.render_as_string(hide_password=False)
    store = PostgresStore.from_url(url)
    sync = Governance(store, entitlements={AI_GOVERNANCE})
    started = threading.Event()

    def from_a_thread() -> list[Reservation]:
        started.wait()
        granted = []
        for _ in range(THREAD_ATTEMPTS):
            with suppress(BudgetExceededError):
                granted.append(sync.reserve(user, AMOUNT))
        return granted

    async def race(ready: Any, go: Any, processes: ProcessPoolExecutor) -> list[Reservation]:
        gov = AsyncGovernance(store, entitlements={AI_GOVERNANCE})
        await gov.spend_status(SYSTEM, user)
        loop_started = asyncio.Event()

        async def from_a_task() -> list[Reservation]:
            await loop_started.wait()
            try:
                return [await gov.reserve(user, AMOUNT)]
            except BudgetExceededError:
                return []

        process = processes.submit(_reserve_in_a_process, url, str(user), ready, go)
        await asyncio.to_thread(ready.wait)
        with ThreadPoolExecutor(THREADS) as threads:
            from_threads = [threads.submit(from_a_thread) for _ in range(THREADS)]
            tasks = [asyncio.create_task(from_a_task()) for _ in range(TASKS)]
            go.set()
            started.set()
            loop_started.set()
            granted = [hold for holds in await asyncio.gather(*tasks) for hold in holds]
            for future in from_threads:
                granted += await asyncio.wrap_future(future)
        granted += await asyncio.wrap_future(process)
        await gov.aclose()
        return granted

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(1, mp_context=context) as processes:
        granted = asyncio.run(race(manager.Event(), manager.Event(), processes))

    assert len(granted) == FITS
    assert len({hold.id for hold in granted}) == FITS
    check = PostgresStore.from_url(url)
    try:
        status = Governance(check, entitlements={AI_GOVERNANCE}).spend_status(SYSTEM, user)
        assert status.held_micros == FITS * AMOUNT
        assert status.remaining_micros == 0
    finally:
        check.close()


def _connections_of(store: PostgresStore) -> int:
    """Backends of the store's database other than the one asking."""
    with store.engine.connect() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
        )


async def _settled_pool(store: PostgresStore) -> dict[str, int]:
    """The loop's hot-path pool's counts once its background work (replacing what a
    cancellation broke) is done: a connection checked out by no one is available."""
    pool = await store.hot_path_pool.async_pool()
    deadline = time.monotonic() + 10
    while True:
        stats = pool.get_stats()
        if stats["pool_available"] == stats["pool_size"] or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.01)


def test_a_task_cancelled_during_reserve_leaks_no_connection_and_no_hold_past_its_ttl(
    postgres_url: URL,
):
    limit, ttl = 200 * AMOUNT, timedelta(seconds=2)
    user = world(postgres_url, limit=limit)
    store = PostgresStore.from_url(postgres_url, pool_size=2, max_overflow=2)

    async def cancel_in_flight() -> None:
        gov = AsyncGovernance(store, entitlements={AI_GOVERNANCE})
        await gov.spend_status(SYSTEM, user)
        known: list[Reservation] = []
        cancelled = 0
        for round_ in range(120):
            task = asyncio.create_task(gov.reserve(user, AMOUNT, ttl=ttl))
            await asyncio.sleep((round_ % 40) / 20_000)  # 0 to 2 ms: before, in and after
            task.cancel()
            try:
                known.append(await task)
            except asyncio.CancelledError:
                cancelled += 1
            if len(known) >= 40:
                await asyncio.gather(*(gov.release(hold.id) for hold in known))
                known.clear()
        assert cancelled > 0, "no task was cancelled in flight: the test saw nothing"
        await asyncio.gather(*(gov.release(hold.id) for hold in known))

        stats = await _settled_pool(store)
        assert stats["pool_available"] == stats["pool_size"], stats
        assert stats.get("requests_waiting", 0) == 0, stats
        assert _connections_of(store) <= 4 + 4  # the hot path's pool and the engine's, at most

        unknown = (await gov.spend_status(SYSTEM, user)).held_micros
        assert unknown % AMOUNT == 0
        assert unknown <= cancelled * AMOUNT
        await asyncio.sleep(ttl.total_seconds() + 0.2)
        status = await gov.spend_status(SYSTEM, user)
        assert status.held_micros == 0
        assert status.remaining_micros == limit
        whole = await gov.reserve(user, limit)  # the pool serves, and every hold has expired
        await gov.release(whole.id)
        await gov.aclose()

    asyncio.run(cancel_in_flight())
    try:
        assert _connections_of(store) == 0
    finally:
        store.close()


SLOW = 0.05


def test_no_callback_holds_the_loop_for_50_ms_under_load(
    postgres_url: URL, caplog: pytest.LogCaptureFixture
):
    """64 tasks reserve, settle, read their standing and write an override, all at once; asyncio
    debug mode logs every step of the loop slower than 50 ms. The first call of each kind comes
    first, unmeasured: it connects and compiles once per process. The objects already alive are
    frozen out of the garbage collector (``gc.freeze``, as a service does after start-up): in a
    test process holding the whole suite, a full collection alone takes 40-55 ms, which is no
    wait on I/O."""
    user = world(postgres_url, limit=10**12)
    store = PostgresStore.from_url(postgres_url)

    async def work(gov: AsyncGovernance, user_id: UUID, rounds: int) -> None:
        group = (await gov.effective_budget(user_id)).group_id
        assert group is not None
        for n in range(rounds):
            hold = await gov.reserve(user_id, AMOUNT)
            await gov.settle(hold.id, "p", "m", TokenUsage(input_tokens=AMOUNT // 2))
            await gov.spend_status(SYSTEM, user_id)
            await gov.effective_budget(user_id)
            await gov.upsert_user_budget_override(SYSTEM, user_id, group, 10**12 + n)

    async def load() -> None:
        loop = asyncio.get_running_loop()
        gov = AsyncGovernance(store, entitlements={AI_GOVERNANCE})
        await work(gov, user, 2)
        loop.slow_callback_duration = SLOW
        loop.set_debug(True)
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            await asyncio.gather(*(work(gov, user, 5) for _ in range(64)))
        loop.set_debug(False)
        await gov.aclose()

    gc.collect()
    gc.freeze()
    try:
        asyncio.run(load())
    finally:
        gc.unfreeze()
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.msg]
    assert slow == []

"""The hot path with its callers as tasks of one event loop (SPEC §13).

``AsyncGovernance.reserve`` and ``AsyncGovernance.spend_status`` on PostgreSQL, next to the
threaded measurement's floors written for ``psycopg.AsyncConnection``: the same statements on
the same server, prepared by psycopg, each call taking a connection of the loop's hot-path pool
(``psycopg_pool.AsyncConnectionPool``, 16 connections, as the threads' pool) and giving it back,
as aigov's calls do. 1, 16 and 64 tasks; users 1-1,000 reserve, users 1,001-2,000 ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg

from aigov import Actor, AsyncGovernance
from aigov_postgres import PostgresStore
from benchmarks.hot_path import (
    ENTITLED,
    HOLD_TTL,
    RESERVE,
    RESERVE_RETIRING,
    RESOLVE_AND_SPEND,
    RETIRING,
    USERS,
    Driven,
    HotPathReport,
    Measurement,
    reserve_parameters,
    status_parameters,
)

__all__ = ["CONCURRENCY", "measure"]

CONCURRENCY = (1, 16, 64)
WARM = 6  # a floor's psycopg prepares its statement on the 5th run

AsyncCall = Callable[[UUID], Awaitable[object]]
Floor = Callable[[psycopg.AsyncConnection[Any], UUID], Awaitable[object]]


async def _status(connection: psycopg.AsyncConnection[Any], user: UUID) -> object:
    cursor = await connection.execute(RESOLVE_AND_SPEND, status_parameters(user), prepare=True)
    return await cursor.fetchone()


def _reserving(statement: str) -> Floor:
    async def reserve(connection: psycopg.AsyncConnection[Any], user: UUID) -> object:
        parameters = reserve_parameters(user, 1)
        row = await (await connection.execute(statement, parameters, prepare=True)).fetchone()
        assert row is not None
        assert row[0], "the floor's hold did not fit"
        return row

    return reserve


async def _implementations(store: PostgresStore) -> dict[tuple[str, str], AsyncCall]:
    """aigov's async calls and their floors on the loop's pool, every connection opened now."""
    governance = AsyncGovernance(store, entitlements=ENTITLED)
    pool = await store.hot_path_pool.async_pool()
    async with contextlib.AsyncExitStack() as held:
        for _ in range(pool.max_size):
            await held.enter_async_context(pool.connection())

    def floor(work: Floor) -> AsyncCall:
        async def call(user: UUID) -> object:
            async with pool.connection() as connection:
                return await work(connection, user)

        return call

    async def status(user: UUID) -> object:
        return await governance.spend_status(Actor.user(user), user)

    async def reserve(user: UUID) -> object:
        return await governance.reserve(user, 1, ttl=HOLD_TTL)

    return {
        ("resolve + spend", "aigov, Postgres"): status,
        ("resolve + spend", "hand-written query"): floor(_status),
        ("reserve", "aigov, Postgres"): reserve,
        ("reserve", "hand-written statement"): floor(_reserving(RESERVE)),
        ("reserve", RETIRING): floor(_reserving(RESERVE_RETIRING)),
    }


async def drive(
    call: AsyncCall, users: Sequence[UUID], tasks: int, calls: int, seed: int
) -> Driven:
    """``calls`` calls spread over ``tasks`` tasks of this loop, started together once each has
    warmed up; the CPU time is this process's (the loop's thread does all the work)."""
    per_task = max(1, calls // tasks)
    start = asyncio.Barrier(tasks + 1)
    latencies: list[list[float]] = [[] for _ in range(tasks)]

    async def caller(index: int) -> None:
        rng = random.Random(seed * 100 + index)
        chosen = [rng.choice(users) for _ in range(per_task)]
        try:
            for user in chosen[:WARM]:
                await call(user)
        finally:
            await start.wait()
        for user in chosen:
            started = time.perf_counter()
            await call(user)
            latencies[index].append(time.perf_counter() - started)

    running = [asyncio.create_task(caller(i)) for i in range(tasks)]
    await start.wait()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*running)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Driven.of([latency for per in latencies for latency in per], elapsed, cpu)


async def _measure(
    report: HotPathReport,
    store: PostgresStore,
    users: Sequence[UUID],
    quick: bool,
    log: Callable[[str], None],
) -> None:
    chosen = await _implementations(store)
    keys = list(chosen)
    rounds, per_caller = (1, 0) if quick else (6, 50)
    reserving, asking = users[:USERS], users[USERS:]
    try:
        for tasks in CONCURRENCY:
            calls = 32 if quick else max(400, per_caller * tasks)
            gathered: dict[tuple[str, str], Driven] = {}
            for round_ in range(rounds):
                turn = round_ % len(keys)
                for key in keys[turn:] + keys[:turn]:
                    pool = reserving if key[0] == "reserve" else asking
                    driven = await drive(chosen[key], pool, tasks, calls, seed=round_)
                    gathered[key] = gathered.get(key, Driven()) + driven
            for (operation, implementation), driven in gathered.items():
                m = Measurement(operation, implementation, "1,000 users", tasks, driven)
                report.tasks.append(m)
                log(
                    f"hot path {operation:>16} {implementation:>24} x{tasks:<2} tasks:"
                    f" p50 {m.p50 * 1e3:7.3f} ms  {m.throughput:8,.0f}/s"
                    f"  client CPU {m.cpu_per_call * 1e6:5.0f} µs/call"
                )
    finally:
        await store.hot_path_pool.aclose()  # the loop's pool; the threads' stays open


def measure(
    report: HotPathReport,
    store: PostgresStore,
    users: Sequence[UUID],
    quick: bool,
    log: Callable[[str], None],
) -> None:
    """Every implementation at 1, 16 and 64 tasks, 1,000 users; six interleaved rounds each
    (the order rotated from round to round), of 400 calls or 50 per task."""
    asyncio.run(_measure(report, store, users, quick, log))

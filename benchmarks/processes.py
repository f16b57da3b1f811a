"""The hot path with its callers as processes instead of threads.

Threads of one process take turns holding Python's GIL, so with 4 and 16 of them on 2 cores
every microsecond of Python a call runs is also time the other callers wait. Most Python
services run several processes instead. Here each caller is a process with a ``Governance`` of
its own (a pool of one connection) and the floors run on that same connection, as in the
threaded measurement; processes share nothing but the server and the machine's cores.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any
from uuid import UUID

from sqlalchemy.engine import URL

from aigov import Governance
from aigov_postgres import PostgresStore
from benchmarks.hot_path import (
    ENTITLED,
    RETIRING,
    USERS,
    Driven,
    FloorConnections,
    HotPathReport,
    Measurement,
    implementations,
)

__all__ = ["CallerProcesses", "measure"]

CONCURRENCY = (4, 16)
WARM = 6
KEYS = (
    ("resolve + spend", "aigov, Postgres"),
    ("resolve + spend", "hand-written query"),
    ("reserve", "aigov, Postgres"),
    ("reserve", "hand-written statement"),
    ("reserve", RETIRING),
)


def _caller(url: str | URL, commands: Connection, go: Any) -> None:
    """One caller process: run each command's calls once ``go`` says its round started, and
    send back their latencies and the CPU time they took. None ends the process."""
    store = PostgresStore.from_url(url, pool_size=1, max_overflow=0)
    try:
        chosen = implementations(
            Governance(store, entitlements=ENTITLED), FloorConnections(store, 1)
        )
        while (command := commands.recv()) is not None:
            key, users, calls, round_id = command
            try:
                call = chosen[key](0)
                rng = random.Random(round_id)
                picked = [rng.choice(users) for _ in range(calls)]
                for user in picked[:WARM]:  # psycopg prepares a statement on its 5th run
                    call(user)
            except Exception as exc:
                commands.send(exc)
                continue
            commands.send("ready")
            while go.value != round_id:
                time.sleep(0.0001)
            cpu = time.process_time()
            latencies = []
            for user in picked:
                started = time.perf_counter()
                call(user)
                latencies.append(time.perf_counter() - started)
            commands.send((latencies, time.process_time() - cpu))
    finally:
        store.close()


class CallerProcesses:
    """``count`` caller processes, started once and reused for every measurement."""

    def __init__(self, url: str | URL, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited connections or threads
        self._go = context.Value("q", 0)
        self._rounds = 0
        self._pipes: list[Connection] = []
        self._processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_caller, args=(url, theirs, self._go), daemon=True)
            process.start()
            self._pipes.append(ours)
            self._processes.append(process)

    def drive(
        self, key: tuple[str, str], users: Sequence[UUID], callers: int, calls: int
    ) -> Driven:
        """``calls`` calls of ``key`` spread over the first ``callers`` processes, all started
        at once; the CPU time is theirs, summed."""
        self._rounds += 1
        used = self._pipes[:callers]
        for pipe in used:
            pipe.send((key, list(users), max(1, calls // callers), self._rounds))
        for pipe in used:
            answer = pipe.recv()
            if answer != "ready":
                raise RuntimeError(f"a caller process failed: {answer!r}")
        started = time.perf_counter()
        self._go.value = self._rounds
        results = [pipe.recv() for pipe in used]
        elapsed = time.perf_counter() - started
        latencies = tuple(latency for per, _ in results for latency in per)
        return Driven(latencies, elapsed, sum(cpu for _, cpu in results))

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send(None)
        for process in self._processes:
            process.join(timeout=30)


def measure(
    report: HotPathReport,
    url: str | URL,
    users: Sequence[UUID],
    quick: bool,
    log: Callable[[str], None],
) -> None:
    """aigov on PostgreSQL and its floors, 1,000 users, 4 and 16 caller processes; six
    interleaved rounds each, like the threaded measurement, of more calls (at least 50 per
    process, so that all start and end within a round's run)."""
    rounds, calls = (1, 32) if quick else (6, 800)
    reserving, asking = users[:USERS], users[USERS:]
    callers = CallerProcesses(url, max(CONCURRENCY))
    try:
        for count in CONCURRENCY:
            gathered: dict[tuple[str, str], Driven] = {}
            for round_ in range(rounds):
                turn = round_ % len(KEYS)
                for key in KEYS[turn:] + KEYS[:turn]:
                    pool = reserving if key[0] == "reserve" else asking
                    gathered[key] = gathered.get(key, Driven()) + callers.drive(
                        key, pool, count, calls
                    )
            for (operation, implementation), driven in gathered.items():
                m = Measurement(operation, implementation, "1,000 users", count, driven)
                report.processes.append(m)
                log(
                    f"hot path {operation:>16} {implementation:>24} x{count:<2} processes:"
                    f" p50 {m.p50 * 1e3:7.3f} ms  {m.throughput:8,.0f}/s"
                    f"  client CPU {m.cpu_per_call * 1e6:5.0f} µs/call"
                )
    finally:
        callers.close()

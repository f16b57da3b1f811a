"""The hot path with its callers as processes instead of threads.

Threads of one process take turns holding Python's GIL, so with 4 and 16 of them on 2 cores
every microsecond of Python a call runs is also time the other callers wait. Most Python
services run several processes instead. Here each caller is a process with a ``Governance`` of
its own (a pool of one connection) and the floors run on that same connection, as in the
threaded measurement; processes share nothing but the server and the machine's cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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


def _caller(url: str | URL, commands: Connection) -> None:
    """One caller process. For each command it warms up and says "ready"; on "go" it makes the
    calls and sends back their latencies and the CPU time they took, on "abort" (a sibling
    failed) it makes none. A failure goes back as its traceback; None, or the parent gone,
    ends the process."""
    store = PostgresStore.from_url(url, pool_size=1, max_overflow=0)
    try:
        chosen = implementations(
            Governance(store, entitlements=ENTITLED), FloorConnections(store, 1)
        )
        while (command := commands.recv()) is not None:
            key, users, calls, seed = command
            try:
                call = chosen[key](0)
                rng = random.Random(seed)
                picked = [rng.choice(users) for _ in range(calls)]
                for user in picked[:WARM]:  # a floor's psycopg prepares on the 5th run
                    call(user)
            except Exception:
                commands.send(traceback.format_exc())
                continue
            commands.send("ready")
            signal = commands.recv()
            if signal is None:
                return
            if signal != "go":
                continue
            try:
                cpu = time.process_time()
                latencies = []
                for user in picked:
                    started = time.perf_counter()
                    call(user)
                    latencies.append(time.perf_counter() - started)
            except Exception:
                commands.send(traceback.format_exc())
                continue
            commands.send((latencies, time.process_time() - cpu))
    except (EOFError, BrokenPipeError):
        pass  # the parent is gone
    finally:
        store.close()


class CallerProcesses:
    """``count`` caller processes, started once and reused for every measurement."""

    def __init__(self, url: str | URL, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited connections or threads
        self._rounds = 0
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_caller, args=(url, theirs), daemon=True)
            process.start()
            theirs.close()  # the child's end: an exit of the child then ends our reads
            self._pipes.append(ours)
            self._processes.append(process)

    def drive(
        self, key: tuple[str, str], users: Sequence[UUID], callers: int, calls: int
    ) -> Driven:
        """``calls`` calls of ``key`` spread over the first ``callers`` processes, started
        together once all have warmed up; the CPU time is theirs, summed."""
        self._rounds += 1
        used = self._pipes[:callers]
        for index, pipe in enumerate(used):
            pipe.send((key, list(users), max(1, calls // callers), self._rounds * 100 + index))
        answers = [pipe.recv() for pipe in used]
        failures = [answer for answer in answers if answer != "ready"]
        started = time.perf_counter()
        for pipe, answer in zip(used, answers, strict=True):
            if answer == "ready":
                pipe.send("abort" if failures else "go")
        results = [] if failures else [pipe.recv() for pipe in used]
        elapsed = time.perf_counter() - started
        failures += [result for result in results if isinstance(result, str)]
        if failures:
            raise RuntimeError(f"a caller process failed in {key}:\n{failures[0]}")
        latencies = tuple(latency for per, _ in results for latency in per)
        return Driven.of(latencies, elapsed, sum(cpu for _, cpu in results))

    def close(self) -> None:
        """Tell every process to end; those still running after 30 seconds are killed."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        deadline = time.monotonic() + 30
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


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

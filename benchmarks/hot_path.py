"""The budget hot path (SPEC §7, §8): "resolve my budget and my spend" and "reserve if it fits".

aigov's calls (``Governance.spend_status`` and ``Governance.reserve``) on each store, next to
floors on the same server, through the same driver and pool (psycopg, psycopg_pool, statements
prepared by psycopg): ``SELECT 1``, and one hand-written statement doing each call's work.
Callers are threads (1, 4, 16) sharing one ``Governance``; users are one hot user, or any of
1,000. ``benchmarks.processes`` repeats the calls with callers as processes. Then resolution
alone at 1,000 and 1,000,000 users, and a profile of one ``reserve`` and one ``spend_status``:
statements, round trips, where time goes.
"""

from __future__ import annotations

import contextlib
import cProfile
import hashlib
import pstats
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from unittest import mock
from uuid import UUID

import psycopg
from sqlalchemy import event

from aigov import Actor, BudgetExceededError, Governance
from aigov.periods import period_window
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from benchmarks._support import Databases, count_round_trips, driver_dsn, percentile

__all__ = [
    "CallerKind",
    "Driven",
    "FloorConnections",
    "HotPathReport",
    "Measurement",
    "implementations",
    "reserve_parameters",
    "run",
    "status_parameters",
]

ORGANIZATION = UUID("00000000-0000-4000-8000-000000000001")  # its Everyone group has this id
TEAM = UUID("00000000-0000-4000-8000-000000000002")
EVERYONE_LIMIT = 10**12
TEAM_LIMIT = 10**15  # the higher budget wins (policy "highest"): never exhausted by 1 µ holds
SYSTEM = Actor.system()
ENTITLED = frozenset({"ai_governance"})
CONCURRENCY = (1, 4, 16)
RETIRING = "hand-written, retiring expired holds"
HOLD_TTL = timedelta(days=1)
"""Every hold's TTL: longer than a run, so that no hold expires meanwhile. Otherwise the parts
measured after the first ten minutes would retire the holds of the first ones (holds here are
never settled), and only they: their numbers would not compare with the earlier parts'."""


def user_id(n: int) -> UUID:
    """User ``n``'s id, as the bulk SQL computes it (``md5('bench-user-' || n)::uuid``)."""
    return UUID(hashlib.md5(f"bench-user-{n}".encode()).hexdigest())


_ADD_USERS = """
INSERT INTO users (id, username, created_at)
SELECT md5('bench-user-' || n)::uuid, 'user-' || n, now()
FROM generate_series(%(first)s::int, %(last)s::int) n;
INSERT INTO organization_members (user_id, organization_id, roles, created_at)
SELECT md5('bench-user-' || n)::uuid, %(organization)s, '{}', now()
FROM generate_series(%(first)s::int, %(last)s::int) n;
INSERT INTO group_members (user_id, group_id)
SELECT md5('bench-user-' || n)::uuid, %(team)s
FROM generate_series(%(first)s::int, %(last)s::int) n;
"""


def add_users_sql(connection: psycopg.Connection, first: int, last: int) -> None:
    """Users ``first`` … ``last`` in the organization and its team, in bulk (the migrations'
    triggers and foreign keys still check every row)."""
    params = {"first": first, "last": last, "organization": ORGANIZATION, "team": TEAM}
    with connection.cursor() as cursor:
        for statement in _ADD_USERS.strip().split(";\n"):
            cursor.execute(statement.rstrip(";"), params)
    connection.execute("ANALYZE")


def postgres_directory(connection: psycopg.Connection, users: int) -> None:
    connection.execute(
        "INSERT INTO organizations (id, name, is_default) VALUES (%s, 'bench', true)",
        [ORGANIZATION],
    )
    connection.execute(
        "INSERT INTO groups (id, organization_id, name) VALUES (%s, %s, 'team')",
        [TEAM, ORGANIZATION],
    )
    connection.execute(
        "INSERT INTO group_ai_budgets (group_id, spend_limit_micros) VALUES (%s, %s), (%s, %s)",
        [ORGANIZATION, EVERYONE_LIMIT, TEAM, TEAM_LIMIT],
    )
    add_users_sql(connection, 1, users)


def memory_directory(governance: Governance, users: int) -> None:
    governance.create_organization(SYSTEM, ORGANIZATION, "bench", is_default=True)
    governance.create_group(SYSTEM, TEAM, ORGANIZATION, "team")
    governance.upsert_group_budget(SYSTEM, ORGANIZATION, EVERYONE_LIMIT)
    governance.upsert_group_budget(SYSTEM, TEAM, TEAM_LIMIT)
    for n in range(1, users + 1):
        governance.create_user(SYSTEM, user_id(n), f"user-{n}")
        governance.add_organization_member(SYSTEM, user_id(n), ORGANIZATION)
        governance.add_group_member(SYSTEM, user_id(n), TEAM)


# -- the hand-written floors ---------------------------------------------------------------------

# SPEC §7 in SQL (policy "highest"): a live override, else the highest budget of the user's
# groups (ties: earliest membership, smallest group id), else no limit in the default (else the
# earliest) organization's Everyone group, whose id is the organization's.
_RESOLVE = """
live AS (
    SELECT om.organization_id, om.created_at AS joined_at, o.is_default
    FROM organization_members om JOIN organizations o ON o.id = om.organization_id
    WHERE om.user_id = %(user)s AND NOT o.deleted
),
chosen AS (
    SELECT * FROM (
        (SELECT ov.spend_limit_micros AS spend_limit, ov.group_id, 0 AS rank
         FROM user_ai_budget_overrides ov JOIN groups g ON g.id = ov.group_id
         WHERE ov.user_id = %(user)s AND g.organization_id IN (SELECT organization_id FROM live))
        UNION ALL
        (SELECT b.spend_limit_micros, b.group_id, 1
         FROM group_members_expanded v
         JOIN group_ai_budgets b ON b.group_id = v.group_id
         JOIN live ON live.organization_id = v.organization_id
         WHERE v.user_id = %(user)s
         ORDER BY b.spend_limit_micros DESC, live.joined_at, b.group_id LIMIT 1)
        UNION ALL
        (SELECT NULL::bigint, organization_id, 2 FROM live
         ORDER BY is_default DESC, joined_at, organization_id LIMIT 1)
    ) AS candidates
    ORDER BY rank LIMIT 1
)"""

RESOLVE_AND_SPEND = f"""
WITH {_RESOLVE}
SELECT chosen.spend_limit, chosen.group_id,
       coalesce((SELECT spent_micros FROM ai_spend_counters c
                 WHERE c.user_id = %(user)s AND c.group_id = chosen.group_id
                   AND c.period_start = %(period)s), 0),
       (SELECT coalesce(sum(amount_micros), 0) FROM ai_spend_reservations r
        WHERE r.user_id = %(user)s AND r.group_id = chosen.group_id
          AND r.period_start = %(period)s AND r.state = 'held' AND r.expires_at > %(now)s)
FROM chosen
"""

# Both reserve floors end alike: the hold, when the counter granted it.
_HOLD = """hold AS (
    INSERT INTO ai_spend_reservations
        (id, user_id, group_id, period_start, amount_micros, expires_at, created_at, state)
    SELECT %(id)s, %(user)s, group_id, %(period)s, %(amount)s, %(expires)s, %(now)s, 'held'
    FROM counter
    RETURNING id
)
SELECT EXISTS (SELECT FROM hold)
"""

RESERVE = f"""
WITH {_RESOLVE},
counter AS (
    INSERT INTO ai_spend_counters (user_id, group_id, period_start, spent_micros, held_micros)
    SELECT %(user)s, group_id, %(period)s, 0, %(amount)s FROM chosen
    WHERE spend_limit IS NULL OR %(amount)s <= spend_limit
    ON CONFLICT (user_id, group_id, period_start) DO UPDATE
        SET held_micros = ai_spend_counters.held_micros + EXCLUDED.held_micros
        WHERE (SELECT spend_limit FROM chosen) IS NULL
           OR ai_spend_counters.spent_micros::numeric + ai_spend_counters.held_micros
              + EXCLUDED.held_micros <= (SELECT spend_limit FROM chosen)
    RETURNING group_id
),
{_HOLD}"""


# The same, retiring the counter's expired holds first as SPEC §8.3 asks of a reserve (aigov's
# statement does too): lock and mark them, take their sum off the counter whether the new hold
# fits or not. It is the work aigov's reserve does but for reporting a refusal's numbers.
RESERVE_RETIRING = f"""
WITH {_RESOLVE},
expired AS (
    UPDATE ai_spend_reservations SET state = 'expired'
    WHERE user_id = %(user)s AND group_id = (SELECT group_id FROM chosen)
      AND period_start = %(period)s AND state = 'held' AND expires_at <= %(now)s
    RETURNING amount_micros
),
freed AS (SELECT coalesce(sum(amount_micros), 0) AS micros FROM expired),
counter AS (
    INSERT INTO ai_spend_counters (user_id, group_id, period_start, spent_micros, held_micros)
    SELECT %(user)s, group_id, %(period)s, 0, %(amount)s FROM chosen, freed
    WHERE spend_limit IS NULL OR %(amount)s <= spend_limit
    ON CONFLICT (user_id, group_id, period_start) DO UPDATE
        SET held_micros = ai_spend_counters.held_micros - (SELECT micros FROM freed)
                          + EXCLUDED.held_micros
        WHERE (SELECT spend_limit FROM chosen) IS NULL
           OR ai_spend_counters.spent_micros::numeric + ai_spend_counters.held_micros
              - (SELECT micros FROM freed) + EXCLUDED.held_micros
              <= (SELECT spend_limit FROM chosen)
    RETURNING group_id
),
unheld AS (
    UPDATE ai_spend_counters SET held_micros = held_micros - (SELECT micros FROM freed)
    WHERE user_id = %(user)s AND group_id = (SELECT group_id FROM chosen)
      AND period_start = %(period)s AND (SELECT micros FROM freed) > 0
      AND NOT EXISTS (SELECT FROM counter)
),
{_HOLD}"""


Executor = psycopg.Connection[Any] | psycopg.Cursor[Any]


def status_parameters(user: UUID) -> dict[str, Any]:
    """``RESOLVE_AND_SPEND``'s parameters for ``user`` now."""
    now = datetime.now(UTC)
    return {"user": user, "period": period_window(now, "month").start, "now": now}


def reserve_parameters(user: UUID, amount: int) -> dict[str, Any]:
    """A reserve floor's parameters: a hold of ``amount`` for ``user`` now, for ``HOLD_TTL``."""
    now = datetime.now(UTC)
    return {
        "user": user,
        "period": period_window(now, "month").start,
        "now": now,
        "expires": now + HOLD_TTL,
        "amount": amount,
        "id": uuid.uuid4(),
    }


def floor_resolve_and_spend(connection: Executor, user: UUID) -> tuple[Any, ...]:
    row = connection.execute(RESOLVE_AND_SPEND, status_parameters(user), prepare=True).fetchone()
    assert row is not None
    return tuple(row)


def floor_reserve(connection: Executor, user: UUID, amount: int, statement: str = RESERVE) -> bool:
    parameters = reserve_parameters(user, amount)
    row = connection.execute(statement, parameters, prepare=True).fetchone()
    assert row is not None
    return bool(row[0])


# -- driving callers -----------------------------------------------------------------------------

Call = Callable[[UUID], object]


@dataclass(frozen=True)
class Driven:
    """Calls made by ``drive`` (or by caller processes): each one's latency, the wall time from
    the common start to the last return, and the CPU time the callers spent meanwhile (every
    thread's, or every caller process's, summed; the kernel's work for them included, the
    server's processes not)."""

    latencies: tuple[float, ...] = ()
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    round_p50s: tuple[float, ...] = ()  # each round's median latency, in the order run

    @classmethod
    def of(cls, latencies: Sequence[float], seconds: float, cpu_seconds: float) -> Driven:
        """One round's calls."""
        return cls(tuple(latencies), seconds, cpu_seconds, (percentile(latencies, 0.50),))

    def __add__(self, other: Driven) -> Driven:
        return Driven(
            self.latencies + other.latencies,
            self.seconds + other.seconds,
            self.cpu_seconds + other.cpu_seconds,
            self.round_p50s + other.round_p50s,
        )


@dataclass(frozen=True)
class Measurement:
    operation: str
    implementation: str
    users: str
    callers: int
    driven: Driven

    @property
    def latencies(self) -> tuple[float, ...]:
        return self.driven.latencies

    @property
    def cpu_per_call(self) -> float:
        """The callers' CPU seconds per call: the client's side of the work."""
        return self.driven.cpu_seconds / len(self.latencies)

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.driven.seconds


def drive(
    make_call: Callable[[int], Call], users: Sequence[UUID], callers: int, calls: int, seed: int
) -> Driven:
    """``calls`` calls spread over ``callers`` threads (thread i calls ``make_call(i)``'s)."""
    per_thread = max(1, calls // callers)
    barrier = threading.Barrier(callers + 1)
    latencies: list[list[float]] = [[] for _ in range(callers)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            call = make_call(index)
            rng = random.Random(seed * 100 + index)
            chosen = [rng.choice(users) for _ in range(per_thread)]
            call(chosen[0])  # warm: connection, prepared statements
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
            return
        barrier.wait()
        try:
            for user in chosen:
                started = time.perf_counter()
                call(user)
                latencies[index].append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if errors:
        raise errors[0]
    return Driven.of([latency for per in latencies for latency in per], elapsed, cpu)


# -- the report ----------------------------------------------------------------------------------


@dataclass
class Profile:
    statements: int
    round_trips: int
    sql: list[str]
    where: list[tuple[str, float]]
    top: list[tuple[str, float, float]]


CallerKind = Literal["threads", "processes", "tasks"]


@dataclass
class HotPathReport:
    measurements: list[Measurement] = field(default_factory=list)  # callers as threads
    processes: list[Measurement] = field(default_factory=list)  # callers as processes
    tasks: list[Measurement] = field(default_factory=list)  # callers as tasks of one loop
    resolution: dict[str, Measurement] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    checks: int = 0

    def find(
        self,
        operation: str,
        implementation: str,
        users: str,
        callers: int,
        *,
        callers_are: CallerKind = "threads",
    ) -> Measurement:
        for m in self.of(callers_are):
            if (m.operation, m.implementation, m.users, m.callers) == (
                operation,
                implementation,
                users,
                callers,
            ):
                return m
        raise KeyError((operation, implementation, users, callers))

    def of(self, callers_are: CallerKind) -> list[Measurement]:
        """The measurements whose callers were threads, processes or tasks."""
        return {"threads": self.measurements, "processes": self.processes, "tasks": self.tasks}[
            callers_are
        ]


class FloorConnections:
    """The floors run on aigov's own hot-path pool: each call takes a connection from it, runs
    its statement through psycopg's cursor (prepared, as aigov's are), and gives it back, as
    aigov's calls do. Which server process serves a connection moves a round trip's time a
    lot; sharing the pool, floors and aigov meet the same ones."""

    def __init__(self, store: PostgresStore, size: int) -> None:
        self._pool = store.hot_path_pool.pool
        with contextlib.ExitStack() as held:  # open all of them now
            for _ in range(size):
                held.enter_context(self._pool.connection())

    def run(self, work: Callable[[psycopg.Connection[Any], UUID], object], user: UUID) -> object:
        with self._pool.connection() as connection:
            return work(connection, user)


def _check_floors(
    governance: Governance, dsn: str, users: Sequence[UUID], limited: Sequence[UUID]
) -> int:
    """The floors do aigov's work: the same limit, group and spend; the same grants; and the
    retiring floor, like aigov, frees expired holds before judging."""
    checks = 0
    with psycopg.connect(dsn, autocommit=True) as connection:
        for user in users:
            status = governance.spend_status(Actor.user(user), user)
            expected = (status.spend_limit_micros, status.group_id, status.spent_micros)
            limit, group, spent, held = floor_resolve_and_spend(connection, user)
            if (limit, group, spent, held) != (*expected, status.held_micros):
                raise AssertionError(f"hand-written resolve + spend disagrees for {user}")
            checks += 1
        # A tight override on fresh users: aigov and the floors grant the same holds.
        for user in limited:
            governance.upsert_user_budget_override(SYSTEM, user, TEAM, 1_000)
        ours, minimal, retiring = limited
        granted: dict[UUID, list[bool]] = {user: [] for user in limited}
        for _ in range(5):
            granted[ours].append(_aigov_reserves(governance, ours, 300))
            granted[minimal].append(floor_reserve(connection, minimal, 300))
            granted[retiring].append(floor_reserve(connection, retiring, 300, RESERVE_RETIRING))
        if any(grants != [True, True, True, False, False] for grants in granted.values()):
            raise AssertionError(f"reserve grants differ: {granted}")
        if _held(governance, limited) != [900, 900, 900]:
            raise AssertionError(f"reserve holds differ: {_held(governance, limited)}")
        # Their holds expire: aigov and the retiring floor free them and grant the whole limit.
        connection.execute(
            "UPDATE ai_spend_reservations SET expires_at = now() - interval '1 second'"
            " WHERE user_id = ANY(%s)",
            [list(limited)],
        )
        if not (
            _aigov_reserves(governance, ours, 1_000)
            and floor_reserve(connection, retiring, 1_000, RESERVE_RETIRING)
        ):
            raise AssertionError("expired holds were not retired")
        counters = connection.execute(
            "SELECT held_micros FROM ai_spend_counters WHERE user_id = ANY(%s) ORDER BY 1",
            [[ours, retiring]],
        ).fetchall()
        if counters != [(1_000,), (1_000,)]:
            raise AssertionError(f"counters after retiring: {counters}")
        for user in limited:
            governance.delete_user_budget_override(SYSTEM, user)
        return checks + 2


def _aigov_reserves(governance: Governance, user: UUID, amount: int) -> bool:
    try:
        governance.reserve(user, amount)
    except BudgetExceededError:
        return False
    return True


def _held(governance: Governance, users: Sequence[UUID]) -> list[int]:
    return [governance.spend_status(Actor.user(u), u).held_micros for u in users]


def _profile(store: PostgresStore, call: Callable[[], object], calls: int) -> Profile:
    """Statements and round trips of one ``call()``; where the time of ``calls`` of them goes."""
    statements: list[str] = []

    def listen(*args: Any) -> None:
        statements.append(" ".join(str(args[2]).split())[:110])

    engine = store.engine
    event.listen(engine, "before_cursor_execute", listen)
    call()
    statements.clear()
    with engine.connect() as connection:  # the pool's one connection: the next call gets it
        driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    hot_path = store.hot_path_pool
    with hot_path.pool.connection() as hot:  # its one connection: the next call's
        pass
    with (
        count_round_trips(driver) as trips,
        count_round_trips(hot) as hot_trips,
        mock.patch.object(hot_path, "first_row", wraps=hot_path.first_row) as sent,
    ):
        call()
    event.remove(engine, "before_cursor_execute", listen)
    statements += [
        f"(hot path pool) {' '.join(each.args[0].split())[:110]}" for each in sent.call_args_list
    ]
    trips[0] += hot_trips[0]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    buckets: dict[str, float] = {}
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        buckets[_bucket(path, name)] = buckets.get(_bucket(path, name), 0.0) + row[2]
    top = sorted(
        (
            (f"{path.split('site-packages/')[-1].split('/main/')[-1]}:{name}", row[2], row[3])
            for (path, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
        ),
        key=lambda item: item[2],
        reverse=True,
    )
    return Profile(
        statements=len(statements),
        round_trips=trips[0],
        sql=statements,
        where=sorted(((k, v / total) for k, v in buckets.items()), key=lambda kv: -kv[1]),
        top=[item for item in top if "benchmarks" not in item[0]][:12],
    )


def _bucket(path: str, name: str) -> str:
    """Which layer a function's own time belongs to."""
    if "psycopg" in path and "wait" in name:
        return "waiting on the server (psycopg's wait)"
    for layer in ("sqlalchemy", "psycopg", "pydantic"):
        if f"/{layer}/" in path or f"{layer}_core" in path:
            return layer
    if "/aigov" in path:
        return "aigov (core + adapter)"
    return "other (stdlib, builtins)"


def run(databases: Databases, *, quick: bool, log: Callable[[str], None]) -> HotPathReport:
    """Users 1-1,000 reserve, users 1,001-2,000 ask for their spend (each with some spend and a
    live hold), so that neither operation's data grows under the other's feet."""
    report = HotPathReport()
    url = databases.create()
    dsn = driver_dsn(url)
    users = [user_id(n) for n in range(1, 2 * USERS + 1)]
    with psycopg.connect(dsn, autocommit=True) as connection:
        postgres_directory(connection, len(users))
        _some_spend(connection, users[USERS:])
    store = PostgresStore.from_url(url, pool_size=max(CONCURRENCY), max_overflow=0)
    governance = Governance(store, entitlements=ENTITLED)
    in_memory = Governance(MemoryStore(), entitlements=ENTITLED)
    memory_directory(in_memory, len(users))
    try:
        floors = FloorConnections(store, max(CONCURRENCY))
        asking = [*users[USERS : USERS + 20], users[USERS]]
        report.checks += _check_floors(governance, dsn, asking, users[USERS - 3 : USERS])
        _measure(report, governance, in_memory, floors, users, quick, log)
        from benchmarks import async_tasks, processes  # noqa: PLC0415 - they build on this

        async_tasks.measure(report, store, users, quick, log)
        processes.measure(report, url, users, quick, log)
        report.profiles = _profiles(url, users, quick)
        _resolution(report, governance, users[:USERS], dsn, quick, log)
    finally:
        store.close()
        databases.drop(url)
    return report


USERS = 1_000


def _some_spend(connection: psycopg.Connection, users: Sequence[UUID]) -> None:
    """This period's counter with some spend, and one live hold, for each of ``users``."""
    now = datetime.now(UTC)
    period = period_window(now, "month").start
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ai_spend_counters VALUES (%s, %s, %s, %s, 50)",
            [(user, TEAM, period, 1_000 * (i + 1)) for i, user in enumerate(users)],
        )
        cursor.executemany(
            "INSERT INTO ai_spend_reservations VALUES (%s, %s, %s, %s, 50, %s, %s, 'held')",
            [(uuid.uuid4(), user, TEAM, period, now + timedelta(days=1), now) for user in users],
        )


Implementations = dict[tuple[str, str], Callable[[int], Call]]


def _aigov_status(g: Governance) -> Callable[[int], Call]:
    return lambda _: lambda user: g.spend_status(Actor.user(user), user)


def _aigov_reserve(g: Governance) -> Callable[[int], Call]:
    return lambda _: lambda user: g.reserve(user, 1, ttl=HOLD_TTL)


def implementations(
    governance: Governance, floors: FloorConnections, in_memory: Governance | None = None
) -> Implementations:
    """aigov on PostgreSQL (and on the memory store, when given) and the floors, keyed by
    (operation, implementation)."""

    def floor(work: Callable[[psycopg.Connection[Any], UUID], object]) -> Callable[[int], Call]:
        def make(_: int) -> Call:
            return lambda user: floors.run(work, user)

        return make

    chosen: Implementations = {
        ("resolve + spend", "aigov, Postgres"): _aigov_status(governance),
        ("resolve + spend", "hand-written query"): floor(floor_resolve_and_spend),
        ("reserve", "aigov, Postgres"): _aigov_reserve(governance),
        ("reserve", "hand-written statement"): floor(lambda c, u: floor_reserve(c, u, 1)),
        ("reserve", RETIRING): floor(lambda c, u: floor_reserve(c, u, 1, RESERVE_RETIRING)),
        ("SELECT 1", "psycopg"): floor(lambda c, u: c.execute("SELECT 1", prepare=True).fetchone()),
    }
    if in_memory is not None:
        chosen["resolve + spend", "aigov, memory"] = _aigov_status(in_memory)
        chosen["reserve", "aigov, memory"] = _aigov_reserve(in_memory)
    return chosen


def _measure(  # noqa: PLR0917 - private, called once
    report: HotPathReport,
    governance: Governance,
    in_memory: Governance,
    floors: FloorConnections,
    users: Sequence[UUID],
    quick: bool,
    log: Callable[[str], None],
) -> None:
    """Every implementation, user mix and concurrency; twelve interleaved rounds each, of 200
    calls or 50 per caller. The memory store makes a quarter of the calls: its numbers matter
    less here."""
    chosen = implementations(governance, floors, in_memory)
    rounds, per_caller = (1, 0) if quick else (12, 50)
    reserving, asking = users[:USERS], users[USERS:]
    for user_mix, hot in (("one hot user", True), ("1,000 users", False)):
        for callers in CONCURRENCY:
            # Each caller makes 50 calls or more, so that all run together for most of a round.
            calls = 32 if quick else max(200, per_caller * callers)
            gathered: dict[tuple[str, str], Driven] = {}
            for round_ in range(rounds):
                order = list(chosen.items())
                order = order[round_ % len(order) :] + order[: round_ % len(order)]
                for key, make in order:
                    pool = reserving if key[0] == "reserve" else asking
                    pool = pool[:1] if hot else pool
                    count = calls // 4 if "memory" in key[1] else calls
                    driven = drive(make, pool, callers, count, seed=round_)
                    gathered[key] = gathered.get(key, Driven()) + driven
            for (operation, implementation), driven in gathered.items():
                m = Measurement(operation, implementation, user_mix, callers, driven)
                report.measurements.append(m)
                log(
                    f"hot path {operation:>16} {implementation:>24} {user_mix:>12} "
                    f"x{callers:<2}: p50 {m.p50 * 1e3:7.3f} ms  p99 {m.p99 * 1e3:7.3f} ms  "
                    f"{m.throughput:8,.0f}/s  client CPU {m.cpu_per_call * 1e6:5.0f} µs/call"
                )


def _profiles(url: Any, users: Sequence[UUID], quick: bool) -> dict[str, Profile]:
    """Profile on a store with one pooled connection, so the traced connection is the one used."""
    store = PostgresStore.from_url(url, pool_size=1, max_overflow=0)
    try:
        governance = Governance(store, entitlements=ENTITLED)
        calls = 20 if quick else 500
        reserver, asker = users[1], users[USERS + 1]
        return {
            "reserve": _profile(store, lambda: governance.reserve(reserver, 1), calls),
            "spend_status": _profile(
                store, lambda: governance.spend_status(Actor.user(asker), asker), calls
            ),
        }
    finally:
        store.close()


def _resolution(  # noqa: PLR0917 - private, called once
    report: HotPathReport,
    governance: Governance,
    users: Sequence[UUID],
    dsn: str,
    quick: bool,
    log: Callable[[str], None],
) -> None:
    """``effective_budget`` of random users at 1,000 users, then at 1,000,000 (bulk SQL)."""
    calls = 50 if quick else 2_000
    large = 20_000 if quick else 1_000_000

    def make(_: int) -> Call:
        return governance.effective_budget

    report.resolution["1,000 users"] = Measurement(
        "resolution", "aigov, Postgres", "1,000 users", 1, drive(make, users, 1, calls, seed=7)
    )
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        add_users_sql(connection, 2 * USERS + 1, large)
        connection.execute("VACUUM ANALYZE")
        connection.execute("CHECKPOINT")  # the load's dirty pages written now, not meanwhile
    log(f"hot path: {large:,} users in {time.perf_counter() - started:.0f} s (bulk SQL)")
    everyone = [user_id(n) for n in random.Random(8).sample(range(1, large + 1), calls)]
    label = f"{large:,} users"
    report.resolution[label] = Measurement(
        "resolution", "aigov, Postgres", label, 1, drive(make, everyone, 1, calls, seed=9)
    )
    for name, m in report.resolution.items():
        log(f"resolution at {name:>16}: p50 {m.p50 * 1e3:.3f} ms  p99 {m.p99 * 1e3:.3f} ms")

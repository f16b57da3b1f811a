"""The checkout check (``_liveness.hung_up``): it finds a connection the server ended, and
nothing else, without a round trip."""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov_postgres._liveness import hung_up, watch_for_goodbye
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

Connection = psycopg.Connection[Any]


@pytest.fixture
def idle(postgres_url: URL) -> Iterator[Connection]:
    with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as connection:
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
    """The server's goodbye (an error) and its end of file both wait on the socket: the check
    reads past the goodbye to the end."""
    pid = idle.info.backend_pid
    assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)
    assert hung_up(idle)


def test_a_closed_connection_is_hung_up(idle: Connection):
    idle.close()
    assert hung_up(idle)


def test_a_notification_on_an_idle_connection_is_not_a_hang_up(idle: Connection, admin: Connection):
    """Input on an idle connection is not a goodbye: it stays for the next statement."""
    idle.execute("LISTEN aigov_liveness")
    admin.execute("NOTIFY aigov_liveness, 'hello'")
    admin.execute("SELECT pg_sleep(0.05)")
    assert not hung_up(idle)
    assert idle.execute("SELECT 1").fetchone() == (1,)
    assert [n.payload for n in idle.notifies(timeout=0.5, stop_after=1)] == ["hello"]


def test_a_goodbye_is_caught_before_the_end_of_file(postgres_url: URL, admin: Connection):
    """The server sends its goodbye about a millisecond before it closes the socket: a
    checkout in between finds the connection ended, not a statement. (Checked on ten
    connections: the end of file often arrives first, and then any check would pass.)"""
    for _ in range(10):
        with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as idle:
            watch_for_goodbye(idle)
            readable = select.poll()
            readable.register(idle.pgconn.socket, select.POLLIN)
            admin.execute("SELECT pg_terminate_backend(%s)", [idle.info.backend_pid])
            assert readable.poll(5_000)
            assert hung_up(idle)

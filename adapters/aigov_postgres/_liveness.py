"""Drop pooled connections the server has hung up on, without a round trip.

``pool_pre_ping`` costs a ``SELECT 1`` round trip on every checkout, as much as the hot path's
own statement on a quiet server. A server that ends an idle session (a restart, a failover,
``pg_terminate_backend``, an idle timeout) sends a FATAL error, then, about a millisecond
later, the end of file. libpq reads both without waiting; parsing what it read hands an idle
session's error to the notice handlers, where ``watch_for_goodbye`` notes it. So a connection
is caught from the moment the goodbye arrives, and anything else an idle connection receives
(a notification, a changed parameter) stays for psycopg to deliver with the next statement.

``select.poll`` would tell as much, but Python lets go of the GIL around it: with 16 threads on
2 cores that hand-over, taken inside the hot path's pool lock, made the spend query 1.5-1.8
times slower than the same query on a connection of its own. libpq's reads and parsing keep
the GIL (measured, see docs/benchmarks.md).
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from psycopg.errors import Diagnostic
from psycopg.pq import ConnStatus
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

__all__ = ["drop_hung_up_connections", "hung_up", "watch_for_goodbye"]

_READS = 3
"""Reads per check: over TLS each read takes one record, and a goodbye may come after a
notification (then the error, then the close: three records)."""

_ENDED_SEVERITIES = frozenset({"FATAL", "PANIC"})
_said_goodbye: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def watch_for_goodbye(connection: psycopg.Connection[Any]) -> None:
    """Note the server's goodbye when it reaches ``connection`` while idle. Called once, when
    the connection opens."""
    ref = weakref.ref(connection)

    def note(diagnostic: Diagnostic) -> None:
        watched = ref()
        if watched is not None and diagnostic.severity_nonlocalized in _ENDED_SEVERITIES:
            _said_goodbye.add(watched)

    connection.add_notice_handler(note)


def hung_up(connection: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection is closed or broken, or the server has ended it: its end
    of file arrived, or its goodbye did (noted only on connections ``watch_for_goodbye``
    watches)."""
    if connection.closed or connection.broken:
        return True
    pgconn = connection.pgconn
    try:
        for _ in range(_READS):
            pgconn.consume_input()
    except psycopg.OperationalError:
        return True
    if pgconn.status != ConnStatus.OK:
        return True
    pgconn.get_result()  # idle: parses what arrived and returns None at once
    return connection in _said_goodbye


def drop_hung_up_connections(engine: Engine) -> None:
    """Make the engine's pool watch each new connection and replace a hung-up one at
    checkout."""

    @event.listens_for(engine, "connect")
    def _watch(dbapi_connection: Any, _record: Any) -> None:
        watch_for_goodbye(dbapi_connection)

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if hung_up(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")

"""Drop pooled connections the server has hung up on, without a round trip.

``pool_pre_ping`` costs a ``SELECT 1`` round trip on every checkout, as much as the hot path's
own statement on a quiet server. A connection the server closed (a restart, a failover, an idle
timeout) has its goodbye and the end of file waiting on its socket: libpq reads them without
waiting, and marks the connection bad on the end of file. That catches what a ping catches on an
idle connection, for two non-blocking reads.

``select.poll`` would tell as much, but Python lets go of the GIL around it: with 16 threads on
2 cores that hand-over, taken inside the hot path's pool lock, made the spend query 1.5-1.8 times
slower than the same query on a connection of its own; libpq's reads keep the GIL (measured,
see docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.pq import ConnStatus
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

__all__ = ["drop_hung_up_connections", "hung_up"]


def hung_up(connection: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection is closed or broken, or the server has closed it. A server
    that ends a session sends an error, then the end of file: the first read may find only the
    error (libpq keeps it), the second finds the end. Anything else the server sends an idle
    session (a notice, a changed parameter) stays buffered for libpq to handle with the next
    statement's results."""
    if connection.closed or connection.broken:
        return True
    pgconn = connection.pgconn
    try:
        pgconn.consume_input()
        pgconn.consume_input()
    except psycopg.OperationalError:
        return True
    return pgconn.status != ConnStatus.OK


def drop_hung_up_connections(engine: Engine) -> None:
    """Make the engine's pool replace a hung-up connection at checkout."""

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if hung_up(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")

"""Drop pooled connections the server has hung up on, without a round trip.

``pool_pre_ping`` costs a ``SELECT 1`` round trip on every checkout, as much as the hot path's
own statement on a quiet server. A connection the server closed (a restart, a failover, an idle
timeout) has a readable socket: the server's goodbye, or end of file. Checking that is a system
call, and catches what a ping catches on an idle connection; a pool that finds one reconnects.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

__all__ = ["drop_hung_up_connections", "hung_up", "readable"]

_poll = getattr(select, "poll", None)


def readable(connection: psycopg.Connection[Any]) -> Callable[[], bool]:
    """Whether the connection's socket has anything to read: built once per connection, as the
    hot path's pool does, it costs one system call."""
    fd = connection.fileno()
    if _poll is None:  # pragma: no cover - platforms without poll(2)
        return lambda: bool(select.select([fd], [], [], 0)[0])
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return lambda: bool(poller.poll(0))


def hung_up(
    connection: psycopg.Connection[Any], has_input: Callable[[], bool] | None = None
) -> bool:
    """Whether an idle connection is closed, broken, or has anything to read (it should not:
    an idle session receives nothing unless it listens for notifications, which aigov's do not).
    ``has_input`` is the connection's ``readable`` check, when kept."""
    if connection.closed or connection.broken:
        return True
    return (has_input or readable(connection))()


def drop_hung_up_connections(engine: Engine) -> None:
    """Make the engine's pool replace a hung-up connection at checkout."""

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if hung_up(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")

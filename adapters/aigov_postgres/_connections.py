"""Where the store's connections come from: SQLAlchemy's pool for units of work, and a
``psycopg_pool.ConnectionPool`` for the hot path's single statements, which psycopg prepares on
each connection at their first use there (``prepare=True``).

A connection that broke (a server restart, ``pg_terminate_backend``, a proxy that hung up) is
dropped by the pool; the statement that found it broken runs once more on another connection,
after the pool has checked its idle ones (a restart breaks them all at once). A read is safe
to run again; a write raises ``WriteInterruptedError`` instead, and the caller looks whether
it committed before it runs it again.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

__all__ = ["HotPathPool", "WriteInterruptedError", "create_unit_of_work_engine"]

# The hot path's sessions run at READ COMMITTED (SPEC §8.0) whatever the server's default.
_SESSION = "SET default_transaction_isolation TO 'read committed'"
_STALE_PLAN = "cached plan must not change result type"  # FeatureNotSupported's, once prepared
_FORGOTTEN = (
    errors.InvalidSqlStatementName,
    errors.DuplicatePreparedStatement,
    errors.FeatureNotSupported,
)


class WriteInterruptedError(Exception):
    """A write's connection broke before its answer arrived: whether it committed is unknown
    until the caller looks."""


def create_unit_of_work_engine(url: URL, **engine_options: Any) -> Engine:
    """SQLAlchemy's engine for units of work: LIFO, and a connection is pinged on checkout
    (a unit of work is several round trips; the ping is one more), so one the server ended
    while it was idle is replaced instead of failing the transaction."""
    options: dict[str, Any] = {"pool_use_lifo": True, "pool_pre_ping": True} | engine_options
    return create_engine(url, **options)


class HotPathConnection(psycopg.Connection[TupleRow]):
    """A pooled hot-path connection. It runs every statement on one cursor of its own: a
    connection serves one caller at a time, and a new cursor per statement (what
    ``Connection.execute`` makes) costs the client more than the rest of the call."""

    @functools.cached_property
    def statement_cursor(self) -> psycopg.Cursor[TupleRow]:
        return self.cursor()


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.autocommit = True
    connection.execute(_SESSION)


class HotPathPool:
    """Single statements, each its own READ COMMITTED transaction (autocommit), on a
    ``psycopg_pool.ConnectionPool`` of at most ``size`` connections, opened as they are needed
    with ``conninfo`` and ``connect_args`` (or by ``creator``, a callable returning a psycopg
    connection: a fresh credential per connection, say). After ``close`` the next statement
    opens a new pool."""

    def __init__(
        self,
        conninfo: str,
        *,
        size: int,
        connect_args: Mapping[str, Any] | None = None,
        creator: Callable[[], object] | None = None,
        timeout: float = 30.0,
        max_idle: float = 600.0,
        max_lifetime: float = 3600.0,
    ) -> None:
        self._conninfo, self._kwargs = conninfo, dict(connect_args or {})
        self._size, self._timeout = size, timeout
        self._max_idle, self._max_lifetime = max_idle, max_lifetime
        self._connection_class = self._connections_from(creator)
        self._last_connect_error: BaseException | None = None
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] | None = None

    def _connections_from(
        self, creator: Callable[[], object] | None
    ) -> type[psycopg.Connection[TupleRow]]:
        """psycopg_pool connects in its own threads and tells a waiting caller only that it
        timed out: this class keeps the last reason a connection could not be opened, for the
        caller's error."""
        pool = self

        class Connection(HotPathConnection):
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Connection:
                try:
                    connection = super().connect(*args, **kwargs) if creator is None else creator()
                    if not isinstance(connection, psycopg.Connection):
                        raise psycopg.InterfaceError(  # noqa: TRY301 - kept as the reason below
                            "the hot path needs psycopg 3 connections, not "
                            + type(connection).__name__
                        )
                except Exception as exc:
                    pool._last_connect_error = exc
                    raise
                pool._last_connect_error = None
                return connection  # type: ignore[return-value]  # served as psycopg.Connection

        return Connection

    @property
    def pool(self) -> ConnectionPool[psycopg.Connection[TupleRow]]:
        """The pool itself, opened if it was not (its ``get_stats()`` tells how it fares)."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self._conninfo,
                        connection_class=self._connection_class,
                        kwargs=self._kwargs,
                        min_size=0,
                        max_size=self._size,
                        timeout=self._timeout,
                        max_idle=self._max_idle,
                        max_lifetime=self._max_lifetime,
                        configure=_configure,
                        name="aigov hot path",
                        open=True,
                    )
                pool = self._pool
        return pool

    def first_row(
        self, query: str, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> tuple[Any, ...] | None:
        """The first row of ``query`` (None when it returns none). When the connection breaks
        under it, a read runs again on another connection; a write raises
        ``WriteInterruptedError``. Driver errors are psycopg's."""
        retried = False
        while True:
            pool, used = self.pool, None
            try:
                used = pool.getconn()
                try:
                    return _first_row(used, query, parameters)
                finally:
                    pool.putconn(used)  # a broken one is dropped, a fresh one comes later
            except PoolClosed:
                if self._pool is pool:
                    raise
                # closed by another thread meanwhile: the next pool serves the statement
            except PoolTimeout as exc:
                raise self._timed_out(exc) from exc
            except psycopg.Error as exc:
                if retried or used is None or not used.broken:
                    raise
                with contextlib.suppress(PoolClosed):
                    pool.check()  # a restart breaks every idle connection at once
                if writes:
                    raise WriteInterruptedError from exc
                retried = True

    def _timed_out(self, exc: PoolTimeout) -> psycopg.OperationalError:
        reason = self._last_connect_error
        if reason is None:
            return exc
        return psycopg.OperationalError(f"{exc}; the last attempt to connect failed: {reason}")

    def close(self) -> None:
        """Close the pool's connections; a later statement opens a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _first_row(
    connection: psycopg.Connection[TupleRow], query: str, parameters: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run prepared. A session that forgot its prepared statements (a proxy's DEALLOCATE or
    DISCARD ALL), whose plan went stale (a column changed type) or that already holds a
    statement of the name psycopg picked (a proxy's other client) answers with an error before
    running anything: psycopg forgets its statements too (``DEALLOCATE ALL``), the session's
    settings are applied again, and the statement runs once more."""
    run = (
        connection.statement_cursor.execute
        if isinstance(connection, HotPathConnection)
        else connection.execute  # one a creator made
    )
    try:
        return run(query, parameters, prepare=True).fetchone()
    except _FORGOTTEN as exc:
        stale = not isinstance(exc, errors.FeatureNotSupported) or _STALE_PLAN in str(exc)
        if connection.broken or not stale:
            raise
        connection.execute("DEALLOCATE ALL")
        connection.execute(_SESSION)
    return run(query, parameters, prepare=True).fetchone()

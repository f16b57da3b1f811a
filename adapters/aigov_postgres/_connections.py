"""Where the store's connections come from: SQLAlchemy's pools for units of work, and
``psycopg_pool`` pools for the hot path's single statements, which psycopg prepares on each
connection at their first use there (``prepare=True``): a ``ConnectionPool`` for threads and,
for each event loop that uses the store, an ``AsyncConnectionPool``.

A connection that broke (a server restart, ``pg_terminate_backend``, a proxy that hung up) is
dropped by the pool; the statement that found it broken runs once more on another connection,
after the pool has checked its idle ones (a restart breaks them all at once). A read is safe
to run again; a write raises ``WriteInterruptedError`` instead, and the caller looks whether
it committed before it runs it again. What to do is written once, as a plan
(``aigov.plans``); the sync and the async pools only wait differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aigov.plans import Plan, TwinStep, awaiting, blocking

__all__ = [
    "HotPathPool",
    "Row",
    "WriteInterruptedError",
    "create_async_unit_of_work_engine",
    "create_unit_of_work_engine",
]

Row = tuple[Any, ...] | None
T = TypeVar("T")

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


def _engine_options(engine_options: Mapping[str, Any]) -> dict[str, Any]:
    """LIFO, and a connection is pinged on checkout (a unit of work is several round trips;
    the ping is one more), so one the server ended while it was idle is replaced instead of
    failing the transaction."""
    return {"pool_use_lifo": True, "pool_pre_ping": True} | dict(engine_options)


def create_unit_of_work_engine(url: URL, **engine_options: Any) -> Engine:
    """SQLAlchemy's engine for units of work."""
    return create_engine(url, **_engine_options(engine_options))


def create_async_unit_of_work_engine(url: URL, **engine_options: Any) -> AsyncEngine:
    """``create_unit_of_work_engine``'s twin for one event loop: the same options on
    SQLAlchemy's asyncio engine, whose connections are psycopg ``AsyncConnection``s."""
    return create_async_engine(url, **_engine_options(engine_options))


class HotPathConnection(psycopg.Connection[TupleRow]):
    """A pooled hot-path connection. It runs every statement on one cursor of its own: a
    connection serves one caller at a time, and a new cursor per statement (what
    ``Connection.execute`` makes) costs the client more than the rest of the call."""

    @functools.cached_property
    def statement_cursor(self) -> psycopg.Cursor[TupleRow]:
        return self.cursor()


class AsyncHotPathConnection(psycopg.AsyncConnection[TupleRow]):
    """``HotPathConnection``'s twin for an event loop."""

    @functools.cached_property
    def statement_cursor(self) -> psycopg.AsyncCursor[TupleRow]:
        return self.cursor()


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.autocommit = True
    connection.execute(_SESSION)


async def _aconfigure(connection: psycopg.AsyncConnection[Any]) -> None:
    await connection.set_autocommit(True)
    await connection.execute(_SESSION)


_AnyPool = ConnectionPool[Any] | AsyncConnectionPool[Any]
_AnyConnection = psycopg.Connection[TupleRow] | psycopg.AsyncConnection[TupleRow]


class HotPathPool:
    """Single statements, each its own READ COMMITTED transaction (autocommit), on a
    ``psycopg_pool`` pool of at most ``size`` connections, opened as they are needed with
    ``conninfo`` and ``connect_args`` (or by ``creator``, a callable returning a psycopg
    connection: a fresh credential per connection, say; ``async_creator`` is its coroutine
    twin, returning a psycopg ``AsyncConnection``). ``first_row`` runs on the threads' pool,
    ``afirst_row`` on the calling event loop's own. After ``close`` (``aclose`` on a loop) the
    next statement opens a new pool."""

    def __init__(
        self,
        conninfo: str,
        *,
        size: int,
        connect_args: Mapping[str, Any] | None = None,
        creator: Callable[[], object] | None = None,
        async_creator: Callable[[], Any] | None = None,
        timeout: float = 30.0,
        max_idle: float = 600.0,
        max_lifetime: float = 3600.0,
    ) -> None:
        self._conninfo, self._kwargs = conninfo, dict(connect_args or {})
        self._size, self._timeout = size, timeout
        self._max_idle, self._max_lifetime = max_idle, max_lifetime
        self._creator, self._async_creator = creator, async_creator
        self._connection_class = self._connections_from(creator)
        self._async_connection_class = self._async_connections_from(async_creator)
        self._last_connect_error: BaseException | None = None
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] | None = None
        self._async_pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
        ] = weakref.WeakKeyDictionary()

    def _connected(self, connection: object, wanted: type) -> None:
        if not isinstance(connection, wanted):
            raise psycopg.InterfaceError(
                f"the hot path needs psycopg 3 {wanted.__name__}s, not {type(connection).__name__}"
            )
        self._last_connect_error = None

    def _connections_from(
        self, creator: Callable[[], object] | None
    ) -> type[psycopg.Connection[TupleRow]]:
        """psycopg_pool connects in its own threads (tasks) and tells a waiting caller only
        that it timed out: these classes keep the last reason a connection could not be
        opened, for the caller's error."""
        pool = self

        class Connection(HotPathConnection):
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Connection:
                try:
                    connection = super().connect(*args, **kwargs) if creator is None else creator()
                    pool._connected(connection, psycopg.Connection)
                except Exception as exc:
                    pool._last_connect_error = exc
                    raise
                return connection  # type: ignore[return-value]  # served as psycopg.Connection

        return Connection

    def _async_connections_from(
        self, creator: Callable[[], Any] | None
    ) -> type[psycopg.AsyncConnection[TupleRow]]:
        pool = self

        class Connection(AsyncHotPathConnection):
            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Connection:
                try:
                    if creator is None:
                        connection = await super().connect(*args, **kwargs)
                    else:
                        connection = await creator()
                    pool._connected(connection, psycopg.AsyncConnection)
                except Exception as exc:
                    pool._last_connect_error = exc
                    raise
                return connection  # an AsyncConnection

        return Connection

    @property
    def pool(self) -> ConnectionPool[psycopg.Connection[TupleRow]]:
        """The threads' pool, opened if it was not (its ``get_stats()`` tells how it fares)."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self._conninfo,
                        connection_class=self._connection_class,
                        **self._pool_options(),
                        configure=_configure,
                        name="aigov hot path",
                        open=True,
                    )
                pool = self._pool
        return pool

    def _pool_options(self) -> dict[str, Any]:
        """What the threads' pool and every loop's pool share: size, timeouts and lifetimes."""
        return {
            "kwargs": self._kwargs,
            "min_size": 0,
            "max_size": self._size,
            "timeout": self._timeout,
            "max_idle": self._max_idle,
            "max_lifetime": self._max_lifetime,
        }

    async def async_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
        """The calling event loop's pool, opened if it was not. A pool serves the loop that
        opened it only (its connections' I/O is that loop's)."""
        loop = asyncio.get_running_loop()
        pool = self._async_pools.get(loop)
        if pool is None:
            if self._creator is not None and self._async_creator is None:
                raise psycopg.InterfaceError(
                    "this store's connections come from a sync creator: give it an"
                    " async_creator too to use it from an event loop"
                )
            pool = AsyncConnectionPool(
                self._conninfo,
                connection_class=self._async_connection_class,
                **self._pool_options(),
                configure=_aconfigure,
                name="aigov async hot path",
                open=False,
            )
            self._async_pools[loop] = pool  # before the first await: one pool per loop
            await pool.open()
        return pool

    def first_row(self, query: str, parameters: Mapping[str, Any], *, writes: bool = False) -> Row:
        """The first row of ``query`` (None when it returns none). When the connection breaks
        under it, a read runs again on another connection; a write raises
        ``WriteInterruptedError``. Driver errors are psycopg's."""
        return blocking(_first_row(query, parameters, writes), lambda step: step.run(self))

    async def afirst_row(
        self, query: str, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Row:
        """``first_row`` on the calling event loop's pool."""
        return await awaiting(_first_row(query, parameters, writes), lambda step: step.arun(self))

    def _timed_out(self, exc: PoolTimeout) -> psycopg.OperationalError:
        reason = self._last_connect_error
        if reason is None:
            return exc
        return psycopg.OperationalError(f"{exc}; the last attempt to connect failed: {reason}")

    def close(self) -> None:
        """Close the threads' pool; a later statement opens a new one. An event loop's pool is
        closed by ``aclose`` on that loop (one of a loop that has ended is dropped here)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        for loop in [loop for loop in self._async_pools if loop.is_closed()]:
            self._async_pools.pop(loop, None)

    async def aclose(self) -> None:
        """Close the calling event loop's pool; a later statement on it opens a new one."""
        pool = self._async_pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()


class _PoolStep(TwinStep["HotPathPool", T]):
    """A step of a hot-path statement, done on the threads' pool or the loop's."""

    __slots__ = ()


class _Checkout(_PoolStep[tuple[_AnyPool, _AnyConnection]]):
    """A connection of the pool, and the pool it came from. A pool closed by another caller
    meanwhile is replaced by the next one; a wait past the timeout says why connecting
    failed, when it did."""

    __slots__ = ()

    def run(self, pools: HotPathPool) -> tuple[_AnyPool, _AnyConnection]:
        while True:
            pool = pools.pool
            try:
                return pool, pool.getconn()
            except PoolClosed:
                if pools._pool is pool:
                    raise
            except PoolTimeout as exc:
                raise pools._timed_out(exc) from exc

    async def arun(self, pools: HotPathPool) -> tuple[_AnyPool, _AnyConnection]:
        while True:
            pool = await pools.async_pool()
            try:
                return pool, await pool.getconn()
            except PoolClosed:
                if pools._async_pools.get(asyncio.get_running_loop()) is pool:
                    raise
            except PoolTimeout as exc:
                raise pools._timed_out(exc) from exc


class _Checkin(_PoolStep[None]):
    """Give the connection back (a broken one is dropped, a fresh one comes later)."""

    __slots__ = ("connection", "pool")

    def __init__(self, pool: _AnyPool, connection: _AnyConnection) -> None:
        self.pool, self.connection = pool, connection

    def run(self, pools: HotPathPool) -> None:
        self.pool.putconn(self.connection)

    async def arun(self, pools: HotPathPool) -> None:
        await self.pool.putconn(self.connection)  # type: ignore[misc]


class _CheckIdle(_PoolStep[None]):
    """Have the pool check its idle connections: a restart breaks them all at once."""

    __slots__ = ("pool",)

    def __init__(self, pool: _AnyPool) -> None:
        self.pool = pool

    def run(self, pools: HotPathPool) -> None:
        with contextlib.suppress(PoolClosed):
            self.pool.check()

    async def arun(self, pools: HotPathPool) -> None:
        with contextlib.suppress(PoolClosed):
            await self.pool.check()  # type: ignore[misc]


class _Execute(_PoolStep[Row]):
    """One statement on the connection; its first row when ``prepare`` (the hot path's own
    statements), nothing otherwise (a session command)."""

    __slots__ = ("connection", "parameters", "prepare", "query")

    def __init__(
        self,
        connection: _AnyConnection,
        query: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        prepare: bool = True,
    ) -> None:
        self.connection, self.query, self.parameters = connection, query, parameters
        self.prepare = prepare

    def run(self, pools: HotPathPool) -> Row:
        connection = self.connection
        assert isinstance(connection, psycopg.Connection)
        if not self.prepare:
            connection.execute(self.query)
            return None
        cursor = (
            connection.statement_cursor
            if isinstance(connection, HotPathConnection)
            else connection.cursor()  # one a creator made
        )
        return cursor.execute(self.query, self.parameters, prepare=True).fetchone()

    async def arun(self, pools: HotPathPool) -> Row:
        connection = self.connection
        assert isinstance(connection, psycopg.AsyncConnection)
        if not self.prepare:
            await connection.execute(self.query)
            return None
        cursor = (
            connection.statement_cursor
            if isinstance(connection, AsyncHotPathConnection)
            else connection.cursor()
        )
        await cursor.execute(self.query, self.parameters, prepare=True)
        return await cursor.fetchone()


def _first_row(
    query: str, parameters: Mapping[str, Any], writes: bool
) -> Plan[_PoolStep[Any], Row]:
    """``HotPathPool.first_row``, written once: a connection that broke under the statement
    is dropped; the pool checks its idle ones; a read runs once more, a write raises
    ``WriteInterruptedError``."""
    retried = False
    while True:
        pool, connection = yield from _Checkout()
        try:
            try:
                return (yield from _prepared(connection, query, parameters))
            finally:
                yield from _Checkin(pool, connection)
        except psycopg.Error as exc:
            if retried or not connection.broken:
                raise
            yield from _CheckIdle(pool)
            if writes:
                raise WriteInterruptedError from exc
            retried = True


def _prepared(
    connection: _AnyConnection, query: str, parameters: Mapping[str, Any]
) -> Plan[_PoolStep[Any], Row]:
    """Run prepared. A session that forgot its prepared statements (a proxy's DEALLOCATE or
    DISCARD ALL), whose plan went stale (a column changed type) or that already holds a
    statement of the name psycopg picked (a proxy's other client) answers with an error before
    running anything: psycopg forgets its statements too (``DEALLOCATE ALL``), the session's
    settings are applied again, and the statement runs once more."""
    try:
        return (yield from _Execute(connection, query, parameters))
    except _FORGOTTEN as exc:
        stale = not isinstance(exc, errors.FeatureNotSupported) or _STALE_PLAN in str(exc)
        if connection.broken or not stale:
            raise
    yield from _Execute(connection, "DEALLOCATE ALL", prepare=False)
    yield from _Execute(connection, _SESSION, prepare=False)
    return (yield from _Execute(connection, query, parameters))

"""The hot path's connections, and how a statement runs on one: prepared by name on each
connection at its first use there, then executed by name in one libpq call.

``PGconn.exec_prepared`` sends the statement and waits for its row inside libpq, without
Python's GIL. psycopg's cursor does the same through some forty Python calls, about 30,000
machine instructions a statement more (counted with callgrind): as much as all of aigov's own
work on the hot path. psycopg's ``Transformer`` still does the adaptation, as
for a cursor: it dumps the parameters (numbers as text, which the server parses as the
declared type; the rest binary) and loads the row (binary: no numbers parsed from text).
Like any blocking C call, a running statement does not see Python's signals (Ctrl-C) until
it returns; ``statement_timeout`` bounds it on the server.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import abc, postgres
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result
from psycopg.pq import ConnStatus, DiagnosticField, ExecStatus, Format, TransactionStatus
from psycopg.pq.abc import PGconn, PGresult

from aigov_postgres._liveness import Watch, hung_up, watch_for_goodbye

__all__ = ["Statement", "StatementPool"]

# libpq's statuses are plain ints: comparing ints is cheaper
_IDLE = int(TransactionStatus.IDLE)
_TUPLES_OK = int(ExecStatus.TUPLES_OK)
_COMMAND_OK = int(ExecStatus.COMMAND_OK)
_FATAL_ERROR = int(ExecStatus.FATAL_ERROR)
_OK = int(ConnStatus.OK)
_BINARY = int(Format.BINARY)  # the row comes back binary: no numbers to parse from text
_SQLSTATE = DiagnosticField.SQLSTATE
_UNKNOWN_STATEMENT = b"26000"  # invalid_sql_statement_name: DEALLOCATE or DISCARD ALL ran


# psycopg sends a Python int as int2, int4, int8 or numeric by its value: a binary one would
# have to match the declared width, so numbers go as text (the server parses them).
_AS_TEXT = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})


class Statement(NamedTuple):
    """A statement as the pool runs it: its text (raw placeholders: $1, $2, …), the name it is
    prepared under on each connection, and the type of each parameter."""

    sql: bytes
    name: bytes
    types: tuple[int, ...]  # the parameters' type oids
    dumped_as: list[PyFormat]  # how the transformer dumps each parameter
    sent_as: tuple[Format, ...]  # and the format libpq tells the server

    @classmethod
    def of(cls, sql: str, *types: str) -> Statement:
        """The statement ``sql`` whose parameters have the PostgreSQL ``types`` ("uuid",
        "int8", …), in order. Its name comes from its text: the same text, the same name."""
        text = sql.encode()
        name = b"aigov_" + hashlib.sha256(text).hexdigest()[:24].encode()
        oids = tuple(postgres.types[type_name].oid for type_name in types)
        sent_as = tuple(Format.TEXT if t in _AS_TEXT else Format.BINARY for t in types)
        dumped_as = [PyFormat.from_pq(each) for each in sent_as]
        return cls(text, name, oids, dumped_as, sent_as)


class _Pooled(NamedTuple):
    connection: psycopg.Connection[Any]
    pgconn: PGconn
    transformer: abc.Transformer  # reused: it keeps the dumpers and loaders it looked up
    prepared: set[bytes]  # the names of the statements prepared on this connection
    generation: int  # the pool's when it opened: close() starts a new one
    watch: Watch  # what the checkout check knows of it


def _first_row(pooled: _Pooled, statement: Statement, parameters: Sequence[Any]) -> Any:
    """The first row of ``statement`` run on ``pooled`` (None when it returns none)."""
    if statement.name not in pooled.prepared:
        _prepare(pooled, statement)
    transformer, execute = pooled.transformer, pooled.pgconn.exec_prepared
    # None is NULL: libpq takes it, though psycopg's type stub of exec_prepared does not say so
    values: Sequence[Any] = transformer.dump_sequence(parameters, statement.dumped_as)
    result = execute(statement.name, values, statement.sent_as, _BINARY)
    status = result.status
    if status == _FATAL_ERROR and result.error_field(_SQLSTATE) == _UNKNOWN_STATEMENT:
        pooled.prepared.clear()  # the session forgot them: prepare this one again, once
        _prepare(pooled, statement)
        result = execute(statement.name, values, statement.sent_as, _BINARY)
        status = result.status
    if status != _TUPLES_OK:
        if status == _COMMAND_OK:
            return None
        raise _error(pooled, result)
    if not result.ntuples:
        return None
    transformer.set_pgresult(result)
    return transformer.load_row(0, tuple)


def _prepare(pooled: _Pooled, statement: Statement) -> None:
    result = pooled.pgconn.prepare(statement.name, statement.sql, statement.types)
    if result.status != _COMMAND_OK:
        raise _error(pooled, result)
    pooled.prepared.add(statement.name)


def _error(pooled: _Pooled, result: PGresult) -> psycopg.Error:
    """The psycopg error a cursor would raise for ``result``: OperationalError when the
    connection broke (its message is libpq's, with no SQLSTATE), else the SQLSTATE's class."""
    encoding = pooled.connection.info.encoding
    if pooled.pgconn.status != _OK:
        return psycopg.OperationalError(result.get_error_message(encoding))
    return error_from_result(result, encoding=encoding)


class StatementPool:
    """Connections in autocommit for the hot path's single statements, at READ COMMITTED
    (SPEC §8.0) whatever the server's default. At most ``size`` are open; they open at first
    use, and a caller finding all busy waits up to ``timeout`` seconds. A caller takes the
    connection given back last (LIFO): under light load one warm backend serves every call,
    and the connections a burst opened go idle and are closed after ``max_idle`` seconds.
    psycopg_pool lends its connections in turn (FIFO), which on a quiet gateway costs a cold
    backend per call (+150 µs a query, measured); SQLAlchemy's LIFO pool costs twice this one's
    checkout. A connection the server hung up on is replaced at once: no ping, no back-off."""

    def __init__(
        self,
        connect: Callable[[], object],
        *,
        size: int,
        timeout: float = 30.0,
        max_idle: float = 600.0,
    ) -> None:
        """``connect`` opens a psycopg connection (the engine's creator, when it has one)."""
        self._connect, self._size = connect, size
        self._timeout, self._max_idle = timeout, max_idle
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._idle: list[tuple[_Pooled, float]] = []  # with when each came back; the last, last
        self._open = 0  # idle and lent
        self._waiting = 0
        self._generation = 0

    def one_row(self, statement: Statement, parameters: Sequence[Any]) -> Any:
        """The first row of ``statement`` (None when it returns none), run as its own
        transaction: one round trip, and one more the first time a connection runs it (to
        prepare it)."""
        pooled = self._take()
        try:
            return _first_row(pooled, statement, parameters)
        finally:
            self._give_back(pooled)

    def _take(self) -> _Pooled:
        deadline = None
        with self._lock:
            while True:
                if self._idle:
                    pooled = self._idle.pop()[0]
                    if not hung_up(pooled.connection, pooled.watch):
                        return pooled
                    pooled.connection.close()
                    self._open -= 1
                elif self._open < self._size:
                    self._open += 1
                    generation = self._generation
                    break
                else:
                    deadline = deadline or time.monotonic() + self._timeout
                    self._wait_until(deadline)
        try:
            connection, watch = self._new_connection()
        except BaseException:
            with self._lock:
                self._open -= 1
                self._wake_one()
            raise
        transformer = Transformer(connection)
        return _Pooled(connection, connection.pgconn, transformer, set(), generation, watch)

    def _new_connection(self) -> tuple[psycopg.Connection[Any], Watch]:
        connection = self._connect()
        if not isinstance(connection, psycopg.Connection):
            raise psycopg.InterfaceError(
                f"the hot path needs psycopg 3 connections, not {type(connection).__name__}"
            )
        connection.autocommit = True
        connection.execute("SET default_transaction_isolation TO 'read committed'")
        return connection, watch_for_goodbye(connection)

    def _wait_until(self, deadline: float) -> None:
        """Wait (lock held) for a connection to come back, or room for one."""
        left = deadline - time.monotonic()
        self._waiting += 1
        try:
            woken = left > 0 and self._free.wait(left)
        finally:
            self._waiting -= 1
        if not woken:
            raise psycopg.OperationalError(
                f"all {self._size} hot-path connections stayed busy for {self._timeout:g} s"
            )

    def _give_back(self, pooled: _Pooled) -> None:
        """Keep a connection that is idle and healthy (a broken one is not idle); close the
        oldest idle one when it has not been used for ``max_idle`` seconds."""
        now = time.monotonic()
        with self._lock:
            self._wake_one()  # either way a connection, or room for one, is free
            idle = self._idle
            if pooled.pgconn.transaction_status == _IDLE and pooled.generation == self._generation:
                idle.append((pooled, now))
                if now - idle[0][1] <= self._max_idle:
                    return
                pooled = idle.pop(0)[0]  # the oldest idle connection, stale
            self._open -= 1
        pooled.connection.close()

    def _wake_one(self) -> None:
        """Tell one waiting caller that a connection, or room for one, is free (lock held)."""
        if self._waiting:
            self._free.notify()

    def close(self) -> None:
        """Close the idle connections, and those in use as they come back; the next statement
        opens new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._free.notify_all()
        for pooled, _ in idle:
            pooled.connection.close()

"""The hot path's connections, and how a statement runs on one: prepared by name on each
connection at its first use there, then executed by name in one libpq call.

``PGconn.exec_prepared`` sends the statement's name and parameters and waits for its row inside
libpq, without Python's GIL. psycopg's cursor does the same through some forty Python calls,
about 30,000 machine instructions a statement more (counted with callgrind): as much as all of
aigov's own work on the hot path. psycopg's ``Transformer`` still does the adaptation, as for a
cursor: it dumps the parameters (binary, but numbers as text, which the server parses as the
declared type) and loads the row (binary: no numbers parsed from text). A connection opened
with ``prepare_threshold=None`` (psycopg's setting for transaction-pooling proxies, which do
not keep a session's prepared statements) runs each statement unnamed, still in one call.
Like any blocking C call, a running statement sees Python's signals (Ctrl-C) only once it
returns; a server's ``statement_timeout`` or ``lock_timeout``, when set, bounds it.
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
_CHANGED_RESULT = b"0A000"  # "cached plan must not change result type": a column's type changed
_STALE = frozenset({_UNKNOWN_STATEMENT, _CHANGED_RESULT})
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement


# psycopg sends a Python int as int2, int4, int8 or numeric by its value: a binary one would
# have to match the declared width, so numbers go as text (the server parses them).
_AS_TEXT = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})

# The hot path's sessions: READ COMMITTED (SPEC §8.0) whatever the server's default, and UTF-8
# (the statements' text is encoded once, in UTF-8).
_SESSION = "SET default_transaction_isolation TO 'read committed'; SET client_encoding TO 'UTF8'"


class Statement(NamedTuple):
    """A statement as the pool runs it: its text (raw placeholders: $1, $2, …), the name it is
    prepared under on each connection, and the type of each parameter."""

    text: str  # for a psycopg cursor, which encodes it for its connection
    sql: bytes  # the text in UTF-8, the hot path's sessions' encoding
    name: bytes
    types: tuple[int, ...]  # the parameters' type oids
    dumped_as: tuple[PyFormat, ...]  # how the transformer dumps each parameter
    sent_as: tuple[Format, ...]  # and the format libpq tells the server

    @classmethod
    def of(cls, text: str, *types: str) -> Statement:
        """The statement ``text`` whose parameters have the PostgreSQL ``types`` ("uuid",
        "int8", …), in order. Its name comes from its text and types: the same statement, the
        same name on every connection and in every process."""
        sql = text.encode()
        digest = hashlib.sha256(b"\0".join([sql, *(t.encode() for t in types)])).hexdigest()
        oids = tuple(postgres.types[type_name].oid for type_name in types)
        sent_as = tuple(Format.TEXT if t in _AS_TEXT else Format.BINARY for t in types)
        dumped_as = tuple(PyFormat.from_pq(each) for each in sent_as)
        return cls(text, sql, f"aigov_{digest[:24]}".encode(), oids, dumped_as, sent_as)


class _Pooled(NamedTuple):
    connection: psycopg.Connection[Any]
    pgconn: PGconn
    transformer: abc.Transformer  # reused: it keeps the dumpers and loaders it looked up
    named: bool  # prepared statements (not with prepare_threshold=None)
    prepared: set[bytes]  # the names of the statements prepared on this connection
    generation: int  # the pool's when it opened: close() starts a new one
    watch: Watch  # what the checkout check knows of it


def _first_row(pooled: _Pooled, statement: Statement, parameters: Sequence[Any]) -> Any:
    """The first row of ``statement`` run on ``pooled`` (None when it returns none)."""
    pgconn, transformer = pooled.pgconn, pooled.transformer
    # None is NULL: libpq takes it, though psycopg's type stub of exec_prepared does not say so
    values: Sequence[Any] = transformer.dump_sequence(parameters, statement.dumped_as)
    if not pooled.named:
        result = pgconn.exec_params(
            statement.sql, values, statement.types, statement.sent_as, _BINARY
        )
    else:
        if statement.name not in pooled.prepared:
            _prepare(pooled, statement)
        result = pgconn.exec_prepared(statement.name, values, statement.sent_as, _BINARY)
        if result.status == _FATAL_ERROR and (sqlstate := result.error_field(_SQLSTATE)) in _STALE:
            _prepare_again(pooled, statement, sqlstate)
            result = pgconn.exec_prepared(statement.name, values, statement.sent_as, _BINARY)
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
    if result.status != _COMMAND_OK and result.error_field(_SQLSTATE) != _ALREADY_PREPARED:
        raise _error(pooled, result)
    pooled.prepared.add(statement.name)  # already there: the same name is the same statement


def _prepare_again(pooled: _Pooled, statement: Statement, sqlstate: bytes | None) -> None:
    """Once, before trying ``statement`` again: the session forgot it (DEALLOCATE, or DISCARD
    ALL, which also resets the session's settings), or its plan went stale (a column it
    returns changed type)."""
    if sqlstate == _UNKNOWN_STATEMENT:
        pooled.connection.execute(_SESSION)
    else:
        pooled.pgconn.exec_(b"DEALLOCATE " + statement.name)
    pooled.prepared.discard(statement.name)
    _prepare(pooled, statement)


def _error(pooled: _Pooled, result: PGresult) -> psycopg.Error:
    """The psycopg error a cursor would raise for ``result``: its SQLSTATE's class, or
    OperationalError when the connection broke without one (libpq's own message)."""
    encoding = pooled.connection.info.encoding
    if result.error_field(_SQLSTATE) is None and pooled.pgconn.status != _OK:
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
            return self._new_connection(generation)
        except BaseException:
            with self._lock:
                self._open -= 1
                self._wake_one()
            raise

    def _new_connection(self, generation: int) -> _Pooled:
        connection = self._connect()
        if not isinstance(connection, psycopg.Connection):
            raise psycopg.InterfaceError(
                f"the hot path needs psycopg 3 connections, not {type(connection).__name__}"
            )
        connection.autocommit = True
        connection.execute(_SESSION)
        return _Pooled(
            connection,
            connection.pgconn,
            Transformer(connection),
            connection.prepare_threshold is not None,
            set(),
            generation,
            watch_for_goodbye(connection),
        )

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

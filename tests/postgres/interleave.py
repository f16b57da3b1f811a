"""Forcing one interleaving of two transactions: the first writes and stays open, the second is
started and observed *blocked* on it (pg_blocking_pids), then the first commits."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

Statement = tuple[psycopg.Connection, str, list[Any]]


def wait_until_blocked(observer: psycopg.Connection, pid: int, future: Future[Any]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = observer.execute("SELECT cardinality(pg_blocking_pids(%s))", [pid]).fetchone()
        if row and row[0] > 0:
            return
        if future.done():
            future.result()
            pytest.fail("the second transaction finished without waiting for the first")
        time.sleep(0.002)
    pytest.fail("the second transaction never blocked")


def _run(statement: Statement) -> psycopg.Error | None:
    connection, sql, args = statement
    try:
        with connection.transaction():
            connection.execute(sql, args)
    except psycopg.Error as exc:
        return exc
    return None


def race(
    first: Statement, second: Statement, observer: psycopg.Connection, pool: ThreadPoolExecutor
) -> psycopg.Error | None:
    """Run ``first`` then ``second`` interleaved as above; the error ``second`` ended with."""
    connection, sql, args = first
    with connection.transaction():
        connection.execute(sql, args)
        future = pool.submit(_run, second)
        wait_until_blocked(observer, second[0].info.backend_pid, future)
    return future.result()

"""What every part shares: a PostgreSQL to measure on, timing statistics, round-trip counting."""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.pq import Trace
from sqlalchemy.engine import URL

from aigov_postgres._store import normalize_url
from aigov_postgres.testing import TestDatabases, server_url

__all__ = [
    "Databases",
    "Stats",
    "count_round_trips",
    "driver_dsn",
    "percentile",
    "wal_lsn",
]


class Databases:
    """Fresh migrated databases on one server: ``--database-url``, else the tests' provider chain
    (AIGOV_TEST_DATABASE_URL, testcontainers, embedded server)."""

    def __init__(self, url: str | None) -> None:
        if url is None:
            self.server, self.source = server_url()
        else:
            self.server, self.source = normalize_url(url), "--database-url"
        self._databases = TestDatabases(self.server)

    def create(self) -> URL:
        return self._databases.create()

    def drop(self, url: URL) -> None:
        self._databases.drop(url)

    def close(self) -> None:
        self._databases.close()

    def server_version(self) -> str:
        with psycopg.connect(driver_dsn(self.server)) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return "unknown" if row is None else str(row[0])


def driver_dsn(url: URL) -> str:
    """The libpq URI of a SQLAlchemy URL, for connecting with psycopg directly."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Stats:
    """Seconds of repeated runs: median, and the spread as the fastest and slowest run."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median: how far apart the runs were."""
        return (self.high - self.low) / self.median if self.median else 0.0


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` in 0 … 1)."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def wal_lsn(connection: psycopg.Connection) -> int:
    """The server's current WAL position, in bytes (``pg_current_wal_lsn()``)."""
    row = connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def count_round_trips(connection: psycopg.Connection) -> Iterator[list[int]]:
    """Count the round trips made inside the block: the times the client, having sent
    something, turned to read the server's answer (libpq's protocol trace, F then B). A
    pipeline of many statements is one; a statement sent alone is one; so is COMMIT."""
    counted = [0]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as trace:
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            yield counted
        finally:
            connection.pgconn.untrace()
            trace.flush()
            os.fsync(trace.fileno())
            trace.seek(0)
            previous = ""
            for line in trace:
                direction = line[:1]
                if direction == "B" and previous == "F":
                    counted[0] += 1
                if direction in ("F", "B"):
                    previous = direction

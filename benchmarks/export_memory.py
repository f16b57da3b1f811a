"""The organization export keeps constant memory (SPEC §9): ``Governance.export_organization_spend``
streams from a server-side cursor, so exporting 100 times more ledger rows must not take 100 times
more memory. Ledger rows are inserted with bulk SQL; the export runs through the facade, and its
peak Python allocation (tracemalloc) and the process's peak RSS growth are read for each size.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from aigov import Actor, Governance
from aigov_postgres import PostgresStore
from benchmarks._support import Databases, driver_dsn
from benchmarks.hot_path import ENTITLED, ORGANIZATION, TEAM, postgres_directory

__all__ = ["START", "ExportMeasurement", "ExportReport", "insert_ledger", "run"]

START = date(2020, 1, 1)

# One ledger row per (user, day): ``users`` users over as many days as it takes.
_LEDGER = """
INSERT INTO ai_user_daily_spend (user_id, effective_group_id, organization_id, day, spend_micros)
SELECT md5('bench-user-' || (1 + n %% %(users)s))::uuid, %(team)s, %(organization)s,
       %(start)s::date + (n / %(users)s)::int, 1000 + n %% 977
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
"""


@dataclass(frozen=True)
class ExportMeasurement:
    rows: int
    lines: int
    seconds: float
    peak_python_bytes: int
    rss_growth_bytes: int


@dataclass
class ExportReport:
    measurements: list[ExportMeasurement] = field(default_factory=list)
    over_http: list[ExportMeasurement] = field(default_factory=list)  # aigov_http's route


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def run(databases: Databases, *, quick: bool, log: Callable[[str], None]) -> ExportReport:
    """Export 10,000 ledger rows, then 300,000 (quick: 1,000 then 20,000). tracemalloc slows
    the export about threefold, which is what keeps the larger size below a million."""
    report = ExportReport()
    sizes = (1_000, 20_000) if quick else (10_000, 300_000)
    users = 1_000
    url = databases.create()
    store = PostgresStore.from_url(url)
    try:
        with psycopg.connect(driver_dsn(url), autocommit=True) as connection:
            postgres_directory(connection, users)
        governance = Governance(store, entitlements=ENTITLED)
        inserted = 0
        for size in sizes:
            insert_ledger(url, users, inserted, size - 1)
            inserted = size
            end = START + timedelta(days=size // users + 1)
            rss_before = _peak_rss()
            tracemalloc.start()
            started = time.perf_counter()
            lines = 0
            for _ in governance.export_organization_spend(
                Actor.system(), ORGANIZATION, start=START, end=end
            ):
                lines += 1
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if lines != size + 1:  # the header, then one line per ledger row
                raise AssertionError(f"the export gave {lines - 1} rows of {size}")
            m = ExportMeasurement(size, lines, seconds, peak, _peak_rss() - rss_before)
            report.measurements.append(m)
            log(
                f"export {size:>9,} rows: {seconds:6.2f} s, peak Python {peak / 2**20:6.2f} MiB,"
                f" peak RSS growth {m.rss_growth_bytes / 2**20:6.2f} MiB"
            )
    finally:
        store.close()
        databases.drop(url)
    from benchmarks import http_export  # noqa: PLC0415 - it builds on this module

    report.over_http += http_export.measure(databases, quick=quick, log=log)
    return report


def insert_ledger(url: object, users: int, first: int, last: int) -> None:
    """Ledger rows ``first`` … ``last``: one per (user, day), ``users`` users a day from
    ``START``."""
    with psycopg.connect(driver_dsn(url), autocommit=True) as connection:  # type: ignore[arg-type]
        connection.execute(
            _LEDGER,
            {
                "users": users,
                "team": TEAM,
                "organization": ORGANIZATION,
                "start": START,
                "first": first,
                "last": last,
            },
        )
        connection.execute("VACUUM ANALYZE ai_user_daily_spend")

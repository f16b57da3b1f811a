"""The organization export through ``aigov_http`` (SPEC §14): ``GET …/ai/spend/export`` of a
ledger of a million rows in 31 days (the route's bound), served by uvicorn in this process and
read over TCP a chunk at a time. What the route adds to the facade's streaming (a worker-thread
read per 1,000 rows, the formula escaping, the HTTP chunks) must not grow with the ledger: the
process's resident memory is sampled during a small and a large export, server and client
alike (both are this process)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx2
import psycopg

from aigov import Actor, AsyncGovernance
from aigov_http import MAX_EXPORT_DAYS, create_app
from aigov_http.testing import serving
from aigov_postgres import PostgresStore
from benchmarks._support import Databases, driver_dsn
from benchmarks.export_memory import START, ExportMeasurement, insert_ledger
from benchmarks.hot_path import ENTITLED, ORGANIZATION, postgres_directory

__all__ = ["measure"]


class RssSampler:
    """The process's resident memory, sampled every 10 ms on a thread while it runs: the
    largest growth over the resident size at its start (``/proc/self/statm``, Linux)."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self.baseline = self.highest = self._resident()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _resident(self) -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.highest = max(self.highest, self._resident())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.highest = max(self.highest, self._resident())

    @property
    def growth(self) -> int:
        return self.highest - self.baseline


def measure(
    databases: Databases, *, quick: bool, log: Callable[[str], None]
) -> list[ExportMeasurement]:
    """31 days of 1,000 users (31,000 rows), then of 32,300 (1,001,300 rows); quick: 31 days
    of 100 users, then of 1,000."""
    measured = []
    for users in (100, 1_000) if quick else (1_000, 32_300):
        url = databases.create()
        store = PostgresStore.from_url(url)
        try:
            with psycopg.connect(driver_dsn(url), autocommit=True) as connection:
                postgres_directory(connection, users)
            rows = users * MAX_EXPORT_DAYS
            insert_ledger(url, users, 0, rows - 1)
            end = START + timedelta(days=MAX_EXPORT_DAYS)
            app = create_app(AsyncGovernance(store, entitlements=ENTITLED), actor=Actor.system)
            with serving(app) as base:
                path = f"/api/v2/organizations/{ORGANIZATION}/ai/spend/export"
                started = time.perf_counter()
                lines = 0
                with (
                    RssSampler() as rss,
                    httpx2.stream(
                        "GET", f"{base}{path}", params={"start": str(START), "end": str(end)}
                    ) as response,
                ):
                    if response.status_code != 200:
                        raise AssertionError(f"the export answered {response.status_code}")
                    for line in response.iter_lines():
                        lines += bool(line)
                seconds = time.perf_counter() - started
            if lines != rows + 1:  # the header, then one line per ledger row
                raise AssertionError(f"the export gave {lines - 1} rows of {rows}")
            m = ExportMeasurement(rows, lines, seconds, 0, rss.growth)
            measured.append(m)
            log(
                f"export over HTTP {rows:>9,} rows: {seconds:6.2f} s,"
                f" resident memory growth at most {m.rss_growth_bytes / 2**20:6.2f} MiB"
            )
        finally:
            store.close()
            databases.drop(url)
    return measured

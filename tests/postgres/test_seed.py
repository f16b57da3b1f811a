"""The seed upsert on PostgreSQL: an unchanged re-seed writes and locks nothing, and a fleet
seeding at once gets exact counts (SPEC §3.2 items 4 and 7)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Governance
from aigov.prices import SeedResult
from aigov_postgres import PostgresStore
from aigov_postgres._seed import COPY_FROM
from tests.postgres.conftest import libpq_uri

pytestmark = pytest.mark.aigov_postgres

ROWS = 4_000


def big_seed(changed: int = 0, rows: int = ROWS) -> list[dict[str, Any]]:
    seed = [
        {
            "provider": f"provider-{n % 7}",
            "model": f"model-{n:05d}",
            "input_price": n,
            "output_price": None if n % 3 == 0 else 2 * n,
            "cache_read_price": 0 if n % 5 == 0 else None,
            "cache_write_price": n * 1_000,
        }
        for n in range(rows)
    ]
    for element in seed[:changed]:
        element["input_price"] += 1
    return seed


def row_versions(connection: psycopg.Connection) -> list[tuple[str, str, str, str]]:
    return connection.execute(
        "SELECT provider, model, xmin::text, xmax::text FROM public.ai_model_prices"
        " ORDER BY provider, model"
    ).fetchall()


def wal_moved_by(connection: psycopg.Connection, work: Any) -> int:
    before = connection.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    work()
    after = connection.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    assert before is not None
    assert after is not None
    moved = connection.execute("SELECT pg_wal_lsn_diff(%s, %s)", [after[0], before[0]]).fetchone()
    assert moved is not None
    return int(moved[0])


WAL_TRIES = 5


@pytest.mark.parametrize(
    ("rows", "wal_allowed"),
    [
        pytest.param(COPY_FROM - 1, 0, id="as JSON: nothing at all"),
        # By COPY the rows go through a session's temporary table: its ON COMMIT DELETE ROWS
        # costs a commit record (about 300 bytes), whatever the size of the seed.
        pytest.param(ROWS, 1024, id="by COPY: a commit record"),
    ],
)
def test_an_unchanged_reseed_rewrites_locks_and_logs_nothing(
    postgres_url: URL, rows: int, wal_allowed: int
):
    assert (rows < COPY_FROM) == (wal_allowed == 0)
    store = PostgresStore.from_url(postgres_url)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    try:
        assert gov.apply_price_book(big_seed(rows=rows)).inserted == rows
        with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as observer:
            observer.execute("SELECT count(*) FROM public.ai_model_prices")  # settle hint bits
            versions = row_versions(observer)

            def empty_transaction() -> None:
                with store.transaction() as uow:
                    uow.prices.list_model_prices(provider="nobody")

            # The WAL position is the server's: other databases' writers move it too. Their
            # bytes only add, so the quietest of a few tries bounds what the re-seed wrote.
            excess = []
            for _ in range(WAL_TRIES):
                empty = wal_moved_by(observer, empty_transaction)
                results: list[SeedResult] = []
                reseed = wal_moved_by(
                    observer,
                    lambda into=results: into.append(gov.apply_price_book(big_seed(rows=rows))),
                )
                assert (results[0].inserted, results[0].updated, results[0].unchanged) == (
                    0,
                    0,
                    rows,
                )
                assert row_versions(observer) == versions, "a row was rewritten or locked"
                excess.append(reseed - empty)
                if reseed <= empty + wal_allowed:
                    break
            assert min(excess) <= wal_allowed, f"the unchanged re-seed wrote {min(excess)} bytes"
    finally:
        store.close()


def test_a_reseed_with_changes_rewrites_only_the_changed_rows(postgres_url: URL):
    store = PostgresStore.from_url(postgres_url)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    try:
        gov.apply_price_book(big_seed())
        with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as observer:
            before = {row[:2]: row[2:] for row in row_versions(observer)}
            result = gov.apply_price_book(big_seed(changed=ROWS // 10))
            after = {row[:2]: row[2:] for row in row_versions(observer)}
        assert (result.inserted, result.updated, result.unchanged) == (
            0,
            ROWS // 10,
            ROWS * 9 // 10,
        )
        rewritten = {key for key in before if before[key] != after[key]}
        assert rewritten == set(result.updated_keys)
    finally:
        store.close()


def _apply_in_a_process(url: str, start: Any) -> tuple[int, int, int]:
    store = PostgresStore.from_url(url)
    try:
        store.schema_version()  # connected and warm, so that the seeds start together
        start.wait()
        result = Governance(store, entitlements={AI_GOVERNANCE}).apply_price_book(big_seed())
        return (result.inserted, result.updated, result.unchanged)
    finally:
        store.close()


def test_ten_processes_seeding_at_once_get_exact_counts(postgres_url: URL):
    """Exactly one process reports the inserts; the others find everything unchanged."""
    url = postgres_url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(10, mp_context=context) as pool:
        start = manager.Barrier(10)
        results = list(pool.map(_apply_in_a_process, [url] * 10, [start] * 10))
    assert sorted(results) == [(0, 0, ROWS)] * 9 + [(ROWS, 0, 0)]

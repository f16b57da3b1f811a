"""The price-book seed as one statement (SPEC §3.2), sent with its advisory lock in one round trip.

A batch of the embedded seed's size travels as one JSON array, expanded on the server
(``jsonb_array_elements``); from ``COPY_FROM`` rows it is copied into a temporary table instead,
which ``python -m benchmarks`` measured to be faster for large batches (docs/benchmarks.md).
Unchanged rows are filtered out *before* any write, so they are neither locked nor rewritten nor
logged: an ``ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` guard alone would still lock
every conflicting row and write WAL for it. The statement returns the keys it inserted and updated,
and writes the seed's audit entry (counts and changed keys) itself, in a data-modifying CTE, when
it changed anything: an unchanged re-seed writes nothing at all (the COPY path: a commit record).

The advisory lock is a statement of its own, before the seed: at READ COMMITTED a statement sees
the snapshot taken when it started, so a lock taken inside the seed statement would not let it see
the rows of the seed it waited for. Pipelined, the two statements still cost one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from psycopg import Connection as DriverConnection

from aigov.exceptions import StorageError
from aigov.prices import ModelKey, SeedResult, SeedRow
from aigov_postgres._migrations import advisory_lock_key, quote_ident

__all__ = ["COPY_FROM", "SeedStatement", "seed_sql"]

_PRICES = "input_price, output_price, cache_read_price, cache_write_price"

_FROM_JSONB = """
    SELECT (e ->> 'provider') COLLATE "C" AS provider,
           (e ->> 'model') COLLATE "C" AS model,
           (e ->> 'input_price')::bigint AS input_price,
           (e ->> 'output_price')::bigint AS output_price,
           (e ->> 'cache_read_price')::bigint AS cache_read_price,
           (e ->> 'cache_write_price')::bigint AS cache_write_price
    FROM jsonb_array_elements(%(seed)s::jsonb) AS e
"""

# New rows are plain inserts and changed rows plain updates: ``ON CONFLICT`` would insert each row
# speculatively (an extra WAL record and lock per row) to catch a conflict that the advisory lock
# already rules out. A writer bypassing the library that inserts a pricebook row meanwhile makes
# the seed fail on the primary key (its transaction rolls back), never write twice.
_WRITE = """
updated AS (
    UPDATE {table} AS stored SET
        input_price = changed.input_price,
        output_price = changed.output_price,
        cache_read_price = changed.cache_read_price,
        cache_write_price = changed.cache_write_price,
        updated_at = %(now)s
    FROM changed
    WHERE NOT changed.is_new
      AND stored.provider = changed.provider
      AND stored.model = changed.model
      AND stored.source = 'pricebook'
    RETURNING 1
),
inserted AS (
    INSERT INTO {table} (provider, model, source, {prices}, created_at, updated_at)
    SELECT provider, model, 'pricebook', {prices}, %(now)s, %(now)s FROM changed WHERE is_new
    RETURNING 1
),
written AS (SELECT 1 FROM updated UNION ALL SELECT 1 FROM inserted),"""

# Everything after the input: the same whichever way the rows reach the server.
_UPSERT = """
changed AS (
    SELECT input.*, stored.provider IS NULL AS is_new
    FROM input
    LEFT JOIN {table} AS stored
           ON stored.provider = input.provider
          AND stored.model = input.model
          AND stored.source = 'pricebook'
    WHERE stored.provider IS NULL
       OR (input.input_price, input.output_price,
           input.cache_read_price, input.cache_write_price)
          IS DISTINCT FROM
          (stored.input_price, stored.output_price,
           stored.cache_read_price, stored.cache_write_price)
),
{write}
audit AS (
    INSERT INTO {audit_log} (at, actor, action, resource_type, resource_id, before, after)
    SELECT %(audit_at)s, %(actor)s, 'seed', 'price_book', 'pricebook', NULL,
           jsonb_build_object(
               'inserted', (SELECT count(*) FROM changed WHERE is_new),
               'updated', (SELECT count(*) FROM changed WHERE NOT is_new),
               'unchanged', (SELECT count(*) FROM input) - (SELECT count(*) FROM changed),
               'inserted_keys', (SELECT coalesce(jsonb_agg(jsonb_build_array(provider, model)
                                                           ORDER BY provider, model), '[]')
                                 FROM changed WHERE is_new),
               'updated_keys', (SELECT coalesce(jsonb_agg(jsonb_build_array(provider, model)
                                                          ORDER BY provider, model), '[]')
                                FROM changed WHERE NOT is_new))
    WHERE EXISTS (SELECT FROM changed)
)
SELECT (SELECT count(*) FROM input) AS total,
       (SELECT count(*) FROM written) AS written,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(provider, model) ORDER BY provider, model),
                        '[]')
        FROM changed WHERE is_new) AS inserted,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(provider, model) ORDER BY provider, model),
                        '[]')
        FROM changed WHERE NOT is_new) AS updated
"""


def seed_sql(schema: str, source: str, write: str = _WRITE) -> str:
    """The seed statement of ``schema`` reading its rows from ``source``, a query of provider,
    model and the four prices (``%(now)s``, ``%(actor)s`` and ``%(audit_at)s`` are its other
    parameters). ``write`` (CTEs ending in ``written``) lets the benchmarks compare others."""
    qualified = quote_ident(schema)
    names = {"table": f"{qualified}.ai_model_prices", "prices": _PRICES}
    upsert = _UPSERT.format(
        write=write.format(**names), audit_log=f"{qualified}.ai_audit_log", **names
    )
    return f"WITH input AS ({source}),{upsert}"


COPY_FROM = 1_000
"""The batch size from which the seed travels by COPY: ``python -m benchmarks`` measured COPY
faster from the size of the models.dev catalogue (4,567 rows) on, JSON for the embedded seed's
70 rows (docs/benchmarks.md)."""

_STAGED = "pg_temp.aigov_seed_input"
# Created once per session, emptied at every commit: no catalog writes after the first seed.
_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED} (
    provider text COLLATE "C", model text COLLATE "C",
    input_price bigint, output_price bigint, cache_read_price bigint, cache_write_price bigint
) ON COMMIT DELETE ROWS
"""


def _keys(pairs: list[list[str]]) -> tuple[ModelKey, ...]:
    return tuple((provider, model) for provider, model in pairs)


class SeedStatement:
    """The seed statement of one schema."""

    def __init__(self, schema: str) -> None:
        self._lock_key = advisory_lock_key("seed", schema)
        self._sql = seed_sql(schema, _FROM_JSONB)
        self._copy_sql = seed_sql(schema, f"SELECT * FROM {_STAGED}")

    def apply(
        self,
        driver: DriverConnection,
        rows: Sequence[SeedRow],
        now: datetime,
        *,
        actor: str,
        audit_at: datetime,
    ) -> SeedResult:
        """Run the lock and the seed in the caller's transaction; exact counts and keys. The
        seed's audit entry is written by the same statement. A batch of COPY_FROM rows or more
        travels by ``COPY`` into a temporary table instead of as JSON (faster, a few more round
        trips); the statement after it is the same."""
        params: dict[str, object] = {"now": now, "actor": actor, "audit_at": audit_at}
        with driver.cursor() as lock, driver.cursor() as seed:
            if len(rows) < COPY_FROM:
                params["seed"] = json.dumps([row.model_dump() for row in rows])
                with driver.pipeline():
                    lock.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock_key])
                    seed.execute(self._sql, params)
            else:
                with driver.pipeline():
                    lock.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock_key])
                    seed.execute(_STAGE)
                with seed.copy(f"COPY {_STAGED} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(
                            (
                                row.provider,
                                row.model,
                                row.input_price,
                                row.output_price,
                                row.cache_read_price,
                                row.cache_write_price,
                            )
                        )
                seed.execute(self._copy_sql, params)
            result = seed.fetchone()
        if result is None:
            raise StorageError("the seed statement returned no row")
        total, written, inserted, updated = result
        if written != len(inserted) + len(updated):
            raise StorageError(f"the seed wrote {written} rows but changed {inserted + updated}")
        return SeedResult(
            inserted=len(inserted),
            updated=len(updated),
            unchanged=total - written,
            inserted_keys=_keys(inserted),
            updated_keys=_keys(updated),
        )

"""The price-book seed as one statement (SPEC §3.2), sent with its advisory lock in one round trip.

The seed travels as one JSON array and is expanded on the server (``jsonb_array_elements``).
Unchanged rows are filtered out *before* the upsert, so they are neither locked nor rewritten nor
logged: an ``ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` guard alone would still lock
every conflicting row and write WAL for it. The statement returns the keys it inserted and updated,
and writes the seed's audit entry (counts and changed keys) itself, in a data-modifying CTE, when
it changed anything: an unchanged re-seed writes nothing at all, not even WAL.

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

__all__ = ["SeedStatement"]

_PRICES = "input_price, output_price, cache_read_price, cache_write_price"

_TEMPLATE = """
WITH input AS (
    SELECT (e ->> 'provider') COLLATE "C" AS provider,
           (e ->> 'model') COLLATE "C" AS model,
           (e ->> 'input_price')::bigint AS input_price,
           (e ->> 'output_price')::bigint AS output_price,
           (e ->> 'cache_read_price')::bigint AS cache_read_price,
           (e ->> 'cache_write_price')::bigint AS cache_write_price
    FROM jsonb_array_elements(%(seed)s::jsonb) AS e
),
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
written AS (
    INSERT INTO {table} (provider, model, source, {prices}, created_at, updated_at)
    SELECT provider, model, 'pricebook', {prices}, %(now)s, %(now)s FROM changed
    ON CONFLICT (provider, model, source) DO UPDATE SET
        input_price = EXCLUDED.input_price,
        output_price = EXCLUDED.output_price,
        cache_read_price = EXCLUDED.cache_read_price,
        cache_write_price = EXCLUDED.cache_write_price,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
),
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


def _keys(pairs: list[list[str]]) -> tuple[ModelKey, ...]:
    return tuple((provider, model) for provider, model in pairs)


class SeedStatement:
    """The seed statement of one schema."""

    def __init__(self, schema: str) -> None:
        self._lock_key = advisory_lock_key("seed", schema)
        qualified = quote_ident(schema)
        self._sql = _TEMPLATE.format(
            table=f"{qualified}.ai_model_prices",
            audit_log=f"{qualified}.ai_audit_log",
            prices=_PRICES,
        )

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
        seed's audit entry is written by the same statement."""
        payload = json.dumps([row.model_dump() for row in rows])
        with driver.cursor() as lock, driver.cursor() as seed:
            with driver.pipeline():
                lock.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock_key])
                seed.execute(
                    self._sql,
                    {"seed": payload, "now": now, "actor": actor, "audit_at": audit_at},
                )
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

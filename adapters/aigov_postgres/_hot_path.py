"""The hot path as single statements (DESIGN §3): "reserve spend if it fits" and "my budget and
my spend", each one round trip (a refusal two), run outside any transaction (a statement is
atomic by itself).

Both resolve the budget with the schema's ``effective_budget`` function (migration 0008: SPEC §7
in SQL, once), which PostgreSQL inlines into the statement. The reservation's guard reads only
the counter row it writes (SPEC §8.3): under READ COMMITTED a waiting upsert re-checks exactly
that row once the lock is free, so concurrent callers from any number of processes never hold
more than the limit.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov.spend import BudgetAndSpend, HoldOutcome, HoldRequest
from aigov_postgres._migrations import quote_ident

__all__ = ["SPEND_OF_CHOSEN", "HotPathStatements", "budget_and_spend_of", "effective"]

POLICIES: tuple[BudgetPolicy, ...] = ("highest", "lowest")

# Expired holds of the counter are taken off it in the same statement. When the new hold fits,
# the upsert does it; when it does not, "unheld" does (the upsert only locked the row then).
# Locks are taken in the order settle and release take them, holds before their counter: the
# counter's rows come FROM freed, so the expired holds are locked first on every path. A refusal
# that freed nothing returns no counter: the statement's snapshot may be older than the row the
# guard judged (after a wait), so the store reads the committed row next (``counter``), once the
# refusal is known: the rare path pays the second round trip, not every grant.
_RESERVE = """
WITH chosen AS (SELECT * FROM {s}.effective_budget(%(user_id)s, '{policy}')),
expired AS (
    UPDATE {s}.ai_spend_reservations AS r SET state = 'expired'
    WHERE r.user_id = %(user_id)s AND r.group_id = (SELECT group_id FROM chosen)
      AND r.period_start = %(period_start)s AND r.state = 'held' AND r.expires_at <= %(now)s
    RETURNING r.amount_micros
),
freed AS (
    SELECT coalesce(sum(amount_micros), 0)::bigint AS micros FROM expired
),
counter AS (
    INSERT INTO {s}.ai_spend_counters AS c
        (user_id, group_id, period_start, spent_micros, held_micros)
    SELECT %(user_id)s, chosen.group_id, %(period_start)s, 0, %(amount_micros)s
    FROM chosen, freed
    WHERE chosen.spend_limit_micros IS NULL OR %(amount_micros)s <= chosen.spend_limit_micros
    ON CONFLICT (user_id, group_id, period_start) DO UPDATE
        SET held_micros = c.held_micros - (SELECT micros FROM freed) + excluded.held_micros
        WHERE (SELECT spend_limit_micros FROM chosen) IS NULL
           OR c.spent_micros::numeric + c.held_micros - (SELECT micros FROM freed)
              + excluded.held_micros <= (SELECT spend_limit_micros FROM chosen)
    RETURNING c.spent_micros, c.held_micros
),
unheld AS (
    UPDATE {s}.ai_spend_counters AS c SET held_micros = c.held_micros - freed.micros
    FROM chosen, freed
    WHERE c.user_id = %(user_id)s AND c.group_id = chosen.group_id
      AND c.period_start = %(period_start)s
      AND freed.micros > 0 AND NOT EXISTS (SELECT FROM counter)
    RETURNING c.spent_micros, c.held_micros
),
hold AS (
    INSERT INTO {s}.ai_spend_reservations
        (id, user_id, group_id, period_start, amount_micros, expires_at, created_at, state)
    SELECT %(id)s, %(user_id)s, chosen.group_id, %(period_start)s, %(amount_micros)s,
           %(expires_at)s, %(now)s, 'held'
    FROM chosen
    WHERE EXISTS (SELECT FROM counter)
)
SELECT chosen.spend_limit_micros, chosen.group_id, chosen.source,
       EXISTS (SELECT FROM counter),
       coalesce((SELECT spent_micros FROM counter), (SELECT spent_micros FROM unheld)),
       coalesce((SELECT held_micros FROM counter), (SELECT held_micros FROM unheld))
FROM chosen
"""

# The spend of a user's effective group, as subqueries on ``chosen``: one text serves one user
# (the hot path, ``user`` a parameter) and many (the reports, ``user`` a column).
SPEND_OF_CHOSEN = """
coalesce((SELECT c.spent_micros FROM {s}.ai_spend_counters AS c
          WHERE c.user_id = {user} AND c.group_id = chosen.group_id
            AND c.period_start = %(period_start)s), 0),
(SELECT coalesce(sum(r.amount_micros), 0)::bigint FROM {s}.ai_spend_reservations AS r
 WHERE r.user_id = {user} AND r.group_id = chosen.group_id
   AND r.period_start = %(period_start)s AND r.state = 'held' AND r.expires_at > %(now)s)"""

_BUDGET_AND_SPEND = """
SELECT chosen.spend_limit_micros, chosen.group_id, chosen.source, {spend}
FROM {s}.effective_budget(%(user_id)s, '{policy}') AS chosen
"""


def effective(row: Any) -> EffectiveBudget:
    """The effective budget of a row that starts with ``effective_budget``'s columns."""
    return _effective_budget(row[0], row[1], row[2])


@lru_cache(maxsize=4096)
def _effective_budget(limit: int | None, group: UUID | None, source: str | None) -> EffectiveBudget:
    """A deployment has few budgets, and an effective budget is frozen: each is validated
    once and shared by the calls that meet it."""
    return EffectiveBudget.model_validate(
        {"spend_limit_micros": limit, "group_id": group, "source": source}
    )


NO_GROUP = EffectiveBudget(spend_limit_micros=None, group_id=None, source=None)


def budget_and_spend_of(row: Any) -> BudgetAndSpend:
    """A row of ``effective_budget``'s columns then spent and held; None is no group (NULL
    columns, as a LEFT JOIN gives, read the same way)."""
    if row is None:
        return BudgetAndSpend(effective=NO_GROUP, spent_micros=0, held_micros=0)
    return BudgetAndSpend(effective(row), row[3], row[4])


class HotPathStatements:
    """The statements for one schema, and how to read their rows. No row is a user in no
    organization, or an unknown one: ``user_exists`` tells which (rare, so the statements leave
    the users table out). Their parameters are named: ``reserve_parameters`` of a request,
    ``{"user_id", "period_start", "now"}`` for ``budget_and_spend``."""

    def __init__(self, schema: str) -> None:
        s = quote_ident(schema)
        spend = SPEND_OF_CHOSEN.format(s=s, user="%(user_id)s")
        self.reserve = {p: _RESERVE.format(s=s, policy=p) for p in POLICIES}
        self.budget_and_spend = {
            p: _BUDGET_AND_SPEND.format(s=s, policy=p, spend=spend) for p in POLICIES
        }
        self.user_exists = f"SELECT EXISTS (SELECT FROM {s}.users WHERE id = %(user_id)s)"
        self.reservation_group = f"SELECT group_id FROM {s}.ai_spend_reservations WHERE id = %(id)s"
        self.counter = (
            f"SELECT spent_micros, held_micros FROM {s}.ai_spend_counters"
            " WHERE user_id = %(user_id)s AND group_id = %(group_id)s"
            " AND period_start = %(period_start)s"
        )

    @staticmethod
    def reserve_parameters(request: HoldRequest) -> dict[str, Any]:
        return {
            "id": request.id,
            "user_id": request.user_id,
            "period_start": request.period_start,
            "amount_micros": request.amount_micros,
            "expires_at": request.expires_at,
            "now": request.created_at,
        }

    @staticmethod
    def hold_outcome(row: Any, request: HoldRequest) -> HoldOutcome:
        if row is None:
            return HoldOutcome(effective=NO_GROUP, reservation=None, spent_micros=0, held_micros=0)
        return HoldOutcome(
            effective=effective(row),
            reservation=request.on(row[1]) if row[3] else None,
            spent_micros=row[4],
            held_micros=row[5],
        )

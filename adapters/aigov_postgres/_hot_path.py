"""The hot path as single statements (DESIGN §3): "reserve spend if it fits" and "my budget and
my spend", each one round trip (a refusal two), run outside any transaction (a statement is
atomic by itself), on a pool of their own.

Both resolve the budget inside the statement (``_CHOSEN``: SPEC §7 in SQL). The reservation's
guard reads only the counter row it writes (SPEC §8.3): under READ COMMITTED a waiting upsert
re-checks exactly that row once the lock is free, so concurrent callers from any number of
processes never hold more than the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov.spend import BudgetAndSpend, HoldOutcome, HoldRequest
from aigov_postgres._migrations import quote_ident
from aigov_postgres._statement_pool import Statement

__all__ = ["HotPathStatements"]

# SPEC §7 in SQL. The core's aigov.resolution.resolve is the specification; the equivalence
# machine and the report recomputation compare the two on random worlds.
# 1. an override whose group's organization is not deleted: its limit and group;
# 2. else the highest (policy 'lowest': the lowest) budget of the user's groups in organizations
#    that are not deleted, ties to the earliest organization membership, then the smallest id;
# 3. else no limit, in the Everyone group (id = the organization's) of the default organization
#    if the user is a member of it, else of the earliest joined (then smallest id); no row when
#    the user belongs to no organization that is not deleted (or is unknown: the store asks).
# Each policy has its statements, so that the sort is on the column itself.
_CHOSEN = """
live AS (
    SELECT om.organization_id, om.created_at AS joined_at, o.is_default
    FROM {s}.organization_members AS om
    JOIN {s}.organizations AS o ON o.id = om.organization_id
    WHERE om.user_id = %(user_id)s AND NOT o.deleted
),
chosen AS (
    SELECT candidate.spend_limit_micros, candidate.group_id, candidate.source
    FROM (
        (SELECT ov.spend_limit_micros, ov.group_id, 'user_override' AS source, 1 AS step
         FROM {s}.user_ai_budget_overrides AS ov
         JOIN {s}.groups AS g ON g.id = ov.group_id
         WHERE ov.user_id = %(user_id)s AND g.organization_id IN (SELECT organization_id FROM live))
        UNION ALL
        (SELECT b.spend_limit_micros, b.group_id, 'group', 2
         FROM {s}.group_members_expanded AS v
         JOIN {s}.group_ai_budgets AS b ON b.group_id = v.group_id
         JOIN live ON live.organization_id = v.organization_id
         WHERE v.user_id = %(user_id)s
         ORDER BY b.spend_limit_micros {order}, live.joined_at, b.group_id
         LIMIT 1)
        UNION ALL
        (SELECT NULL::bigint, organization_id, NULL, 3
         FROM live
         ORDER BY is_default DESC, joined_at, organization_id
         LIMIT 1)
    ) AS candidate
    ORDER BY candidate.step
    LIMIT 1
)"""


# Expired holds of the counter are taken off it in the same statement. When the new hold fits,
# the upsert does it; when it does not, "unheld" does (the upsert only locked the row then).
# Locks are taken in the order settle and release take them, holds before their counter: the
# counter's rows come FROM freed, so the expired holds are locked first on every path. A refusal
# that freed nothing returns no counter: the statement's snapshot may be older than the row the
# guard judged (after a wait), so the store reads the committed row next (``counter``), once the
# refusal is known: the rare path pays the second round trip, not every grant.
_RESERVE = """
WITH {chosen},
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

_BUDGET_AND_SPEND = """
WITH {chosen}
SELECT chosen.spend_limit_micros, chosen.group_id, chosen.source,
       coalesce((SELECT c.spent_micros FROM {s}.ai_spend_counters AS c
                 WHERE c.user_id = %(user_id)s AND c.group_id = chosen.group_id
                   AND c.period_start = %(period_start)s), 0),
       (SELECT coalesce(sum(r.amount_micros), 0)::bigint FROM {s}.ai_spend_reservations AS r
        WHERE r.user_id = %(user_id)s AND r.group_id = chosen.group_id
          AND r.period_start = %(period_start)s AND r.state = 'held' AND r.expires_at > %(now)s)
FROM chosen
"""


def _effective(row: Any) -> EffectiveBudget:
    group = row[1]
    return _effective_budget(row[0], None if group is None else group.int, row[2])


@lru_cache(maxsize=4096)
def _effective_budget(limit: int | None, group: int | None, source: str | None) -> EffectiveBudget:
    """Budgets are few and frozen: each is validated once, then shared by every call. Keyed by
    the group id's int: a UUID hashes and compares in Python, an int in C."""
    return EffectiveBudget.model_validate(
        {
            "spend_limit_micros": limit,
            "group_id": None if group is None else UUID(int=group),
            "source": source,
        }
    )


NO_GROUP = EffectiveBudget(spend_limit_micros=None, group_id=None, source=None)


# The type of each named parameter of the statements.
_TYPES = {
    "id": "uuid",
    "user_id": "uuid",
    "period_start": "timestamptz",
    "amount_micros": "int8",
    "expires_at": "timestamptz",
    "now": "timestamptz",
}
# The reserve statement's parameters are the request itself: placeholders numbered in
# HoldRequest's field order (its created_at is the statement's "now").
_RESERVE_PARAMETERS = tuple("now" if name == "created_at" else name for name in HoldRequest._fields)


def _numbered(sql: str, names: Sequence[str]) -> Statement:
    """``sql`` with raw placeholders ($1, $2, …) for its named ones, numbered in ``names``'
    order, each of its type in ``_TYPES``."""
    for number, name in enumerate(names, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    if "%(" in sql:
        raise ValueError(f"a named parameter of this statement is not numbered: {sql}")
    return Statement.of(sql, *(_TYPES[name] for name in names))


class HotPathStatements:
    """The statements for one schema, and how to read their row. No row is a user in no
    organization, or an unknown one: ``user_exists`` tells which (rare, so the statements leave
    the users table out). ``reserve`` takes the ``HoldRequest`` as its parameters,
    ``budget_and_spend`` ``(user_id, period_start, now)``."""

    def __init__(self, schema: str) -> None:
        quoted = quote_ident(schema)
        self.reserve: dict[BudgetPolicy, Statement] = {}
        self.budget_and_spend: dict[BudgetPolicy, Statement] = {}
        orders: tuple[tuple[BudgetPolicy, str], ...] = (("highest", "DESC"), ("lowest", "ASC"))
        for policy, order in orders:
            chosen = _CHOSEN.format(s=quoted, order=order)
            self.reserve[policy] = _numbered(
                _RESERVE.format(s=quoted, chosen=chosen), _RESERVE_PARAMETERS
            )
            self.budget_and_spend[policy] = _numbered(
                _BUDGET_AND_SPEND.format(s=quoted, chosen=chosen),
                ("user_id", "period_start", "now"),
            )
        self.user_exists = Statement.of(
            f"SELECT EXISTS (SELECT FROM {quoted}.users WHERE id = $1)", "uuid"
        )
        self.counter = Statement.of(
            f"SELECT spent_micros, held_micros FROM {quoted}.ai_spend_counters"
            " WHERE user_id = $1 AND group_id = $2 AND period_start = $3",
            "uuid",
            "uuid",
            "timestamptz",
        )

    @staticmethod
    def hold_outcome(row: Any, request: HoldRequest) -> HoldOutcome:
        if row is None:
            return HoldOutcome(effective=NO_GROUP, reservation=None, spent_micros=0, held_micros=0)
        effective, granted = _effective(row), row[3]
        return HoldOutcome(
            effective=effective,
            reservation=request.on(row[1]) if granted else None,
            spent_micros=row[4],
            held_micros=row[5],
        )

    @staticmethod
    def budget_and_spend_of(row: Any) -> BudgetAndSpend:
        if row is None:
            return BudgetAndSpend(effective=NO_GROUP, spent_micros=0, held_micros=0)
        return BudgetAndSpend(_effective(row), row[3], row[4])

"""``PostgresStore``: aigov's state in PostgreSQL, through SQLAlchemy Core and psycopg 3.

The database enforces the directory rules itself (constraints and triggers of the migrations), so
this module only reads and writes; every refusal comes back as a PostgreSQL error, translated once
(``aigov_postgres._errors``). Transactions run at READ COMMITTED on a thread-safe connection pool.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from aigov.exceptions import ConflictError, InvalidInputError, StorageError
from aigov.plans import Plan, Step, awaiting, blocking
from aigov.ports import Store, StoreSnapshot, UnitOfWork
from aigov.resolution import BudgetPolicy, EffectiveBudget
from aigov.spend import BudgetAndSpend, HoldOutcome, HoldRequest
from aigov_postgres import schema as tables
from aigov_postgres._audit import PostgresAudit
from aigov_postgres._budgets import PostgresBudgets
from aigov_postgres._connections import (
    HotPathPool,
    Row,
    WriteInterruptedError,
    create_async_unit_of_work_engine,
    create_unit_of_work_engine,
)
from aigov_postgres._directory import PostgresDirectory
from aigov_postgres._errors import translate
from aigov_postgres._hot_path import HotPathStatements, budget_and_spend_of
from aigov_postgres._migrations import (
    apply_migrations,
    check_schema_name,
    current_version,
    latest_version,
)
from aigov_postgres._prices import PostgresPrices
from aigov_postgres._seed import SeedStatement
from aigov_postgres._settings import PostgresSettings
from aigov_postgres._spend import PostgresSpend

__all__ = ["PostgresStore", "normalize_url"]


def normalize_url(url: str | URL) -> URL:
    """``url`` for SQLAlchemy with the psycopg 3 driver (``postgresql://`` and libpq URIs too)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInputError(f"not a database URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidInputError(
        f"aigov_postgres needs a postgresql+psycopg:// URL, not {parsed.drivername}://"
    )


class _PostgresUnitOfWork(UnitOfWork):
    """One transaction on one connection: each concern's repository shares it."""

    def __init__(self, connection: Connection, schema: str, seed: SeedStatement) -> None:
        self.directory = PostgresDirectory(connection, schema)
        self.prices = PostgresPrices(connection, schema, seed)
        self.budgets = PostgresBudgets(connection, schema)
        self.spend = PostgresSpend(connection, schema)
        self.audit = PostgresAudit(connection, schema)
        self.settings = PostgresSettings(connection, schema)


def _all(connection: Connection, table: Table, *order: str) -> list[dict[str, Any]]:
    rows = connection.execute(select(table).order_by(*(table.c[name] for name in order)))
    return [dict(row._mapping) for row in rows]


def _snapshot(connection: Connection) -> StoreSnapshot:
    events = _all(connection, tables.budget_events, "at", "id")
    settings = connection.scalar(select(tables.governance_settings.c.settings))
    return StoreSnapshot.model_validate(
        {
            "organizations": _all(connection, tables.organizations, "id"),
            "users": _all(connection, tables.users, "id"),
            "organization_members": _all(
                connection, tables.organization_members, "organization_id", "user_id"
            ),
            "groups": _all(connection, tables.groups, "id"),
            "group_members": _all(connection, tables.group_members, "group_id", "user_id"),
            "group_budgets": _all(connection, tables.group_ai_budgets, "group_id"),
            "overrides": _all(connection, tables.user_ai_budget_overrides, "user_id"),
            "prices": _all(connection, tables.model_prices, "provider", "model", "source"),
            "usage": _all(connection, tables.usage_records, "at", "id"),
            "daily_spend": _all(
                connection, tables.daily_spend, "user_id", "effective_group_id", "day"
            ),
            "counters": _all(
                connection, tables.spend_counters, "user_id", "group_id", "period_start"
            ),
            "reservations": _all(connection, tables.reservations, "created_at", "id"),
            "budget_events": [
                {k: v for k, v in event.items() if k != "acknowledged"} for event in events
            ],
            "acknowledged_event_ids": sorted(e["id"] for e in events if e["acknowledged"]),
            "audit": _all(connection, tables.audit_log, "id"),
            "settings": settings,
        }
    )


class PostgresStore(Store):
    """A store in one schema of a PostgreSQL database (15 or newer). Safe to share between
    threads: each unit of work takes a pooled connection for the length of one transaction,
    each hot-path statement one for the length of that statement."""

    def __init__(
        self,
        engine: Engine,
        *,
        schema: str = "public",
        hot_path_pool: HotPathPool | None = None,
        async_engine: Callable[[], AsyncEngine] | None = None,
    ) -> None:
        """``engine`` runs the units of work; ``hot_path_pool`` the hot path's single
        statements. Without one, the store opens a ``HotPathPool`` on ``engine.url`` of
        ``engine``'s pool size: an engine's ``connect_args`` and ``creator`` are not readable
        from it, so pass a pool of your own when the engine has them (``from_url`` does).
        ``async_engine`` makes the SQLAlchemy asyncio engine of an event loop's units of work
        (one per loop, made at its first one); without it, ``engine``'s URL and pool size."""
        self._schema = check_schema_name(schema)
        self._pool_owner = engine
        self._seed = SeedStatement(self._schema)
        self._options: dict[str, Any] = {
            "isolation_level": "READ COMMITTED",
            "schema_translate_map": {None: self._schema},
        }
        self._engine = engine.execution_options(**self._options)
        self._sql = HotPathStatements(self._schema)
        size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 5
        self._hot_path_pool = hot_path_pool or HotPathPool(_conninfo(engine.url), size=size)
        self._make_async_engine = async_engine or (
            lambda: create_async_unit_of_work_engine(engine.url, pool_size=size)
        )
        self._async_engines: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncEngine, AsyncEngine]
        ] = weakref.WeakKeyDictionary()
        self._async_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        schema: str = "public",
        pool_size: int = 5,
        max_overflow: int = 10,
        **engine_options: Any,
    ) -> PostgresStore:
        """A store on the database at ``url`` (``postgresql+psycopg://…``; ``postgresql://`` and
        libpq URIs are accepted too). Connects lazily; an already migrated database needs no
        ``migrate()``. Two pools of up to ``pool_size`` + ``max_overflow`` connections each:
        SQLAlchemy's for units of work, and a ``psycopg_pool.ConnectionPool`` in autocommit
        for the hot path's single statements. ``connect_args`` reach both (for instance
        ``{"prepare_threshold": None}`` behind a proxy that pools by transaction);
        ``pool_timeout`` bounds the wait for a free connection in both. Each event loop that
        uses the store (``AsyncGovernance``) gets the same two pools of its own, on psycopg's
        ``AsyncConnection``: ``async_creator`` (a coroutine function returning one) is
        ``creator``'s twin there, and a store given only ``creator`` refuses async use."""
        engine, hot_path_pool, async_engine = connection_pools(
            url, pool_size=pool_size, max_overflow=max_overflow, **engine_options
        )
        return cls(engine, schema=schema, hot_path_pool=hot_path_pool, async_engine=async_engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def hot_path_pool(self) -> HotPathPool:
        """The pool of the hot path's single statements (``.pool.get_stats()`` tells how it
        fares)."""
        return self._hot_path_pool

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise translate(exc) from exc

    def migrate(self) -> list[int]:
        """Create or upgrade the schema to the latest version; return the versions applied (none
        when it is current). Safe to call from many processes at once."""
        with self._connection() as connection:
            return apply_migrations(connection, self._schema)

    def schema_version(self) -> int | None:
        """The schema's migration version, or None when it was never migrated."""
        with self._connection() as connection:
            return current_version(connection, self._schema)

    @staticmethod
    def latest_schema_version() -> int:
        return latest_version()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self._connection() as connection:
            yield _PostgresUnitOfWork(connection, self._schema, self._seed)

    def _async_engine(self) -> AsyncEngine:
        """The calling event loop's engine for units of work (its pool is that loop's)."""
        loop = asyncio.get_running_loop()
        engines = self._async_engines.get(loop)
        if engines is None:
            with self._async_lock:
                engines = self._async_engines.get(loop)
                if engines is None:
                    owner = self._make_async_engine()
                    engines = (owner, owner.execution_options(**self._options))
                    self._async_engines[loop] = engines
        return engines[1]

    async def arun_in_transaction(self, work: Callable[[UnitOfWork], _T]) -> _T:
        """``work`` in one transaction on an asyncio driver connection: SQLAlchemy's
        ``AsyncConnection.run_sync`` runs the same unit of work as ``transaction()``, its
        statements awaited on the loop (no thread)."""
        try:
            async with self._async_engine().begin() as connection:
                return await connection.run_sync(
                    lambda sync: work(_PostgresUnitOfWork(sync, self._schema, self._seed))
                )
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise translate(exc) from exc

    def snapshot(self) -> StoreSnapshot:
        """Every table, read in one REPEATABLE READ transaction: one moment's state."""
        try:
            # On the connection: an engine's option keeps the level it was given first.
            with self._engine.connect() as opened:
                connection = opened.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    return _snapshot(connection)
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise translate(exc) from exc

    def _hot_path_row(self, query: str, parameters: dict[str, Any], *, writes: bool = False) -> Row:
        try:
            return self._hot_path_pool.first_row(query, parameters, writes=writes)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def _ahot_path_row(
        self, query: str, parameters: dict[str, Any], *, writes: bool = False
    ) -> Row:
        try:
            return await self._hot_path_pool.afirst_row(query, parameters, writes=writes)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def _blocking(self, plan: Plan[_HotRow, _T]) -> _T:
        return blocking(
            plan, lambda row: self._hot_path_row(row.query, row.parameters, writes=row.writes)
        )

    async def _awaiting(self, plan: Plan[_HotRow, _T]) -> _T:
        return await awaiting(
            plan, lambda row: self._ahot_path_row(row.query, row.parameters, writes=row.writes)
        )

    def reserve_if_fits(self, request: HoldRequest, policy: BudgetPolicy) -> HoldOutcome | None:
        """One statement: resolve, expire, guard and hold (``_hot_path``). When its connection
        broke before the answer came, the hold's id tells whether it committed: a hold that
        exists was granted; otherwise nothing was written but expired holds' retirement, which
        running it again repeats harmlessly. A run again that finds the id taken, or is refused,
        may have met the first run committing late (the server went on after the connection
        broke): the id is looked up again then."""
        return self._blocking(self._reserve(request, policy))

    async def areserve_if_fits(
        self, request: HoldRequest, policy: BudgetPolicy
    ) -> HoldOutcome | None:
        """``reserve_if_fits`` on the calling loop's connections."""
        return await self._awaiting(self._reserve(request, policy))

    def budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        """One query: resolve, then the counter's spend and the live holds (``_hot_path``)."""
        return self._blocking(self._budget_and_spend(user_id, period_start, now, policy))

    async def abudget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> BudgetAndSpend | None:
        """``budget_and_spend`` on the calling loop's connections."""
        return await self._awaiting(self._budget_and_spend(user_id, period_start, now, policy))

    def _reserve(self, request: HoldRequest, policy: BudgetPolicy) -> _HotPlan[HoldOutcome]:
        sql, parameters = self._sql, self._sql.reserve_parameters(request)
        interrupted = False
        for _ in range(2):
            try:
                row = yield from _HotRow(sql.reserve[policy], parameters, writes=True)
            except WriteInterruptedError:
                pass
            except ConflictError as exc:
                if not (interrupted and exc.constraint == _RESERVATION_KEY):
                    raise
            else:
                break
            interrupted = True
            if granted := (yield from self._granted_after_interruption(request, policy)):
                return granted
        else:
            raise StorageError(
                f"the connection broke twice while holding {request.id}, and no such hold is"
                " stored yet: release it by that id if its call is given up"
            )
        refused = row is not None and not row[3]
        if (
            interrupted
            and refused
            and (granted := (yield from self._granted_after_interruption(request, policy)))
        ):
            return granted  # refused by the first run, which committed late
        if row is not None and row[4] is None:  # refused: the counter as committed now
            where = {**parameters, "group_id": row[1]}
            row = (*row[:4], *((yield from _HotRow(sql.counter, where)) or (0, 0)))
        return (yield from self._known_user(sql.hold_outcome(row, request), request.user_id))

    def _granted_after_interruption(
        self, request: HoldRequest, policy: BudgetPolicy
    ) -> Plan[_HotRow, HoldOutcome | None]:
        """None when no hold of the request's id is stored. Else the hold committed but its
        answer was lost: it stands on the group it was taken on, with that counter as it is now
        (and the budget as it is now, when it is that group's; else the budget that admitted it
        has changed since)."""
        stored = yield from _HotRow(self._sql.reservation_group, {"id": request.id})
        if stored is None:
            return None
        group_id = stored[0]
        where = {"user_id": request.user_id, "group_id": group_id}
        spent, held = (
            yield from _HotRow(self._sql.counter, where | {"period_start": request.period_start})
        ) or (0, 0)
        found = yield from self._budget_and_spend(
            request.user_id, request.period_start, request.created_at, policy
        )
        effective = (
            found.effective
            if found is not None and found.effective.group_id == group_id
            else EffectiveBudget(spend_limit_micros=None, group_id=group_id, source=None)
        )
        return HoldOutcome(effective, request.on(group_id), spent, held)

    def _budget_and_spend(
        self, user_id: UUID, period_start: datetime, now: datetime, policy: BudgetPolicy
    ) -> _HotPlan[BudgetAndSpend]:
        parameters = {"user_id": user_id, "period_start": period_start, "now": now}
        row = yield from _HotRow(self._sql.budget_and_spend[policy], parameters)
        return (yield from self._known_user(budget_and_spend_of(row), user_id))

    def _known_user(self, found: _Result, user_id: UUID) -> _HotPlan[_Result]:
        """``found``, or None when it has no group because the user is unknown."""
        if found.effective.group_id is not None:
            return found
        row = yield from _HotRow(self._sql.user_exists, {"user_id": user_id})
        return found if row and row[0] else None

    def close(self) -> None:
        """Close the threads' pooled connections; a later call opens new ones. An event loop's
        are closed by ``aclose`` on that loop (those of a loop that has ended, here)."""
        self._pool_owner.dispose()
        self._hot_path_pool.close()
        with self._async_lock:
            ended = [loop for loop in self._async_engines if loop.is_closed()]
            for loop in ended:
                del self._async_engines[loop]

    async def aclose(self) -> None:
        """``close``, and the calling event loop's pooled connections; a later call opens
        new ones. The sync pools close on a worker thread: closing joins their threads."""
        with self._async_lock:
            engines = self._async_engines.pop(asyncio.get_running_loop(), None)
        await self._hot_path_pool.aclose()
        if engines is not None:
            await engines[0].dispose()
        await asyncio.to_thread(self.close)


def connection_pools(
    url: str | URL, *, pool_size: int = 5, max_overflow: int = 10, **engine_options: Any
) -> tuple[Engine, HotPathPool, Callable[[], AsyncEngine]]:
    """What ``PostgresStore.from_url`` connects with: the units of work's engine, the hot
    path's pools, and how an event loop's units of work engine is made."""
    normalized = normalize_url(url)
    async_creator = engine_options.pop("async_creator", None)
    options = {"pool_size": pool_size, "max_overflow": max_overflow, **engine_options}
    engine = create_unit_of_work_engine(normalized, **options)
    hot_path_pool = HotPathPool(
        _conninfo(normalized),
        size=pool_size + max_overflow,
        connect_args=engine_options.get("connect_args"),
        creator=engine_options.get("creator"),
        async_creator=async_creator,
        timeout=engine_options.get("pool_timeout", 30.0),
    )
    async_options = {k: v for k, v in options.items() if k != "creator"}
    if async_creator is not None:
        async_options["async_creator"] = async_creator

    def async_engine() -> AsyncEngine:
        if "creator" in engine_options and async_creator is None:
            raise StorageError(
                "this store's connections come from a sync creator: give from_url an"
                " async_creator too to use it from an event loop"
            )
        return create_async_unit_of_work_engine(normalized, **async_options)

    return engine, hot_path_pool, async_engine


class _HotRow(Step[Row]):
    """One hot-path statement's first row: what the store's hot-path plans ask for."""

    __slots__ = ("parameters", "query", "writes")

    def __init__(self, query: str, parameters: dict[str, Any], *, writes: bool = False) -> None:
        self.query, self.parameters, self.writes = query, parameters, writes


_RESERVATION_KEY = "ai_spend_reservations_pkey"
_Result = TypeVar("_Result", HoldOutcome, BudgetAndSpend)
_T = TypeVar("_T")
_HotPlan = Plan[_HotRow, _Result | None]


def _conninfo(url: URL) -> str:
    """libpq's connection string for a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)

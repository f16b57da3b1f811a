"""PostgresStore itself: migrations, schemas, URLs, and errors translated to aigov's."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import psycopg
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import URL

from aigov import (
    AI_GOVERNANCE,
    Actor,
    AsyncGovernance,
    Governance,
    InvalidInputError,
    StorageError,
    TransientError,
)
from aigov_postgres import PostgresStore, normalize_url
from aigov_postgres import schema as declared
from aigov_postgres._migrations import latest_version
from benchmarks._support import count_round_trips
from tests.postgres.conftest import SCHEMA, Directory, libpq_uri

pytestmark = pytest.mark.aigov_postgres


def test_a_new_schema_has_no_version_until_migrated(postgres_url: URL):
    store = PostgresStore.from_url(postgres_url, schema="fresh")
    try:
        assert store.schema_version() is None
        assert store.migrate() == list(range(1, latest_version() + 1))
        assert store.schema_version() == latest_version()
    finally:
        store.close()


def test_migrating_again_applies_nothing(tenant_store: PostgresStore):
    assert tenant_store.migrate() == []
    assert tenant_store.schema_version() == PostgresStore.latest_schema_version()


def test_concurrent_migrations_apply_each_version_once(postgres_url: URL):
    stores = [PostgresStore.from_url(postgres_url, schema="racing") for _ in range(6)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            applied = list(pool.map(lambda s: s.migrate(), stores))
        assert sorted(applied, key=len) == [[]] * 5 + [list(range(1, latest_version() + 1))]
    finally:
        for store in stores:
            store.close()


def test_an_already_migrated_database_needs_no_migrate_call(postgres_url: URL):
    """from_url on a migrated database works straight away (the template migrated public)."""
    store = PostgresStore.from_url(postgres_url)
    try:
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        gov.create_user(Actor.system(), uuid4(), "ann")
        assert len(gov.list_users()) == 1
    finally:
        store.close()


def test_a_store_keeps_to_its_schema(tenant_store: PostgresStore, sql: Directory):
    gov = Governance(tenant_store, entitlements={AI_GOVERNANCE})
    org = uuid4()
    gov.create_organization(Actor.system(), org, "Tenant A")
    assert sql.scalar("SELECT count(*) FROM {s}.organizations WHERE id = %s", org) == 1
    assert sql.scalar("SELECT count(*) FROM public.organizations") == 0


def test_every_function_pins_its_search_path_but_the_inlined_one(sql: Directory):
    """A SET option would stop PostgreSQL inlining ``effective_budget``: its body names every
    table with the schema instead (the next test shows it inlined)."""
    unpinned = sql.scalar(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname <> 'effective_budget' AND NOT coalesce("
        "  EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%'), false)",
        SCHEMA,
    )
    assert unpinned == 0
    assert (
        sql.scalar(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s",
            SCHEMA,
        )
        >= 6
    )


def test_the_declared_tables_match_the_migrated_ones(tenant_store: PostgresStore):
    inspector = inspect(tenant_store.engine)
    for table in declared.metadata.sorted_tables:
        actual = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name, SCHEMA)}
        expected = {c.name: c.nullable for c in table.columns}
        assert actual == expected, table.name
        primary_key = inspector.get_pk_constraint(table.name, SCHEMA)["constrained_columns"]
        assert primary_key == [c.name for c in table.primary_key.columns], table.name
    view = {c["name"] for c in inspector.get_columns("group_members_expanded", SCHEMA)}
    assert view == {c.name for c in declared.group_members_expanded.columns}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h/db",
        "postgres://u@h/db",
        "postgresql+psycopg://u@h/db",
        "postgresql://postgres:@/postgres?host=/tmp/x",
    ],
)
def test_postgres_urls_are_taken_with_the_psycopg_driver(url: str):
    assert normalize_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+asyncpg://u@h/db", "not a url"])
def test_other_urls_are_invalid_input(url: str):
    with pytest.raises(InvalidInputError):
        PostgresStore.from_url(url)


@pytest.mark.parametrize("schema", ["", "x" * 64, "nul\x00"])
def test_bad_schema_names_are_invalid_input(schema: str):
    with pytest.raises(InvalidInputError):
        PostgresStore.from_url("postgresql://u@h/db", schema=schema)


def test_an_unreachable_server_is_a_storage_error(tmp_path):
    store = PostgresStore.from_url(f"postgresql://postgres@/postgres?host={tmp_path}")
    try:
        with pytest.raises(StorageError) as raised:
            Governance(store, entitlements=()).list_users()
        assert not isinstance(raised.value, TransientError)
        assert raised.value.__cause__ is not None
    finally:
        store.close()


def test_a_lock_timeout_is_a_transient_error(postgres_url: URL, sql: Directory):
    """SQLSTATE 55P03 surfaces as TransientError, with the transaction rolled back."""
    user = sql.user()
    store = PostgresStore.from_url(
        postgres_url, schema=SCHEMA, connect_args={"options": "-c lock_timeout=100"}
    )
    try:
        with psycopg.connect(libpq_uri(postgres_url)) as holder:
            holder.execute(f"SELECT 1 FROM {SCHEMA}.users WHERE id = %s FOR UPDATE", [user])
            with pytest.raises(TransientError) as raised:
                Governance(store, entitlements=()).delete_user(Actor.system(), user)
            assert isinstance(raised.value.__cause__.orig, psycopg.errors.LockNotAvailable)  # type: ignore[union-attr]
        assert sql.scalar("SELECT count(*) FROM {s}.users WHERE id = %s", user) == 1
    finally:
        store.close()


def test_the_resolution_function_is_inlined_into_its_callers(sql: Directory):
    """The hot path's statements call ``effective_budget``; their plans are the query's own."""
    plan = "\n".join(
        row[0]
        for row in sql.c.execute(
            f"EXPLAIN SELECT * FROM {SCHEMA}.effective_budget(%s, 'highest')", [uuid4()]
        )
    )
    assert "Function Scan" not in plan
    assert "organization_members" in plan


def test_model_names_sort_by_code_point_whatever_the_database_collation(sql: Directory):
    """Provider and model carry COLLATE "C", so PostgreSQL orders them as Python does."""
    collations = sql.c.execute(
        "SELECT a.attname, c.collname FROM pg_attribute a"
        " JOIN pg_collation c ON c.oid = a.attcollation"
        " WHERE a.attrelid = %s::regclass AND a.attname IN ('provider', 'model')"
        " ORDER BY a.attname",
        [f"{SCHEMA}.ai_model_prices"],
    ).fetchall()
    assert collations == [("model", "C"), ("provider", "C")]


def test_a_connection_the_server_closed_is_replaced_at_the_next_call(postgres_url: URL):
    """A restart or failover closes pooled connections: of the units of work's pool and of the
    hot path's. The next calls get fresh ones: units of work by their checkout ping, the hot
    path by running its statement again."""
    store = PostgresStore.from_url(postgres_url, pool_size=2)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    try:
        user = uuid4()
        gov.create_user(Actor.system(), user, "ann")
        assert gov.spend_status(Actor.system(), user).spent_micros == 0  # both pools used
        with psycopg.connect(libpq_uri(postgres_url), autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert ended is not None
        assert ended[0] >= 2
        assert store.schema_version() is not None
        assert gov.spend_status(Actor.system(), user).spent_micros == 0
    finally:
        store.close()


def test_the_hot_path_connects_with_the_engines_creator(postgres_url: URL):
    """A creator (a fresh IAM token per connection, say) opens every connection, the hot
    path's pool included."""
    opened: list[psycopg.Connection] = []

    def creator() -> psycopg.Connection:
        connection = psycopg.connect(libpq_uri(postgres_url))
        opened.append(connection)
        return connection

    store = PostgresStore.from_url("postgresql://nobody@nowhere.invalid/none", creator=creator)
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    try:
        user = uuid4()
        gov.create_user(Actor.system(), user, "ann")
        assert gov.spend_status(Actor.system(), user).spent_micros == 0  # both pools used
        assert len(opened) == 2
        assert opened[1].autocommit  # the hot path's
    finally:
        store.close()


def test_an_event_loop_connects_with_the_async_creator(postgres_url: URL):
    """With ``async_creator`` beside ``creator``, the loop's connections (hot path and units of
    work) come from it; with ``creator`` alone, an async call says what is missing."""
    opened: list[psycopg.AsyncConnection] = []

    async def async_creator() -> psycopg.AsyncConnection:
        connection = await psycopg.AsyncConnection.connect(libpq_uri(postgres_url))
        opened.append(connection)
        return connection

    def creator() -> psycopg.Connection:
        return psycopg.connect(libpq_uri(postgres_url))

    nowhere = "postgresql://nobody@nowhere.invalid/none"
    both = PostgresStore.from_url(nowhere, creator=creator, async_creator=async_creator)
    sync_only = PostgresStore.from_url(nowhere, creator=creator)

    async def use() -> None:
        user = uuid4()
        gov = AsyncGovernance(both, entitlements={AI_GOVERNANCE})
        await gov.create_user(Actor.system(), user, "ann")  # a unit of work
        assert (await gov.spend_status(Actor.system(), user)).spent_micros == 0  # the hot path
        assert len(opened) == 2
        await gov.aclose()
        assert all(connection.closed for connection in opened)
        for call in (
            AsyncGovernance(sync_only, entitlements={AI_GOVERNANCE}).get_user(user),
            AsyncGovernance(sync_only, entitlements={AI_GOVERNANCE}).spend_status(
                Actor.system(), user
            ),
        ):
            with pytest.raises(StorageError, match="async_creator"):
                await call
        await sync_only.aclose()

    asyncio.run(use())


def test_the_group_members_report_reads_members_in_batches(postgres_url: URL, sql: Directory):
    """A group of 450 members: a few round trips, not several per member."""
    organization = sql.organization()
    group = sql.group(organization)
    for _ in range(450):
        user = sql.user()
        sql.org_member(user, organization)
        sql.group_member(user, group)
    store = PostgresStore.from_url(postgres_url, schema=SCHEMA, pool_size=1, max_overflow=0)
    try:
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        assert gov.group_members_report(Actor.system(), group, over_budget_only=True) == []
        with store.engine.connect() as connection:  # the pool's one connection
            driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with count_round_trips(driver) as trips:
            assert gov.group_members_report(Actor.system(), group, over_budget_only=True) == []
        assert trips[0] < 20  # 3 pipelined batches among them; read member by member: > 1,000
    finally:
        store.close()

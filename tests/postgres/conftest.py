"""Plain-SQL fixtures: a database with the store migrated into schema ``tenant_a``, and psycopg
connections whose ``search_path`` is *not* that schema (the rules must hold for any writer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import psycopg
import pytest
from sqlalchemy.engine import URL

from aigov_postgres import PostgresStore

SCHEMA = "tenant_a"

Connect = Callable[[], psycopg.Connection]


def libpq_uri(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def tenant_store(postgres_url: URL) -> Iterator[PostgresStore]:
    store = PostgresStore.from_url(postgres_url, schema=SCHEMA)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def connect(tenant_store: PostgresStore, postgres_url: URL) -> Iterator[Connect]:
    """Open autocommit connections with ``search_path`` = public (not the store's schema)."""
    opened: list[psycopg.Connection] = []

    def open_connection() -> psycopg.Connection:
        connection = psycopg.connect(
            libpq_uri(postgres_url), autocommit=True, options="-c search_path=public"
        )
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture
def db(connect: Connect) -> psycopg.Connection:
    return connect()


class Directory:
    """Plain-SQL writes into the tenant schema."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self.c = connection

    def organization(self) -> UUID:
        organization_id = uuid4()
        self.c.execute(
            f"INSERT INTO {SCHEMA}.organizations (id, name) VALUES (%s, 'Acme')", [organization_id]
        )
        return organization_id

    def user(self) -> UUID:
        user_id = uuid4()
        self.c.execute(f"INSERT INTO {SCHEMA}.users (id, username) VALUES (%s, 'ann')", [user_id])
        return user_id

    def org_member(self, user_id: UUID, organization_id: UUID) -> None:
        self.c.execute(
            f"INSERT INTO {SCHEMA}.organization_members (user_id, organization_id) VALUES (%s, %s)",
            [user_id, organization_id],
        )

    def group(self, organization_id: UUID) -> UUID:
        group_id = uuid4()
        self.c.execute(
            f"INSERT INTO {SCHEMA}.groups (id, organization_id, name) VALUES (%s, %s, %s)",
            [group_id, organization_id, f"g-{group_id}"],
        )
        return group_id

    def group_member(self, user_id: UUID, group_id: UUID) -> None:
        self.c.execute(
            f"INSERT INTO {SCHEMA}.group_members (user_id, group_id) VALUES (%s, %s)",
            [user_id, group_id],
        )

    def scalar(self, query: str, *params: object) -> object:
        row = self.c.execute(query.format(s=SCHEMA), list(params)).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture
def sql(db: psycopg.Connection) -> Directory:
    return Directory(db)

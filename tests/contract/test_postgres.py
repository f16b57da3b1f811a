"""The conformance suite against PostgresStore on a real server."""

from __future__ import annotations

import functools

import pytest

from aigov_contracts import (
    AsyncFacade,
    DirectoryConcurrencyContract,
    EnforcementConcurrencyContract,
    StoreContract,
)
from aigov_postgres import PostgresStore

pytestmark = pytest.mark.aigov_postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_store):
        return postgres_store


class TestPostgresStoreConcurrency(DirectoryConcurrencyContract):
    @pytest.fixture
    def store_factory(self, postgres_url):
        return functools.partial(
            PostgresStore.from_url, postgres_url.render_as_string(hide_password=False)
        )


class TestPostgresStoreEnforcementConcurrency(EnforcementConcurrencyContract):
    @pytest.fixture
    def store_factory(self, postgres_url):
        return functools.partial(
            PostgresStore.from_url, postgres_url.render_as_string(hide_password=False)
        )


class TestPostgresStoreThroughAsync(AsyncFacade, TestPostgresStore):
    """The contracts through AsyncGovernance: the hot path on psycopg's AsyncConnectionPool,
    units of work on SQLAlchemy's asyncio engine."""


class TestPostgresStoreConcurrencyThroughAsync(AsyncFacade, TestPostgresStoreConcurrency):
    pass


class TestPostgresStoreEnforcementConcurrencyThroughAsync(
    AsyncFacade, TestPostgresStoreEnforcementConcurrency
):
    pass

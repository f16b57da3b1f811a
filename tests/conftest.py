"""Shared fixtures: a real PostgreSQL for the Postgres-backed suites, never skipped in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from aigov_postgres import PostgresStore
from aigov_postgres.testing import PostgresUnavailableError, TestDatabases, shared_databases

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_databases() -> TestDatabases:
    """The shared test databases, or a skip outside CI and a failure in CI when no PostgreSQL
    server can be had."""
    try:
        return shared_databases()
    except PostgresUnavailableError as exc:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL: {exc}")


@pytest.fixture
def postgres_databases() -> TestDatabases:
    return require_databases()


@pytest.fixture
def postgres_store(postgres_databases: TestDatabases) -> Iterator[PostgresStore]:
    store = postgres_databases.store()
    yield store
    store.close()


@pytest.fixture
def postgres_url(postgres_databases: TestDatabases) -> Iterator[URL]:
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


def pytest_report_header() -> str:
    source = os.environ.get("AIGOV_TEST_DATABASE_URL")
    return f"aigov: PostgreSQL from {'AIGOV_TEST_DATABASE_URL' if source else 'the provider chain'}"

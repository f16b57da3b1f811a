"""Shared fixtures: a real PostgreSQL for the Postgres-backed suites, never skipped in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from aigov_postgres import PostgresStore
from aigov_postgres.testing import (
    PostgresUnavailableError,
    TestDatabases,
    server_url,
    shared_databases,
)

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which PostgreSQL the run used, so a log shows the Postgres suites really ran."""
    if server_url.cache_info().currsize:
        url, source = server_url()
        terminalreporter.write_line(f"aigov: PostgreSQL from {source}: {url}")

"""SPEC §9 on both stores: every report of a random world with spend in it equals its brute-force
recomputation from the usage records."""

from __future__ import annotations

import pytest
from hypothesis import settings

from aigov_contracts import report_recomputation_test
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from tests.conftest import require_databases


def postgres_store() -> PostgresStore:
    return require_databases().store()


test_memory_reports_equal_their_recomputation = report_recomputation_test(MemoryStore)
# A world costs about a second on PostgreSQL, and the suite runs on two servers in CI.
test_postgres_reports_equal_their_recomputation = pytest.mark.aigov_postgres(
    settings(max_examples=30)(report_recomputation_test(postgres_store))
)

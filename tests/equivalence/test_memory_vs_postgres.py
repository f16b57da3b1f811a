"""PostgresStore behaves exactly like the reference MemoryStore, step by step, through
Governance and through AsyncGovernance."""

from __future__ import annotations

import pytest

from aigov_contracts import equivalence_test
from aigov_postgres import PostgresStore
from tests.conftest import require_databases

pytestmark = pytest.mark.aigov_postgres


def postgres_store() -> PostgresStore:
    return require_databases().store()


TestMemoryVsPostgres = equivalence_test(postgres_store).TestCase
TestMemoryVsPostgresThroughAsync = equivalence_test(
    postgres_store, candidate_facade="AsyncGovernance"
).TestCase

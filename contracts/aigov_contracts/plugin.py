"""An opt-in pytest plugin for the conformance suite: ``pytest -p aigov_contracts.plugin``.

It turns on assertion rewriting for the suite's modules (so failures show values), registers the
suite's markers, and loads a Hypothesis profile: ``ci`` when ``CI=true``, else ``dev``.
"""

from __future__ import annotations

import os

import pytest

pytest.register_assert_rewrite(
    "aigov_contracts.audit",
    "aigov_contracts.authorization",
    "aigov_contracts.budgets",
    "aigov_contracts.concurrency",
    "aigov_contracts.directory",
    "aigov_contracts.enforcement",
    "aigov_contracts.equivalence",
    "aigov_contracts.prices",
    "aigov_contracts.recomputation",
    "aigov_contracts.reports",
    "aigov_contracts.resolution",
    "aigov_contracts.snapshot",
    "aigov_contracts.spend",
    "aigov_contracts.spend_worlds",
    "aigov_contracts.store",
)

from hypothesis import HealthCheck, settings  # noqa: E402 - after the rewrite registration

# The equivalence machine needs many runs to reach deep interleavings (joining, getting an
# override, then losing the membership): 100 runs of 40 steps take about 40 s against PostgreSQL.
settings.register_profile(
    "dev",
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aigov_store_factory: a contract that needs the store_factory fixture "
        "(several handles on the same data)",
    )
    config.addinivalue_line("markers", "aigov_postgres: a test that needs a real PostgreSQL server")
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

"""Fixtures every contract shares: a controllable clock, the facade the calls go through, and a
facade over the store."""

from __future__ import annotations

import pytest

from aigov import AI_GOVERNANCE, Governance, Store
from aigov_contracts.clock import ManualClock
from aigov_contracts.facades import GovernanceFactory

__all__ = ["GovernanceFixtures"]


class GovernanceFixtures:
    """``clock`` (override it to bring your own), ``facade`` (how a facade over a store is built:
    ``Governance``, or ``AsyncGovernance`` under ``AsyncFacade``) and ``gov``, built on the
    ``store`` fixture."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def facade(self) -> GovernanceFactory:
        return Governance

    @pytest.fixture
    def gov(self, store: Store, clock: ManualClock, facade: GovernanceFactory) -> Governance:
        return facade(store, entitlements={AI_GOVERNANCE}, clock=clock)

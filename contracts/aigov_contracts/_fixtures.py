"""Fixtures every contract shares: a controllable clock and a Governance over the store."""

from __future__ import annotations

import pytest

from aigov import AI_GOVERNANCE, Governance, Store
from aigov_contracts.clock import ManualClock

__all__ = ["GovernanceFixtures"]


class GovernanceFixtures:
    """``clock`` (override it to bring your own) and ``gov``, built on the ``store`` fixture."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def gov(self, store: Store, clock: ManualClock) -> Governance:
        return Governance(store, entitlements={AI_GOVERNANCE}, clock=clock)

"""``Governance``: the public face of aigov.

Every call validates its input, checks who may make it, and then does its work in one unit of work
of the store, so that a caller never half-applies a change and never reaches what it may not. The
calls live in one module per concern; this class puts them together.
"""

from __future__ import annotations

from aigov._budget_calls import BudgetCalls
from aigov._directory_calls import DirectoryCalls
from aigov._price_calls import PriceCalls
from aigov._report_calls import ReportCalls
from aigov._service import AI_GOVERNANCE, PriceListing
from aigov._spend_calls import SpendCalls

__all__ = ["AI_GOVERNANCE", "Governance", "PriceListing"]


class Governance(DirectoryCalls, PriceCalls, BudgetCalls, SpendCalls, ReportCalls):
    """The service facade over one store.

    ``entitlements`` is required: without ``"ai_governance"`` every budget, override and spend call
    raises ``FeatureDisabledError``. Directory writes come from the host's identity sync and need
    ``Actor.system()``; directory reads are the host's own and take no actor. ``period``,
    ``budget_policy``, ``unknown_price_policy`` and ``thresholds`` are the deployment's settings
    (SPEC §8.0); ``clock`` and ``ids`` make time and new ids injectable.
    """

"""The facade's own duties: settings, the clock, the order of checks."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

import pytest

from aigov import (
    AI_GOVERNANCE,
    Actor,
    FeatureDisabledError,
    ForbiddenError,
    Governance,
    InvalidInputError,
)
from aigov_contracts import ManualClock
from aigov_memory import MemoryStore


def test_entitlements_are_a_required_collection():
    with pytest.raises(TypeError):
        Governance(MemoryStore())  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError):
        Governance(MemoryStore(), entitlements=AI_GOVERNANCE)
    assert Governance(MemoryStore(), entitlements=[AI_GOVERNANCE]).entitlements == {AI_GOVERNANCE}


def test_a_naive_clock_is_refused_and_nothing_is_stored():
    gov = Governance(
        MemoryStore(),
        entitlements={AI_GOVERNANCE},
        clock=lambda: datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
    )
    with pytest.raises(InvalidInputError, match="naive"):
        gov.create_user(Actor.system(), uuid4(), "ann")
    assert gov.list_users() == []


def test_input_is_validated_before_the_actor_is_authorized():
    """SPEC §6.2: argument validation (InvalidInputError) comes before authorization."""
    gov = Governance(MemoryStore(), entitlements={AI_GOVERNANCE}, clock=ManualClock())
    someone = Actor.user(uuid4())
    with pytest.raises(InvalidInputError):
        gov.create_user(someone, "not-a-uuid", "ann")
    with pytest.raises(ForbiddenError):
        gov.create_user(someone, uuid4(), "ann")


def test_the_actor_must_be_an_actor():
    gov = Governance(MemoryStore(), entitlements={AI_GOVERNANCE})
    with pytest.raises(InvalidInputError):
        gov.create_user("system", uuid4(), "ann")  # type: ignore[arg-type]


def test_actors():
    assert Actor.system().is_system
    user = uuid4()
    actor = Actor.user(str(user), site_roles=("owner", "auditor"))
    assert (actor.user_id, actor.site_roles, actor.is_system) == (
        user,
        frozenset({"owner", "auditor"}),
        False,
    )
    with pytest.raises(InvalidInputError):
        Actor.user(user, site_roles=("emperor",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Actor.user("nobody")


class _UntouchableStore:
    """A store that fails the test on any use."""

    def transaction(self):
        raise AssertionError("the store was touched")

    def close(self):
        raise AssertionError("the store was touched")


def test_the_feature_gate_comes_before_any_storage_access():
    """SPEC §6.3: without ai_governance, gated calls raise before touching the store."""
    gov = Governance(_UntouchableStore(), entitlements={"something-else"})  # type: ignore[arg-type]
    system, someone = Actor.system(), uuid4()
    for call in (
        lambda: gov.get_group_budget(system, someone),
        lambda: gov.upsert_group_budget(system, someone, 1),
        lambda: gov.delete_group_budget(system, someone),
        lambda: gov.get_user_budget_override(system, someone),
        lambda: gov.upsert_user_budget_override(system, someone, someone, 1),
        lambda: gov.delete_user_budget_override(system, someone),
    ):
        with pytest.raises(FeatureDisabledError):
            call()

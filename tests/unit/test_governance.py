"""The facade's own duties: settings, the clock, the order of checks."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from uuid import UUID, uuid4

import pytest

from aigov import (
    AI_GOVERNANCE,
    Actor,
    FeatureDisabledError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    NotFoundError,
    Store,
    TransientError,
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


def test_a_plain_user_actor_is_built_once_per_id():
    """The gateway's actor on every request: frozen, so one is shared; other input is validated
    each time."""
    user = uuid4()
    actor = Actor.user(user)
    assert Actor.user(user) == actor
    assert Actor.user(UUID(str(user))) == actor
    assert Actor.user(str(user)) == actor
    assert Actor.user(user, site_roles=("auditor",)).site_roles == {"auditor"}
    assert Actor.user(user).site_roles == frozenset()
    with pytest.raises(InvalidInputError):
        Actor.user(["not", "an", "id"])  # type: ignore[arg-type]


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


@pytest.mark.parametrize("entitlements", [None, 5, "ai_governance"])
def test_entitlements_that_are_not_a_collection_are_invalid(entitlements):
    with pytest.raises(InvalidInputError):
        Governance(MemoryStore(), entitlements=entitlements)


def test_a_clock_that_returns_no_datetime_is_invalid():
    gov = Governance(MemoryStore(), entitlements=(), clock=lambda: "now")  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidInputError):
        gov.create_user(Actor.system(), uuid4(), "ann")


def test_a_narrower_role_cannot_move_or_delete_an_override_out_of_a_group_it_may_not_update(
    monkeypatch,
):
    """Defence in depth (SPEC §6.2): if a role could update users but not every group, the old
    group of a moved or deleted override is still checked."""
    from aigov import authorization  # noqa: PLC0415

    monkeypatch.setitem(
        authorization.GRANTS,
        "update_user",
        authorization.Grant("update user U", org_roles=frozenset({"organization-admin"})),
    )
    gov = Governance(MemoryStore(), entitlements={AI_GOVERNANCE}, clock=ManualClock())
    system = Actor.system()
    mine, theirs, my_group, their_group, admin, user = (uuid4() for _ in range(6))
    for org, group in ((mine, my_group), (theirs, their_group)):
        gov.create_organization(system, org, f"org {org}")
        gov.create_group(system, group, org, "g")
    gov.create_user(system, admin, "admin")
    gov.add_organization_member(system, admin, mine, roles=["organization-admin"])
    gov.create_user(system, user, "user")
    for org, group in ((mine, my_group), (theirs, their_group)):
        gov.add_organization_member(system, user, org)
        gov.add_group_member(system, user, group)
    gov.upsert_user_budget_override(system, user, their_group, 1)
    narrow = Actor.user(admin)
    with pytest.raises(NotFoundError):
        gov.upsert_user_budget_override(narrow, user, my_group, 2)
    with pytest.raises(NotFoundError):
        gov.delete_user_budget_override(narrow, user)
    gov.upsert_user_budget_override(system, user, my_group, 1)
    assert gov.upsert_user_budget_override(narrow, user, my_group, 2).spend_limit_micros == 2


class _FlakyStore(Store):
    """A MemoryStore whose next ``failures`` units of work and hot-path operations fail as if
    PostgreSQL had found a deadlock: rolled back, TransientError."""

    def __init__(self, failures: int) -> None:
        self.inner = MemoryStore()
        self.failures = failures
        self.attempts = 0

    def _fail_if_due(self):
        if self.failures:
            self.failures -= 1
            raise TransientError("deadlock detected")

    @contextmanager
    def transaction(self):
        self.attempts += 1
        with self.inner.transaction() as uow:
            yield uow
            self._fail_if_due()

    def reserve_if_fits(self, request, policy):
        self.attempts += 1
        self._fail_if_due()
        return self.inner.reserve_if_fits(request, policy)

    def budget_and_spend(self, user_id, period_start, now, policy):
        self.attempts += 1
        self._fail_if_due()
        return self.inner.budget_and_spend(user_id, period_start, now, policy)

    def snapshot(self):
        return self.inner.snapshot()

    def close(self):
        self.inner.close()


def _flaky_world(failures: int):
    store = _FlakyStore(0)
    gov = Governance(store, entitlements={AI_GOVERNANCE}, clock=ManualClock())  # type: ignore[arg-type]
    org, user = uuid4(), uuid4()
    gov.create_organization(Actor.system(), org, "Acme")
    gov.create_user(Actor.system(), user, "ann")
    gov.add_organization_member(Actor.system(), user, org)
    gov.upsert_group_budget(Actor.system(), org, 100)
    store.failures, store.attempts = failures, 0
    return gov, store, user


def test_idempotent_calls_are_retried_a_bounded_number_of_times():
    gov, store, user = _flaky_world(failures=2)
    assert gov.effective_budget(user).spend_limit_micros == 100
    assert store.attempts == 3
    gov, store, user = _flaky_world(failures=3)
    with pytest.raises(TransientError):
        gov.effective_budget(user)
    assert store.attempts == 3


def test_a_reserve_rolled_back_is_tried_again_and_holds_once():
    gov, store, user = _flaky_world(failures=2)
    hold = gov.reserve(user, 10)
    assert store.attempts == 3
    assert [r.id for r in store.snapshot().reservations] == [hold.id]


def test_calls_that_are_not_idempotent_are_not_retried():
    gov, store, user = _flaky_world(failures=1)
    with pytest.raises(TransientError):
        gov.record_usage(user, "p", "m", {"input_tokens": 1})
    store.failures, store.attempts = 1, 0
    gov.record_usage(user, "p", "m", {"input_tokens": 1}, idempotency_key="k")
    assert store.attempts == 2

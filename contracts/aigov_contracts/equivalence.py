"""The equivalence machine: every operation on two stores, the same answers from both.

``equivalence_test(candidate_factory)`` returns a Hypothesis ``RuleBasedStateMachine`` that applies
each generated operation to the candidate store (through ``Governance``, or ``AsyncGovernance``
with ``candidate_facade="AsyncGovernance"``) and to the reference (``MemoryStore``, through
``Governance``), asserts equal results or the same error class after every step, and checks the
domain's laws on both stores as invariants. Use it as::

    TestMyStoreBehavesLikeMemory = equivalence_test(my_store_factory).TestCase
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, timedelta
from functools import partial
from itertools import count
from typing import Any
from uuid import UUID

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from aigov import AI_GOVERNANCE, Actor, AigovError, Governance, Store, StoreSnapshot
from aigov.cost import TokenUsage
from aigov.prices import PRICE_FIELDS
from aigov_contracts import recomputation as again
from aigov_contracts import strategies as ds
from aigov_contracts.clock import ManualClock
from aigov_contracts.facades import EventLoopThread, FacadeName, GovernanceFactory
from aigov_memory import MemoryStore

__all__ = ["equivalence_test"]

SYSTEM = Actor.system()
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
Outcome = tuple[str, Any]


def _outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", call())
    except AigovError as exc:
        return ("error", type(exc))


def _audit_by_content(snapshot: StoreSnapshot) -> list[dict[str, Any]]:
    """The audit log as equivalent stores agree on it: entries without their ids (each store
    numbers its own, and a sequence may skip), ordered by what they say."""
    return sorted(
        (entry.model_dump(exclude={"id"}) for entry in snapshot.audit),
        key=lambda e: (e["at"], e["resource_type"], e["resource_id"], e["action"]),
    )


def _assert_same_state(candidate: StoreSnapshot, reference: StoreSnapshot) -> None:
    """Everything both stores hold is equal, the audit log up to its ids."""
    assert candidate.model_copy(update={"audit": ()}) == reference.model_copy(update={"audit": ()})
    assert _audit_by_content(candidate) == _audit_by_content(reference)


def _export(gov: Governance, *, organization: UUID, day: date, kind: str) -> list[str]:
    """The whole export around ``day``, as the lines a caller would receive."""
    return list(
        gov.export_organization_spend(
            SYSTEM,
            organization,
            start=day - timedelta(days=2),
            end=day + timedelta(days=40),
            format=kind,  # type: ignore[arg-type]
        )
    )


def _sequential_id(n: int) -> UUID:
    return UUID(int=(9 << 64) + n)


def _check_directory_laws(snapshot: StoreSnapshot) -> None:
    organizations = {o.id for o in snapshot.organizations}
    groups = {g.id: g for g in snapshot.groups}
    members = {(m.organization_id, m.user_id) for m in snapshot.organization_members}
    everyone = {g.id for g in groups.values() if g.is_everyone}
    assert everyone == organizations, "every organization has exactly its Everyone group"
    assert all(g.organization_id in organizations for g in groups.values())
    for member in snapshot.group_members:
        group = groups[member.group_id]
        assert not group.is_everyone, f"direct member of an Everyone group: {member}"
        assert member.organization_id == group.organization_id
        assert (member.organization_id, member.user_id) in members, (
            f"group member outside the group's organization: {member}"
        )


def _mostly_created(bundle: Bundle[UUID], pool: st.SearchStrategy[UUID]) -> st.SearchStrategy[UUID]:
    """Mostly ids that were created (so operations meet), sometimes any id of the pool."""
    return st.one_of(bundle, bundle, bundle, pool)


def _check_budget_laws(snapshot: StoreSnapshot) -> None:
    groups = {g.id for g in snapshot.groups}
    expanded = set(again.expanded_memberships(snapshot))
    for budget in snapshot.group_budgets:
        assert budget.group_id in groups, f"a budget outlived its group: {budget}"
    for override in snapshot.overrides:
        assert (override.user_id, override.group_id) in expanded, (
            f"an override of a non-member: {override}"
        )


def _check_spend_laws(snapshot: StoreSnapshot) -> None:
    """Nothing recorded is lost or counted twice: usage = ledger = counters."""
    recorded = sum(r.cost_micros for r in snapshot.usage)
    assert recorded == sum(d.spend_micros for d in snapshot.daily_spend)
    assert recorded == sum(c.spent_micros for c in snapshot.counters)
    holding = sum(r.amount_micros for r in snapshot.reservations if r.state == "held")
    assert holding == sum(c.held_micros for c in snapshot.counters)


def _check_expanded_memberships(store: Store, snapshot: StoreSnapshot) -> None:
    """The store's expanded memberships are those its directory implies (SPEC §2)."""
    with store.transaction() as uow:
        listed = list(uow.directory.expanded_memberships())
    assert listed == again.expanded_memberships(snapshot)


def equivalence_test(
    candidate_factory: Callable[[], Store],
    reference_factory: Callable[[], Store] = MemoryStore,
    *,
    candidate_facade: FacadeName = "Governance",
) -> type[RuleBasedStateMachine]:
    """A state machine class checking that ``candidate_factory()`` stores behave like
    ``reference_factory()`` ones. Each run gets a fresh store from each factory and closes both.
    The reference is driven through ``Governance``, the candidate through ``candidate_facade``
    (``"AsyncGovernance"``: awaited on an event loop of the run's own)."""

    class StoreEquivalence(RuleBasedStateMachine):
        organizations = Bundle("organizations")
        users = Bundle("users")
        groups = Bundle("groups")
        reservations = Bundle("reservations")

        def __init__(self) -> None:
            super().__init__()
            self.clock = ManualClock()
            self.world_made = False
            self.stores = (candidate_factory(), reference_factory())
            self.resources = ExitStack()
            facades: tuple[GovernanceFactory, GovernanceFactory] = (Governance, Governance)
            if candidate_facade == "AsyncGovernance":
                facades = (self.resources.enter_context(EventLoopThread()).governance, Governance)
            self.govs = tuple(
                facade(
                    store,
                    entitlements={AI_GOVERNANCE},
                    clock=self.clock,
                    ids=partial(next, map(_sequential_id, count(1))),
                )
                for facade, store in zip(facades, self.stores, strict=True)
            )

        def both(self, operation: Callable[[Governance], Any]) -> Any:
            candidate, reference = (_outcome(partial(operation, gov)) for gov in self.govs)
            assert candidate == reference, f"candidate {candidate!r} != reference {reference!r}"
            # Every call gets its own instant, so that audit entries order by call.
            self.clock.advance(timedelta(microseconds=1))
            return reference

        def created(self, operation: Callable[[Governance], Any], key: UUID) -> Any:
            """Run a create on both stores; the key joins the bundle when it succeeded."""
            status, _ = self.both(operation)
            return multiple(key) if status == "ok" else multiple()

        # -- the directory -----------------------------------------------------------------------

        def first_world(self) -> None:
            """One organization with a group and a member, and a user outside it, so that
            membership rules are exercised from the first step."""
            if self.world_made:
                return
            self.world_made = True
            org, group = ds.ORGANIZATION_IDS[0], ds.GROUP_IDS[0]
            inside, outside = ds.USER_IDS[:2]
            self.both(lambda g: g.create_organization(SYSTEM, org, "First", is_default=True))
            self.both(lambda g: g.create_group(SYSTEM, group, org, "engineering"))
            self.both(lambda g: g.create_user(SYSTEM, inside, "inside"))
            self.both(lambda g: g.create_user(SYSTEM, outside, "outside"))
            self.both(lambda g: g.add_organization_member(SYSTEM, inside, org))
            priced = {"provider": ds.PROVIDERS[0], "model": ds.MODELS[0]}
            self.both(lambda g: g.apply_price_book([priced | dict.fromkeys(PRICE_FIELDS, 7)]))

        @initialize(target=organizations)
        def first_organizations(self) -> Any:
            self.first_world()
            return multiple(ds.ORGANIZATION_IDS[0])

        @initialize(target=groups)
        def first_groups(self) -> Any:
            self.first_world()
            return multiple(ds.GROUP_IDS[0], ds.ORGANIZATION_IDS[0])

        @initialize(target=users)
        def first_users(self) -> Any:
            self.first_world()
            return multiple(*ds.USER_IDS[:2])

        @rule(delta=st.integers(min_value=1, max_value=10**9))
        def advance_clock(self, delta: int) -> None:
            self.clock.advance(timedelta(microseconds=delta))

        @rule(
            target=organizations,
            org=ds.organization_ids(),
            name=ds.names(),
            is_default=st.booleans(),
        )
        def create_organization(self, org: UUID, name: str, is_default: bool) -> Any:
            return self.created(
                lambda g: g.create_organization(SYSTEM, org, name, is_default=is_default), org
            )

        @rule(
            org=_mostly_created(organizations, ds.organization_ids()),
            name=st.none() | ds.names(),
            is_default=st.none() | st.booleans(),
            deleted=st.none() | st.booleans(),
        )
        def update_organization(
            self, org: UUID, name: str | None, is_default: bool | None, deleted: bool | None
        ) -> None:
            self.both(
                lambda g: g.update_organization(
                    SYSTEM, org, name=name, is_default=is_default, deleted=deleted
                )
            )

        @rule(org=_mostly_created(organizations, ds.organization_ids()))
        def delete_organization(self, org: UUID) -> None:
            self.both(lambda g: g.delete_organization(SYSTEM, org))

        @rule(target=users, user=ds.user_ids(), name=ds.names())
        def create_user(self, user: UUID, name: str) -> Any:
            return self.created(lambda g: g.create_user(SYSTEM, user, name), user)

        @rule(user=_mostly_created(users, ds.user_ids()))
        def delete_user(self, user: UUID) -> None:
            self.both(lambda g: g.delete_user(SYSTEM, user))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            org=_mostly_created(organizations, ds.organization_ids()),
            roles=ds.organization_roles(),
        )
        def add_organization_member(self, user: UUID, org: UUID, roles: tuple[str, ...]) -> None:
            self.both(lambda g: g.add_organization_member(SYSTEM, user, org, roles=roles))  # type: ignore[arg-type]

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            org=_mostly_created(organizations, ds.organization_ids()),
            roles=ds.organization_roles(),
        )
        def set_organization_member_roles(
            self, user: UUID, org: UUID, roles: tuple[str, ...]
        ) -> None:
            self.both(lambda g: g.set_organization_member_roles(SYSTEM, user, org, roles))  # type: ignore[arg-type]

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            org=_mostly_created(organizations, ds.organization_ids()),
        )
        def remove_organization_member(self, user: UUID, org: UUID) -> None:
            self.both(lambda g: g.remove_organization_member(SYSTEM, user, org))

        @rule(
            target=groups,
            group=ds.group_ids(),
            org=_mostly_created(organizations, ds.organization_ids()),
            name=ds.names(),
        )
        def create_group(self, group: UUID, org: UUID, name: str) -> Any:
            return self.created(lambda g: g.create_group(SYSTEM, group, org, name), group)

        @rule(group=_mostly_created(groups, ds.group_ids()))
        def delete_group(self, group: UUID) -> None:
            self.both(lambda g: g.delete_group(SYSTEM, group))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
        )
        def add_group_member(self, user: UUID, group: UUID) -> None:
            self.both(lambda g: g.add_group_member(SYSTEM, user, group))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
        )
        def remove_group_member(self, user: UUID, group: UUID) -> None:
            self.both(lambda g: g.remove_group_member(SYSTEM, user, group))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
            leave_organization=st.booleans(),
        )
        def join_then_leave(self, user: UUID, group: UUID, leave_organization: bool) -> None:
            """Churn: join the group's organization and the group, then leave the organization
            (the group membership must go with it) or just the group."""
            status, found = self.both(lambda g: g.get_group(group))
            if status != "ok":
                return
            org = found.organization_id
            self.both(lambda g: g.add_organization_member(SYSTEM, user, org))
            self.both(lambda g: g.add_group_member(SYSTEM, user, group))
            if leave_organization:
                self.both(lambda g: g.remove_organization_member(SYSTEM, user, org))
            else:
                self.both(lambda g: g.remove_group_member(SYSTEM, user, group))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
        )
        def read_membership(self, user: UUID, group: UUID) -> None:
            self.both(lambda g: g.is_group_member(user, group))
            self.both(lambda g: g.list_group_members(group))
            self.both(lambda g: g.list_user_groups(user))
            self.both(lambda g: g.get_group(group))

        # -- budgets and overrides ---------------------------------------------------------------

        @rule(group=_mostly_created(groups, ds.group_ids()), limit=ds.limits())
        def upsert_group_budget(self, group: UUID, limit: Any) -> None:
            self.both(lambda g: g.upsert_group_budget(SYSTEM, group, limit))

        @rule(group=_mostly_created(groups, ds.group_ids()))
        def delete_group_budget(self, group: UUID) -> None:
            self.both(lambda g: g.delete_group_budget(SYSTEM, group))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
            limit=ds.limits(),
        )
        def upsert_override(self, user: UUID, group: UUID, limit: Any) -> None:
            self.both(lambda g: g.upsert_user_budget_override(SYSTEM, user, group, limit))

        @rule(user=_mostly_created(users, ds.user_ids()))
        def delete_override(self, user: UUID) -> None:
            self.both(lambda g: g.delete_user_budget_override(SYSTEM, user))

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
            leave=st.sampled_from(["group", "organization", "user", "the group itself"]),
        )
        def override_then_lose_membership(self, user: UUID, group: UUID, leave: str) -> None:
            """Churn under an override: join, get an override there, then lose the membership
            one way or another; the override must go with it on both stores."""
            status, found = self.both(lambda g: g.get_group(group))
            if status != "ok":
                return
            org = found.organization_id
            self.both(lambda g: g.add_organization_member(SYSTEM, user, org))
            if group != org:
                self.both(lambda g: g.add_group_member(SYSTEM, user, group))
            self.both(lambda g: g.upsert_user_budget_override(SYSTEM, user, group, 1))
            remove: dict[str, Callable[[Governance], Any]] = {
                "group": lambda g: g.remove_group_member(SYSTEM, user, group),
                "organization": lambda g: g.remove_organization_member(SYSTEM, user, org),
                "user": lambda g: g.delete_user(SYSTEM, user),
                "the group itself": lambda g: g.delete_group(SYSTEM, group),
            }
            self.both(remove[leave])
            self.both(lambda g: g.get_user_budget_override(SYSTEM, user))

        def recomputed(self) -> tuple[StoreSnapshot, dict[str, Any]]:
            """The reference store's snapshot and what recomputing a report needs besides."""
            settings = self.govs[1].settings
            context = {"period": settings.period, "now": self.clock()}
            return self.stores[1].snapshot(), context

        @rule(group=_mostly_created(groups, ds.group_ids()), over=st.booleans())
        def reports(self, group: UUID, over: bool) -> None:
            """Both stores give the same reports, and those agree with a brute-force
            recomputation from the usage records (``aigov_contracts.recomputation``)."""
            snapshot, context = self.recomputed()
            policy = self.govs[1].settings.budget_policy
            status, members = self.both(
                lambda g: g.group_members_report(SYSTEM, group, over_budget_only=over)
            )
            if status == "ok":
                assert list(members) == again.expected_members_report(
                    snapshot, group, policy=policy, over_budget_only=over, **context
                )
            status, found = self.both(lambda g: g.get_group(group))
            if status != "ok":
                return
            organization = found.organization_id
            snapshot, context = self.recomputed()
            _, summary = self.both(lambda g: g.group_summary(SYSTEM, organization))
            assert list(summary) == again.expected_group_summary(snapshot, organization, **context)
            day = self.clock().date()
            expected = list(
                again.expected_export(
                    snapshot, organization, day - timedelta(days=2), day + timedelta(days=40)
                )
            )
            _, csv = self.both(partial(_export, organization=organization, day=day, kind="csv"))
            assert csv == [
                "user_id,group_id,day,spend_micros\r\n",
                *(f"{u},{g},{d},{spend}\r\n" for u, g, d, spend in expected),
            ]
            _, lines = self.both(partial(_export, organization=organization, day=day, kind="jsonl"))
            assert [json.loads(line) for line in lines] == [
                {"user_id": u, "group_id": g, "day": d, "spend_micros": spend}
                for u, g, d, spend in expected
            ]

        @rule(user=_mostly_created(users, ds.user_ids()))
        def resolve(self, user: UUID) -> None:
            self.both(lambda g: g.effective_budget(user))
            snapshot, context = self.recomputed()
            status, found = self.both(lambda g: g.spend_status(SYSTEM, user))
            if status == "ok":
                policy = self.govs[1].settings.budget_policy
                assert found == again.expected_spend_status(
                    snapshot, user, policy=policy, **context
                )

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            group=_mostly_created(groups, ds.group_ids()),
        )
        def read_budgets(self, user: UUID, group: UUID) -> None:
            self.both(lambda g: g.get_group_budget(SYSTEM, group))
            self.both(lambda g: g.get_user_budget_override(SYSTEM, user))

        # -- spend -------------------------------------------------------------------------------

        @rule(
            user=_mostly_created(users, ds.user_ids()),
            provider=st.sampled_from(ds.PROVIDERS),
            model=st.sampled_from(ds.MODELS),
            tokens=st.tuples(*[st.sampled_from([0, 1, 999, 10**6])] * 4),
            key=st.none() | st.sampled_from(["k1", "k2"]),
            # Mostly now, so that the current period's reports have spend to show.
            hours=st.integers(0, 2) | st.integers(min_value=0, max_value=24 * 40),
        )
        def record_usage(
            self,
            user: UUID,
            provider: str,
            model: str,
            tokens: tuple[int, int, int, int],
            key: str | None,
            hours: int,
        ) -> None:
            usage = TokenUsage(**dict(zip(TOKEN_FIELDS, tokens, strict=True)))
            at = self.clock() + timedelta(hours=hours)
            self.both(
                lambda g: g.record_usage(user, provider, model, usage, at=at, idempotency_key=key)
            )

        @rule(
            target=reservations,
            user=_mostly_created(users, ds.user_ids()),
            amount=st.sampled_from([1, 50, 10**6, 10**12]),
            ttl_seconds=st.sampled_from([1, 3600]),
        )
        def reserve(self, user: UUID, amount: int, ttl_seconds: int) -> Any:
            status, hold = self.both(
                lambda g: g.reserve(user, amount, ttl=timedelta(seconds=ttl_seconds))
            )
            return multiple(hold.id) if status == "ok" else multiple()

        @rule(
            reservation=reservations,
            provider=st.sampled_from(ds.PROVIDERS),
            model=st.sampled_from(ds.MODELS),
            tokens=st.tuples(*[st.sampled_from([0, 1, 10**6])] * 4),
        )
        def settle(
            self, reservation: UUID, provider: str, model: str, tokens: tuple[int, ...]
        ) -> None:
            usage = TokenUsage(**dict(zip(TOKEN_FIELDS, tokens, strict=True)))
            self.both(lambda g: g.settle(reservation, provider, model, usage))

        @rule(reservation=reservations)
        def release(self, reservation: UUID) -> None:
            self.both(lambda g: g.release(reservation))

        @rule(data=st.data())
        def acknowledge_events(self, data: st.DataObject) -> None:
            status, pending = self.both(lambda g: g.pending_budget_events())
            if status == "ok" and pending:
                chosen = data.draw(st.lists(st.sampled_from([e.id for e in pending]), max_size=3))
                self.both(lambda g: g.ack_budget_events(chosen))

        @rule(seconds=st.sampled_from([1, 2, 3600, 86_400 * 31]))
        def time_passes(self, seconds: int) -> None:
            """Holds expire; periods roll over."""
            self.clock.advance(timedelta(seconds=seconds))

        # -- the price book ----------------------------------------------------------------------

        @rule(seed=ds.seeds(), as_json=st.booleans())
        def apply_price_book(self, seed: list[Any], as_json: bool) -> None:
            payload = json.dumps(seed) if as_json else seed
            self.both(lambda g: g.apply_price_book(payload))

        @rule(
            provider=st.sampled_from(ds.PROVIDERS),
            model=st.sampled_from(ds.MODELS),
            field=st.sampled_from(PRICE_FIELDS),
            value=st.sampled_from([None, 0, 1]),
        )
        def reseed_one_price(
            self, provider: str, model: str, field: str, value: int | None
        ) -> None:
            """Re-apply a stored price-book row with one price changed (often NULL <-> 0), or
            unchanged: the near misses an unchanged-row filter must tell apart."""
            status, rows = self.both(
                lambda g: g.list_model_prices(provider=provider, model=model, source="pricebook")
            )
            if status != "ok" or not rows:
                return
            element = rows[0].model_dump(include={"provider", "model", *PRICE_FIELDS})
            self.both(lambda g: g.apply_price_book([{**element, field: value}]))

        @rule(
            provider=st.sampled_from(ds.PROVIDERS),
            model=st.sampled_from(ds.MODELS),
            prices=ds.price_fields(),
        )
        def set_custom_price(self, provider: str, model: str, prices: dict[str, Any]) -> None:
            self.both(lambda g: g.set_custom_price(SYSTEM, provider, model, **prices))

        @rule(provider=st.sampled_from(ds.PROVIDERS), model=st.sampled_from(ds.MODELS))
        def delete_custom_price(self, provider: str, model: str) -> None:
            self.both(lambda g: g.delete_custom_price(SYSTEM, provider, model))

        @rule(provider=st.sampled_from(ds.PROVIDERS), model=st.sampled_from(ds.MODELS))
        def read_prices(self, provider: str, model: str) -> None:
            self.both(lambda g: g.get_model_price(provider, model))
            self.both(lambda g: g.list_model_prices(provider=provider))
            self.both(lambda g: g.list_model_prices(model=model, source="all"))

        # -- the laws ----------------------------------------------------------------------------

        @invariant()
        def stores_hold_the_same_state(self) -> None:
            candidate, reference = (store.snapshot() for store in self.stores)
            _assert_same_state(candidate, reference)
            for store, snapshot in zip(self.stores, (candidate, reference), strict=True):
                _check_directory_laws(snapshot)
                _check_expanded_memberships(store, snapshot)
                _check_budget_laws(snapshot)
                _check_spend_laws(snapshot)

        def teardown(self) -> None:
            self.resources.close()
            for store in self.stores:
                store.close()

    return StoreEquivalence

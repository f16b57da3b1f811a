"""Budget resolution (SPEC §7) as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    ConflictError,
    FeatureDisabledError,
    Governance,
    InvalidInputError,
    NotFoundError,
    Store,
)
from aigov.resolution import EffectiveBudget
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["ResolutionContract"]

SYSTEM = Actor.system()


def ordered_ids(n: int) -> list[UUID]:
    """Ids in ascending order, for tie-break tests."""
    return sorted(uuid4() for _ in range(n))


class ResolutionContract(DirectoryFixtures):
    """Override, else the highest (or lowest) group budget, else no limit with a fallback group."""

    def join(self, gov: Governance, clock: ManualClock, user: UUID, *orgs: UUID) -> None:
        for org in orgs:
            clock.advance(timedelta(seconds=1))
            gov.add_organization_member(SYSTEM, user, org)

    def new_org(self, gov: Governance, *, default: bool = False, key: UUID | None = None) -> UUID:
        organization = key or uuid4()
        gov.create_organization(SYSTEM, organization, f"org {organization}", is_default=default)
        return organization

    def test_an_unknown_user_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.effective_budget(uuid4())

    def test_a_user_in_no_organization_has_no_limit_and_no_group(
        self, gov: Governance, user: UUID
    ) -> None:
        assert gov.effective_budget(user) == EffectiveBudget(
            spend_limit_micros=None, group_id=None, source=None
        )

    def test_without_budgets_spend_goes_to_the_default_organizations_everyone(
        self, gov: Governance, clock: ManualClock, user: UUID
    ) -> None:
        first, default = self.new_org(gov), self.new_org(gov, default=True)
        self.join(gov, clock, user, first, default)
        assert gov.effective_budget(user) == EffectiveBudget(
            spend_limit_micros=None, group_id=default, source=None
        )

    def test_else_to_the_earliest_joined_organizations_everyone(
        self, gov: Governance, clock: ManualClock, user: UUID
    ) -> None:
        later, earlier = ordered_ids(2)[::-1]
        self.new_org(gov, key=later)
        self.new_org(gov, key=earlier)
        self.join(gov, clock, user, later, earlier)
        assert gov.effective_budget(user).group_id == later
        other_default = self.new_org(gov, default=True)  # the user is not a member of it
        assert gov.effective_budget(user).group_id == later
        assert other_default != later

    def test_a_deleted_default_organization_is_no_fallback(
        self, gov: Governance, clock: ManualClock, user: UUID
    ) -> None:
        first, default = self.new_org(gov), self.new_org(gov, default=True)
        self.join(gov, clock, user, first, default)
        gov.update_organization(SYSTEM, default, deleted=True)
        assert gov.effective_budget(user).group_id == first
        gov.update_organization(SYSTEM, first, deleted=True)
        assert gov.effective_budget(user) == EffectiveBudget(
            spend_limit_micros=None, group_id=None, source=None
        )

    @pytest.mark.parametrize(("policy", "expected"), [("highest", 30), ("lowest", 10)])
    def test_the_budget_policy_picks_among_the_users_groups(
        self,
        facade: GovernanceFactory,
        store: Store,
        clock: ManualClock,
        policy: str,
        expected: int,
    ) -> None:
        gov = facade(
            store,
            entitlements={"ai_governance"},
            budget_policy=policy,
            clock=clock,
        )
        org, member = self.new_org(gov), uuid4()
        gov.create_user(SYSTEM, member, "member")
        self.join(gov, clock, member, org)
        groups = [uuid4(), uuid4()]
        for n, group in enumerate(groups):
            gov.create_group(SYSTEM, group, org, f"g{n}")
            gov.add_group_member(SYSTEM, member, group)
        gov.upsert_group_budget(SYSTEM, groups[0], 10)
        gov.upsert_group_budget(SYSTEM, groups[1], 30)
        gov.upsert_group_budget(SYSTEM, org, 20)  # the Everyone group counts too
        outsider_group = uuid4()
        gov.create_group(SYSTEM, outsider_group, org, "not theirs")
        gov.upsert_group_budget(SYSTEM, outsider_group, 1_000)
        chosen = gov.effective_budget(member)
        assert (chosen.spend_limit_micros, chosen.source) == (expected, "group")
        assert chosen.group_id == groups[0 if expected == 10 else 1]

    def test_ties_go_to_the_earliest_membership_then_the_smallest_group(
        self, gov: Governance, clock: ManualClock, user: UUID
    ) -> None:
        late_org, early_org = self.new_org(gov), self.new_org(gov)
        self.join(gov, clock, user, early_org, late_org)
        small, large = ordered_ids(2)
        gov.create_group(SYSTEM, large, early_org, "large")
        gov.create_group(SYSTEM, small, late_org, "small")
        for group in (large, small):
            gov.add_group_member(SYSTEM, user, group)
            gov.upsert_group_budget(SYSTEM, group, 5)
        assert gov.effective_budget(user).group_id == large  # earliest membership wins
        same_org_small = uuid4()
        while same_org_small > large:
            same_org_small = uuid4()
        gov.create_group(SYSTEM, same_org_small, early_org, "smaller")
        gov.add_group_member(SYSTEM, user, same_org_small)
        gov.upsert_group_budget(SYSTEM, same_org_small, 5)
        assert gov.effective_budget(user).group_id == same_org_small  # then the smallest id

    def test_the_limit_applies_to_each_member(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        other = uuid4()
        gov.create_user(SYSTEM, other, "other")
        gov.add_organization_member(SYSTEM, other, org)
        gov.upsert_group_budget(SYSTEM, org, 7)
        assert gov.effective_budget(member).spend_limit_micros == 7
        assert gov.effective_budget(other).spend_limit_micros == 7

    def test_an_override_supersedes_group_budgets(
        self, gov: Governance, org: UUID, group: UUID, member: UUID
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.upsert_group_budget(SYSTEM, group, 100)
        gov.upsert_user_budget_override(SYSTEM, member, org, 0)
        assert gov.effective_budget(member) == EffectiveBudget(
            spend_limit_micros=0, group_id=org, source="user_override"
        )

    def test_deleted_organizations_take_no_part(
        self, gov: Governance, clock: ManualClock, user: UUID
    ) -> None:
        gone, live = self.new_org(gov), self.new_org(gov)
        self.join(gov, clock, user, gone, live)
        gov.upsert_group_budget(SYSTEM, gone, 1_000)
        gov.upsert_group_budget(SYSTEM, live, 10)
        gov.upsert_user_budget_override(SYSTEM, user, gone, 5_000)
        assert gov.effective_budget(user).source == "user_override"
        gov.update_organization(SYSTEM, gone, deleted=True)
        assert gov.effective_budget(user) == EffectiveBudget(
            spend_limit_micros=10, group_id=live, source="group"
        )

    def test_resolution_is_feature_gated(
        self, facade: GovernanceFactory, store: Store, member: UUID
    ) -> None:
        with pytest.raises(FeatureDisabledError):
            facade(store, entitlements=()).effective_budget(member)

    def test_every_governance_on_a_store_enforces_the_same_settings(
        self, facade: GovernanceFactory, store: Store, member: UUID
    ) -> None:
        """SPEC §8.0: the first settings stay; a Governance that disagrees is refused."""
        first = facade(store, entitlements={"ai_governance"}, period="week")
        first.effective_budget(member)
        assert first.settings.period == "week"
        again = facade(store, entitlements={"ai_governance"}, period="week", thresholds=(100, 80))
        assert again.effective_budget(member) == first.effective_budget(member)
        for different in (
            {"period": "month"},
            {"period": "week", "budget_policy": "lowest"},
            {"period": "week", "unknown_price_policy": "allow"},
            {"period": "week", "thresholds": (50,)},
        ):
            refused = facade(store, entitlements={"ai_governance"}, **different)
            with pytest.raises(ConflictError):
                refused.effective_budget(member)

    @pytest.mark.parametrize(
        "bad",
        [
            {"period": "year"},
            {"budget_policy": "median"},
            {"unknown_price_policy": "maybe"},
            {"thresholds": (0,)},
            {"thresholds": (80.5,)},
            {"thresholds": 80},
        ],
    )
    def test_bad_settings_are_invalid_input(
        self, facade: GovernanceFactory, store: Store, bad: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidInputError):
            facade(store, entitlements={"ai_governance"}, **bad)

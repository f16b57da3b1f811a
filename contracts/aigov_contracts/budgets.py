"""Group budgets and user overrides (SPEC §4, §5) as tests, for any store (fixture: ``store``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    AmountOutOfRangeError,
    FeatureDisabledError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    MembershipInvariantError,
    NotFoundError,
    Store,
)
from aigov.money import MAX_MICROS
from aigov_contracts.clock import ManualClock
from aigov_contracts.directory import DirectoryFixtures
from aigov_contracts.facades import GovernanceFactory

__all__ = ["BudgetContract"]

SYSTEM = Actor.system()
CONSTRAINT = "user_ai_budget_overrides_must_be_group_member"


class BudgetContract(DirectoryFixtures):
    """Budgets, overrides, the membership invariant and its cascades behave as SPEC §4-§5 say."""

    @pytest.fixture
    def grouped(self, gov: Governance, member: UUID, group: UUID) -> UUID:
        """The member, in the group too."""
        gov.add_group_member(SYSTEM, member, group)
        return member

    # -- §4 group budgets ------------------------------------------------------------------------

    def test_a_group_has_no_budget_until_one_is_set(self, gov: Governance, group: UUID) -> None:
        """No row means no budget is enforced: reading it is NotFoundError."""
        with pytest.raises(NotFoundError):
            gov.get_group_budget(SYSTEM, group)

    def test_a_budget_is_created_then_replaced(
        self, gov: Governance, group: UUID, clock: ManualClock
    ) -> None:
        created = gov.upsert_group_budget(SYSTEM, group, 5_000_000)
        assert (created.group_id, created.spend_limit_micros) == (group, 5_000_000)
        assert created.created_at == created.updated_at == clock()
        first = clock()
        clock.advance(timedelta(hours=1))
        replaced = gov.upsert_group_budget(SYSTEM, group, 7_000_000)
        assert (replaced.created_at, replaced.updated_at) == (first, clock())
        assert gov.get_group_budget(SYSTEM, group) == replaced

    def test_setting_the_same_limit_writes_nothing(
        self, gov: Governance, group: UUID, clock: ManualClock
    ) -> None:
        first = gov.upsert_group_budget(SYSTEM, group, 1)
        clock.advance(timedelta(hours=1))
        assert gov.upsert_group_budget(SYSTEM, group, 1) == first
        assert gov.get_group_budget(SYSTEM, group) == first

    @pytest.mark.parametrize("limit", [0, 1, MAX_MICROS])
    def test_any_limit_from_zero_to_the_bigint_maximum(
        self, gov: Governance, group: UUID, limit: int
    ) -> None:
        assert gov.upsert_group_budget(SYSTEM, group, limit).spend_limit_micros == limit
        assert gov.get_group_budget(SYSTEM, group).spend_limit_micros == limit

    @pytest.mark.parametrize(
        ("limit", "error"),
        [
            (-1, AmountOutOfRangeError),
            (2**63, AmountOutOfRangeError),
            (1.0, InvalidInputError),
            (True, InvalidInputError),
            ("5", InvalidInputError),
            (None, InvalidInputError),
        ],
    )
    def test_bad_limits_are_refused_and_store_nothing(
        self, gov: Governance, group: UUID, member: UUID, limit: Any, error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            gov.upsert_group_budget(SYSTEM, group, limit)
        with pytest.raises(error):
            gov.upsert_user_budget_override(SYSTEM, member, group, limit)
        with pytest.raises(NotFoundError):
            gov.get_group_budget(SYSTEM, group)

    def test_an_everyone_group_can_have_a_budget(self, gov: Governance, org: UUID) -> None:
        assert gov.upsert_group_budget(SYSTEM, org, 3).group_id == org

    def test_a_budget_needs_an_existing_group(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.upsert_group_budget(SYSTEM, uuid4(), 1)

    def test_deleting_a_budget(self, gov: Governance, group: UUID) -> None:
        budget = gov.upsert_group_budget(SYSTEM, group, 1)
        assert gov.delete_group_budget(SYSTEM, group) == budget
        with pytest.raises(NotFoundError):
            gov.get_group_budget(SYSTEM, group)
        with pytest.raises(NotFoundError):
            gov.delete_group_budget(SYSTEM, group)

    def test_deleting_the_group_deletes_its_budget(self, gov: Governance, group: UUID) -> None:
        gov.upsert_group_budget(SYSTEM, group, 1)
        gov.delete_group(SYSTEM, group)
        with pytest.raises(NotFoundError):
            gov.get_group_budget(SYSTEM, group)

    # -- §5 overrides ----------------------------------------------------------------------------

    def test_an_override_is_created_replaced_and_moved(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID, clock: ManualClock
    ) -> None:
        created = gov.upsert_user_budget_override(SYSTEM, grouped, group, 10)
        assert (created.user_id, created.group_id, created.spend_limit_micros) == (
            grouped,
            group,
            10,
        )
        assert created.created_at == created.updated_at == clock()
        clock.advance(timedelta(minutes=1))
        moved = gov.upsert_user_budget_override(SYSTEM, grouped, org, 0)
        assert (moved.group_id, moved.spend_limit_micros) == (org, 0)
        assert (moved.created_at, moved.updated_at) == (created.created_at, clock())
        assert gov.get_user_budget_override(SYSTEM, grouped) == moved
        clock.advance(timedelta(minutes=1))
        assert gov.upsert_user_budget_override(SYSTEM, grouped, org, 0) == moved

    def test_a_user_has_no_override_until_one_is_set(self, gov: Governance, member: UUID) -> None:
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, member)
        with pytest.raises(NotFoundError):
            gov.delete_user_budget_override(SYSTEM, member)

    def test_an_override_may_attribute_spend_to_the_everyone_group(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        assert gov.upsert_user_budget_override(SYSTEM, member, org, 1).group_id == org

    def test_an_override_of_a_non_member_is_refused(
        self, gov: Governance, org: UUID, group: UUID, member: UUID, user: UUID
    ) -> None:
        """The membership invariant, named by its constraint; Everyone groups included."""
        outsider = uuid4()
        gov.create_user(SYSTEM, outsider, "outsider")
        for someone, target in [(member, group), (outsider, org), (outsider, group)]:
            with pytest.raises(MembershipInvariantError) as raised:
                gov.upsert_user_budget_override(SYSTEM, someone, target, 1)
            assert raised.value.constraint == CONSTRAINT
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, member)

    def test_moving_an_override_to_a_group_of_non_membership_keeps_it(
        self, gov: Governance, org: UUID, group: UUID, member: UUID
    ) -> None:
        kept = gov.upsert_user_budget_override(SYSTEM, member, org, 1)
        with pytest.raises(MembershipInvariantError):
            gov.upsert_user_budget_override(SYSTEM, member, group, 2)
        assert gov.get_user_budget_override(SYSTEM, member) == kept

    def test_an_override_needs_an_existing_user_and_group(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.upsert_user_budget_override(SYSTEM, uuid4(), org, 1)
        with pytest.raises(NotFoundError):
            gov.upsert_user_budget_override(SYSTEM, member, uuid4(), 1)

    def test_deleting_an_override(self, gov: Governance, org: UUID, member: UUID) -> None:
        override = gov.upsert_user_budget_override(SYSTEM, member, org, 1)
        assert gov.delete_user_budget_override(SYSTEM, member) == override
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, member)

    # -- §5.3 cascades ---------------------------------------------------------------------------

    def test_leaving_a_group_deletes_the_override_attributed_to_it(
        self, gov: Governance, group: UUID, grouped: UUID
    ) -> None:
        gov.upsert_user_budget_override(SYSTEM, grouped, group, 1)
        gov.remove_group_member(SYSTEM, grouped, group)
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, grouped)

    def test_leaving_another_group_keeps_the_override(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID
    ) -> None:
        override = gov.upsert_user_budget_override(SYSTEM, grouped, org, 1)
        gov.remove_group_member(SYSTEM, grouped, group)
        assert gov.get_user_budget_override(SYSTEM, grouped) == override

    @pytest.mark.parametrize("attributed_to", ["everyone", "group"])
    def test_leaving_the_organization_deletes_overrides_in_it(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID, attributed_to: str
    ) -> None:
        target = org if attributed_to == "everyone" else group
        gov.upsert_user_budget_override(SYSTEM, grouped, target, 1)
        gov.remove_organization_member(SYSTEM, grouped, org)
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, grouped)

    def test_leaving_another_organization_keeps_the_override(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        other = uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.add_organization_member(SYSTEM, member, other)
        override = gov.upsert_user_budget_override(SYSTEM, member, org, 1)
        gov.remove_organization_member(SYSTEM, member, other)
        assert gov.get_user_budget_override(SYSTEM, member) == override

    @pytest.mark.parametrize("deleted", ["user", "group", "organization"])
    def test_deleting_the_user_group_or_organization_deletes_the_override(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID, deleted: str
    ) -> None:
        gov.upsert_user_budget_override(SYSTEM, grouped, group, 1)
        delete: dict[str, Callable[[], None]] = {
            "user": lambda: gov.delete_user(SYSTEM, grouped),
            "group": lambda: gov.delete_group(SYSTEM, group),
            "organization": lambda: gov.delete_organization(SYSTEM, org),
        }
        delete[deleted]()
        with pytest.raises(NotFoundError):
            gov.get_user_budget_override(SYSTEM, grouped)

    # -- §6.3 the feature gate, and who may ------------------------------------------------------

    def test_without_the_entitlement_every_budget_call_is_disabled(
        self, facade: GovernanceFactory, store: Store, org: UUID, member: UUID
    ) -> None:
        gov = facade(store, entitlements=())
        calls: list[Callable[[], object]] = [
            lambda: gov.get_group_budget(SYSTEM, org),
            lambda: gov.upsert_group_budget(SYSTEM, org, 1),
            lambda: gov.delete_group_budget(SYSTEM, org),
            lambda: gov.get_user_budget_override(SYSTEM, member),
            lambda: gov.upsert_user_budget_override(SYSTEM, member, org, 1),
            lambda: gov.delete_user_budget_override(SYSTEM, member),
            lambda: gov.upsert_group_budget(SYSTEM, "not-a-uuid", -1),
        ]
        for call in calls:
            with pytest.raises(FeatureDisabledError):
                call()

    def test_site_admins_manage_budgets_auditors_read_them(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        for roles in (("owner",), ("user-admin",)):
            admin = Actor.user(uuid4(), site_roles=roles)
            gov.upsert_group_budget(admin, org, 5)
            gov.upsert_user_budget_override(admin, member, org, 5)
        auditor = Actor.user(uuid4(), site_roles=("auditor",))
        assert gov.get_group_budget(auditor, org).spend_limit_micros == 5
        assert gov.get_user_budget_override(auditor, member).spend_limit_micros == 5
        with pytest.raises(ForbiddenError):
            gov.upsert_group_budget(auditor, org, 6)
        with pytest.raises(ForbiddenError):
            gov.delete_user_budget_override(auditor, member)

    def test_a_user_reads_their_own_override_but_may_not_change_it(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        gov.upsert_user_budget_override(SYSTEM, member, org, 5)
        themself = Actor.user(member)
        assert gov.get_user_budget_override(themself, member).spend_limit_micros == 5
        with pytest.raises(ForbiddenError):
            gov.upsert_user_budget_override(themself, member, org, 500)
        assert gov.get_user_budget_override(SYSTEM, member).spend_limit_micros == 5

    def test_what_an_actor_may_not_read_is_not_found(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        gov.upsert_group_budget(SYSTEM, org, 5)
        gov.upsert_user_budget_override(SYSTEM, member, org, 5)
        nobody = Actor.user(uuid4())
        calls: list[Callable[[], object]] = [
            lambda: gov.get_group_budget(nobody, org),
            lambda: gov.upsert_group_budget(nobody, org, 1),
            lambda: gov.delete_group_budget(nobody, org),
            lambda: gov.get_user_budget_override(nobody, member),
            lambda: gov.upsert_user_budget_override(nobody, member, org, 1),
            lambda: gov.delete_user_budget_override(nobody, member),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()
        assert gov.get_group_budget(SYSTEM, org).spend_limit_micros == 5

    def test_organization_roles_reach_their_organizations_groups_only(
        self, gov: Governance, org: UUID, group: UUID, member: UUID
    ) -> None:
        """Update group G: organization-admin and -user-admin of G's organization; an
        organization-auditor reads; nobody's organization role reaches another organization."""
        other, other_group = uuid4(), uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.create_group(SYSTEM, other_group, other, "ops")
        actors = {}
        for role in ("organization-admin", "organization-user-admin", "organization-auditor"):
            someone = uuid4()
            gov.create_user(SYSTEM, someone, role)
            gov.add_organization_member(SYSTEM, someone, org, roles=[role])
            actors[role] = Actor.user(someone)
        for role in ("organization-admin", "organization-user-admin"):
            assert gov.upsert_group_budget(actors[role], group, 9).spend_limit_micros == 9
            with pytest.raises(NotFoundError):
                gov.upsert_group_budget(actors[role], other_group, 9)
        auditor = actors["organization-auditor"]
        assert gov.get_group_budget(auditor, group).spend_limit_micros == 9
        with pytest.raises(ForbiddenError):
            gov.upsert_group_budget(auditor, group, 1)

    def test_group_members_read_their_groups_budget(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID, member: UUID
    ) -> None:
        gov.upsert_group_budget(SYSTEM, group, 4)
        gov.upsert_group_budget(SYSTEM, org, 3)
        reader = Actor.user(grouped)
        assert gov.get_group_budget(reader, group).spend_limit_micros == 4
        assert gov.get_group_budget(reader, org).spend_limit_micros == 3  # Everyone
        with pytest.raises(ForbiddenError):
            gov.delete_group_budget(reader, group)

    def test_overrides_need_a_site_admin_to_change_the_user(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        """Users are deployment-wide: organization roles read them but never update them."""
        admin = uuid4()
        gov.create_user(SYSTEM, admin, "org admin")
        gov.add_organization_member(SYSTEM, admin, org, roles=["organization-admin"])
        gov.upsert_user_budget_override(SYSTEM, member, org, 5)
        org_admin = Actor.user(admin)
        assert gov.get_user_budget_override(org_admin, member).spend_limit_micros == 5
        with pytest.raises(ForbiddenError):
            gov.upsert_user_budget_override(org_admin, member, org, 6)
        with pytest.raises(ForbiddenError):
            gov.delete_user_budget_override(org_admin, member)

    def test_moving_an_override_needs_update_rights_on_the_old_group_too(
        self, gov: Governance, org: UUID, group: UUID, grouped: UUID
    ) -> None:
        """An owner may; the facade checks the old group as well as the new one."""
        other, other_group = uuid4(), uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.create_group(SYSTEM, other_group, other, "ops")
        gov.add_organization_member(SYSTEM, grouped, other)
        gov.add_group_member(SYSTEM, grouped, other_group)
        gov.upsert_user_budget_override(SYSTEM, grouped, other_group, 1)
        owner = Actor.user(uuid4(), site_roles=("owner",))
        moved = gov.upsert_user_budget_override(owner, grouped, group, 2)
        assert moved.group_id == group

"""The directory of SPEC §2 as tests, for any store (one fixture: ``store``)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from aigov import (
    EVERYONE_GROUP_NAME,
    Actor,
    ConflictError,
    DirectoryRuleError,
    ForbiddenError,
    Governance,
    Group,
    InvalidInputError,
    MembershipInvariantError,
    NotFoundError,
    Store,
    User,
)
from aigov.audit import AuditFilter, AuditRecord
from aigov_contracts._fixtures import GovernanceFixtures
from aigov_contracts.clock import ManualClock

__all__ = ["DirectoryContract", "StoreTransactionContract"]

SYSTEM = Actor.system()


class DirectoryFixtures(GovernanceFixtures):
    """An organization, a user, a member and a group, made through the facade."""

    @pytest.fixture
    def org(self, gov: Governance) -> UUID:
        organization_id = uuid4()
        gov.create_organization(SYSTEM, organization_id, "Acme")
        return organization_id

    @pytest.fixture
    def user(self, gov: Governance) -> UUID:
        user_id = uuid4()
        gov.create_user(SYSTEM, user_id, "ann")
        return user_id

    @pytest.fixture
    def member(self, gov: Governance, org: UUID, user: UUID) -> UUID:
        gov.add_organization_member(SYSTEM, user, org)
        return user

    @pytest.fixture
    def group(self, gov: Governance, org: UUID) -> UUID:
        group_id = uuid4()
        gov.create_group(SYSTEM, group_id, org, "engineering")
        return group_id


class DirectoryContract(DirectoryFixtures):
    """Organizations, users, memberships and groups behave as SPEC §2 says."""

    # -- organizations ---------------------------------------------------------------------------

    def test_an_organization_is_stored_as_created(
        self, gov: Governance, clock: ManualClock
    ) -> None:
        """A created organization reads back equal, stamped with the clock's time."""
        organization_id = uuid4()
        created = gov.create_organization(SYSTEM, organization_id, "Acme", is_default=True)
        assert gov.get_organization(organization_id) == created
        assert created.created_at == clock()
        assert (created.is_default, created.deleted) == (True, False)

    def test_an_organization_comes_with_its_everyone_group(
        self, gov: Governance, org: UUID
    ) -> None:
        """Every organization has exactly one Everyone group whose id equals the organization's."""
        assert gov.get_group(org) == Group(id=org, organization_id=org, name=EVERYONE_GROUP_NAME)
        assert gov.get_group(org).is_everyone
        assert [g for g in gov.list_groups(organization_id=org) if g.is_everyone] == [
            gov.get_group(org)
        ]

    def test_an_organization_id_cannot_be_reused(self, gov: Governance, org: UUID) -> None:
        """Creating an organization whose id exists is a ConflictError."""
        with pytest.raises(ConflictError):
            gov.create_organization(SYSTEM, org, "Again")

    def test_an_organization_id_cannot_be_a_group_id(self, gov: Governance, group: UUID) -> None:
        """An organization whose id is an existing group's cannot get its Everyone group."""
        with pytest.raises(ConflictError):
            gov.create_organization(SYSTEM, group, "Clash")
        with pytest.raises(NotFoundError):
            gov.get_organization(group)

    def test_at_most_one_organization_is_the_default(self, gov: Governance, org: UUID) -> None:
        """A second default organization is a ConflictError naming the rule (create and update)."""
        first = uuid4()
        gov.create_organization(SYSTEM, first, "First", is_default=True)
        with pytest.raises(ConflictError) as raised:
            gov.create_organization(SYSTEM, uuid4(), "Second", is_default=True)
        assert raised.value.constraint == "organizations_single_default"
        with pytest.raises(ConflictError):
            gov.update_organization(SYSTEM, org, is_default=True)
        gov.update_organization(SYSTEM, first, is_default=True)  # already the default: fine
        gov.update_organization(SYSTEM, first, is_default=False)
        assert gov.update_organization(SYSTEM, org, is_default=True).is_default

    def test_updating_an_organization_changes_only_what_is_given(
        self, gov: Governance, org: UUID
    ) -> None:
        """Omitted fields keep their values; the change is stored."""
        before = gov.get_organization(org)
        after = gov.update_organization(SYSTEM, org, deleted=True)
        assert after == before.model_copy(update={"deleted": True})
        assert gov.get_organization(org) == after
        assert gov.update_organization(SYSTEM, org, name="Renamed").name == "Renamed"

    def test_organization_flags_are_true_booleans(self, gov: Governance, org: UUID) -> None:
        for flags in ({"is_default": "yes"}, {"deleted": 1}):
            with pytest.raises(InvalidInputError):
                gov.update_organization(SYSTEM, org, **flags)
        with pytest.raises(InvalidInputError):
            gov.create_organization(SYSTEM, uuid4(), "x", is_default="no")  # type: ignore[arg-type]
        assert not gov.get_organization(org).is_default

    def test_updating_an_unknown_organization_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.update_organization(SYSTEM, uuid4(), name="Nobody")

    def test_deleting_an_organization_deletes_its_groups_and_memberships(
        self, gov: Governance, org: UUID, member: UUID, group: UUID
    ) -> None:
        """Its groups, Everyone included, and every membership of them go with it."""
        gov.add_group_member(SYSTEM, member, group)
        gov.delete_organization(SYSTEM, org)
        with pytest.raises(NotFoundError):
            gov.get_organization(org)
        assert gov.list_groups(organization_id=org) == []
        assert gov.list_organization_members(user_id=member) == []
        assert gov.list_user_groups(member) == []
        assert gov.get_user(member).id == member  # the user stays

    def test_deleting_an_unknown_organization_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.delete_organization(SYSTEM, uuid4())

    def test_organizations_are_listed_in_id_order(self, gov: Governance) -> None:
        ids = [uuid4() for _ in range(4)]
        for n, organization_id in enumerate(ids):
            gov.create_organization(SYSTEM, organization_id, f"org {n}")
        assert [o.id for o in gov.list_organizations()] == sorted(ids)

    # -- users -----------------------------------------------------------------------------------

    def test_a_user_is_stored_as_created(self, gov: Governance) -> None:
        user_id = uuid4()
        created = gov.create_user(SYSTEM, user_id, "ann")
        assert gov.get_user(user_id) == created
        assert gov.list_users() == [created]

    def test_a_user_id_cannot_be_reused(self, gov: Governance, user: UUID) -> None:
        with pytest.raises(ConflictError):
            gov.create_user(SYSTEM, user, "bob")

    def test_deleting_a_user_deletes_their_memberships(
        self, gov: Governance, org: UUID, member: UUID, group: UUID
    ) -> None:
        """Deleting a user deletes everything of theirs (SPEC §2: cascade)."""
        gov.add_group_member(SYSTEM, member, group)
        gov.delete_user(SYSTEM, member)
        with pytest.raises(NotFoundError):
            gov.get_user(member)
        assert gov.list_organization_members(organization_id=org) == []
        assert gov.list_group_members(group) == []
        assert gov.list_group_members(org) == []

    def test_deleting_an_unknown_user_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.delete_user(SYSTEM, uuid4())

    def test_reading_an_unknown_user_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.get_user(uuid4())
        with pytest.raises(NotFoundError):
            gov.list_user_groups(uuid4())

    # -- organization membership -----------------------------------------------------------------

    def test_an_organization_member_is_a_member_of_its_everyone_group(
        self, gov: Governance, org: UUID, user: UUID
    ) -> None:
        """Organization membership is Everyone membership; nobody is added to Everyone directly."""
        assert not gov.is_group_member(user, org)
        gov.add_organization_member(SYSTEM, user, org, roles=["organization-admin"])
        assert gov.is_group_member(user, org)
        assert gov.list_group_members(org) == [user]
        assert gov.list_user_groups(user) == [org]

    def test_organization_roles_are_stored_as_a_sorted_set(
        self, gov: Governance, org: UUID, user: UUID, clock: ManualClock
    ) -> None:
        member = gov.add_organization_member(
            SYSTEM,
            user,
            org,
            roles=["organization-member", "organization-admin", "organization-member"],
        )
        assert member.roles == ("organization-admin", "organization-member")
        assert member.created_at == clock()
        assert gov.get_organization_member(user, org) == member

    def test_roles_can_be_replaced(self, gov: Governance, org: UUID, member: UUID) -> None:
        updated = gov.set_organization_member_roles(SYSTEM, member, org, ["organization-auditor"])
        assert updated.roles == ("organization-auditor",)
        assert gov.get_organization_member(member, org) == updated

    def test_unknown_roles_are_invalid_input(self, gov: Governance, org: UUID, user: UUID) -> None:
        with pytest.raises(InvalidInputError):
            gov.add_organization_member(SYSTEM, user, org, roles=["owner"])  # type: ignore[list-item]
        with pytest.raises(InvalidInputError):
            gov.add_organization_member(SYSTEM, user, org, roles="organization-admin")  # type: ignore[arg-type]
        assert gov.list_organization_members(organization_id=org) == []

    def test_setting_roles_of_a_non_member_is_not_found(
        self, gov: Governance, org: UUID, user: UUID
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.set_organization_member_roles(SYSTEM, user, org, [])

    def test_membership_needs_an_existing_user_and_organization(
        self, gov: Governance, org: UUID, user: UUID
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.add_organization_member(SYSTEM, uuid4(), org)
        with pytest.raises(NotFoundError):
            gov.add_organization_member(SYSTEM, user, uuid4())

    def test_joining_an_organization_twice_is_a_conflict(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        with pytest.raises(ConflictError):
            gov.add_organization_member(SYSTEM, member, org)

    def test_leaving_an_organization_ends_its_group_memberships_only(
        self, gov: Governance, org: UUID, member: UUID, group: UUID
    ) -> None:
        """Removing a user from an organization removes their memberships of its groups, and
        of no other organization's groups."""
        other_org, other_group = uuid4(), uuid4()
        gov.create_organization(SYSTEM, other_org, "Other")
        gov.create_group(SYSTEM, other_group, other_org, "engineering")
        gov.add_organization_member(SYSTEM, member, other_org)
        gov.add_group_member(SYSTEM, member, group)
        gov.add_group_member(SYSTEM, member, other_group)

        gov.remove_organization_member(SYSTEM, member, org)

        assert not gov.is_group_member(member, org)
        assert not gov.is_group_member(member, group)
        assert gov.list_user_groups(member) == sorted([other_org, other_group])

    def test_removing_a_non_member_is_not_found(
        self, gov: Governance, org: UUID, user: UUID
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.remove_organization_member(SYSTEM, user, org)

    def test_organization_members_are_listed_in_key_order(self, gov: Governance) -> None:
        orgs, users = [uuid4(), uuid4()], [uuid4(), uuid4(), uuid4()]
        for organization_id in orgs:
            gov.create_organization(SYSTEM, organization_id, f"org {organization_id}")
        for user_id in users:
            gov.create_user(SYSTEM, user_id, "someone")
            for organization_id in orgs:
                gov.add_organization_member(SYSTEM, user_id, organization_id)
        listed = gov.list_organization_members()
        assert [(m.organization_id, m.user_id) for m in listed] == sorted(
            (o, u) for o in orgs for u in users
        )
        assert {m.user_id for m in gov.list_organization_members(organization_id=orgs[0])} == set(
            users
        )
        assert {m.organization_id for m in gov.list_organization_members(user_id=users[0])} == set(
            orgs
        )

    # -- groups ----------------------------------------------------------------------------------

    def test_a_group_is_stored_as_created(self, gov: Governance, org: UUID) -> None:
        group_id = uuid4()
        created = gov.create_group(SYSTEM, group_id, org, "engineering")
        assert gov.get_group(group_id) == created
        assert not created.is_everyone
        assert gov.list_groups(organization_id=org) == sorted(
            [created, gov.get_group(org)], key=lambda g: g.id
        )

    def test_a_group_needs_an_existing_organization(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.create_group(SYSTEM, uuid4(), uuid4(), "orphans")

    def test_a_group_id_cannot_be_reused_even_an_everyone_group_id(
        self, gov: Governance, org: UUID, group: UUID
    ) -> None:
        other = uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        with pytest.raises(ConflictError):
            gov.create_group(SYSTEM, group, org, "again")
        with pytest.raises(ConflictError):
            gov.create_group(SYSTEM, org, org, "everyone again")
        with pytest.raises(ConflictError):
            gov.create_group(SYSTEM, other, org, "someone else's everyone")

    def test_group_names_are_unique_within_an_organization(
        self, gov: Governance, org: UUID
    ) -> None:
        gov.create_group(SYSTEM, uuid4(), org, "ops")
        with pytest.raises(ConflictError):
            gov.create_group(SYSTEM, uuid4(), org, "ops")
        with pytest.raises(ConflictError):
            gov.create_group(SYSTEM, uuid4(), org, EVERYONE_GROUP_NAME)
        other = uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.create_group(SYSTEM, uuid4(), other, "ops")

    def test_deleting_a_group_deletes_its_memberships(
        self, gov: Governance, member: UUID, group: UUID
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.delete_group(SYSTEM, group)
        with pytest.raises(NotFoundError):
            gov.get_group(group)
        with pytest.raises(NotFoundError):
            gov.list_group_members(group)
        assert not gov.is_group_member(member, group)

    def test_an_everyone_group_cannot_be_deleted(self, gov: Governance, org: UUID) -> None:
        """An Everyone group is deleted only with its organization: DirectoryRuleError."""
        with pytest.raises(DirectoryRuleError) as raised:
            gov.delete_group(SYSTEM, org)
        assert raised.value.constraint == "groups_everyone_group_undeletable"
        assert gov.get_group(org).is_everyone

    def test_deleting_an_unknown_group_is_not_found(self, gov: Governance) -> None:
        with pytest.raises(NotFoundError):
            gov.delete_group(SYSTEM, uuid4())

    # -- group membership ------------------------------------------------------------------------

    def test_an_organization_member_can_join_its_groups(
        self, gov: Governance, org: UUID, member: UUID, group: UUID
    ) -> None:
        added = gov.add_group_member(SYSTEM, member, group)
        assert (added.user_id, added.group_id, added.organization_id) == (member, group, org)
        assert gov.is_group_member(member, group)
        assert gov.list_group_members(group) == [member]
        assert gov.list_user_groups(member) == sorted([org, group])

    def test_only_organization_members_join_its_groups(
        self, gov: Governance, user: UUID, group: UUID
    ) -> None:
        """Adding a non-member of the group's organization is a MembershipInvariantError."""
        with pytest.raises(MembershipInvariantError) as raised:
            gov.add_group_member(SYSTEM, user, group)
        assert raised.value.constraint == "group_members_organization_member_fkey"
        assert gov.list_group_members(group) == []

    def test_members_of_another_organization_do_not_join(
        self, gov: Governance, user: UUID, group: UUID
    ) -> None:
        other = uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.add_organization_member(SYSTEM, user, other)
        with pytest.raises(MembershipInvariantError):
            gov.add_group_member(SYSTEM, user, group)

    def test_nobody_joins_an_everyone_group_directly(
        self, gov: Governance, org: UUID, member: UUID, user: UUID
    ) -> None:
        """Adding members to an Everyone group is a DirectoryRuleError naming the rule."""
        for someone in (member, user):
            with pytest.raises(DirectoryRuleError) as raised:
                gov.add_group_member(SYSTEM, someone, org)
            assert raised.value.constraint == "group_members_not_everyone_group"

    def test_joining_needs_an_existing_user_and_group(
        self, gov: Governance, member: UUID, group: UUID
    ) -> None:
        with pytest.raises(NotFoundError):
            gov.add_group_member(SYSTEM, uuid4(), group)
        with pytest.raises(NotFoundError):
            gov.add_group_member(SYSTEM, member, uuid4())

    def test_joining_a_group_twice_is_a_conflict(
        self, gov: Governance, member: UUID, group: UUID
    ) -> None:
        gov.add_group_member(SYSTEM, member, group)
        with pytest.raises(ConflictError):
            gov.add_group_member(SYSTEM, member, group)

    def test_leaving_a_group(self, gov: Governance, org: UUID, member: UUID, group: UUID) -> None:
        gov.add_group_member(SYSTEM, member, group)
        gov.remove_group_member(SYSTEM, member, group)
        assert not gov.is_group_member(member, group)
        assert gov.is_group_member(member, org)

    def test_leaving_a_group_one_is_not_in_is_not_found(
        self, gov: Governance, org: UUID, member: UUID, group: UUID
    ) -> None:
        """Only direct members leave a group: nobody is a direct member of an Everyone group."""
        with pytest.raises(NotFoundError):
            gov.remove_group_member(SYSTEM, member, group)
        with pytest.raises(NotFoundError):
            gov.remove_group_member(SYSTEM, member, org)

    def test_expanded_membership_is_group_members_and_organization_members(
        self, gov: Governance, org: UUID, group: UUID
    ) -> None:
        users = [uuid4() for _ in range(3)]
        for user_id in users:
            gov.create_user(SYSTEM, user_id, "someone")
            gov.add_organization_member(SYSTEM, user_id, org)
        gov.add_group_member(SYSTEM, users[0], group)
        gov.add_group_member(SYSTEM, users[2], group)
        assert gov.list_group_members(org) == sorted(users)
        assert gov.list_group_members(group) == sorted([users[0], users[2]])
        assert [gov.is_group_member(u, group) for u in users] == [True, False, True]

    def test_membership_of_unknown_things_is_false(self, gov: Governance) -> None:
        assert not gov.is_group_member(uuid4(), uuid4())

    # -- the boundary ----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "name", ["", "x" * 256, "nul\x00", "lone\ud800"], ids=["empty", "256", "nul", "surrogate"]
    )
    def test_bad_names_are_invalid_input_and_store_nothing(
        self, gov: Governance, name: str
    ) -> None:
        organization_id = uuid4()
        with pytest.raises(InvalidInputError):
            gov.create_organization(SYSTEM, organization_id, name)
        with pytest.raises(InvalidInputError):
            gov.create_user(SYSTEM, uuid4(), name)
        assert gov.list_organizations() == []
        assert gov.list_users() == []

    def test_names_are_kept_as_given(self, gov: Governance, org: UUID) -> None:
        for name in ("  Spaced  ", "Ünïcödé ✓", "x" * 255, "CASE"):
            assert gov.create_group(SYSTEM, uuid4(), org, name).name == name
        assert {g.name for g in gov.list_groups(organization_id=org)} >= {"  Spaced  ", "CASE"}

    def test_ids_may_be_given_as_strings_and_bad_ones_are_invalid_input(
        self, gov: Governance
    ) -> None:
        organization_id = uuid4()
        gov.create_organization(SYSTEM, str(organization_id), "Acme")
        assert gov.get_organization(str(organization_id)).id == organization_id
        for bad in ("not-a-uuid", 42, None):
            with pytest.raises(InvalidInputError):
                gov.get_organization(bad)  # type: ignore[arg-type]

    def test_directory_writes_are_the_systems(self, gov: Governance, org: UUID, user: UUID) -> None:
        """A user actor, whatever its site roles, gets ForbiddenError for directory writes."""
        owner = Actor.user(user, site_roles=("owner",))
        with pytest.raises(ForbiddenError):
            gov.create_organization(owner, uuid4(), "Mine")
        with pytest.raises(ForbiddenError):
            gov.add_organization_member(owner, user, org)
        with pytest.raises(ForbiddenError):
            gov.delete_user(owner, user)
        assert gov.list_organization_members(organization_id=org) == []
        assert gov.get_user(user).id == user


class StoreTransactionContract:
    """The unit of work of ``aigov.ports.Store``: all or nothing."""

    def test_a_unit_of_work_that_raises_stores_nothing(self, store: Store) -> None:
        user_id = uuid4()
        with pytest.raises(RuntimeError), store.transaction() as uow:
            uow.directory.add_user(_user(user_id))
            raise RuntimeError("caller failed")
        with store.transaction() as uow:
            assert uow.directory.get_user(user_id) is None

    def test_a_refused_write_undoes_the_writes_before_it(self, store: Store) -> None:
        first, second = uuid4(), uuid4()
        with pytest.raises(ConflictError), store.transaction() as uow:
            uow.directory.add_user(_user(first))
            uow.directory.add_user(_user(second))
            uow.directory.add_user(_user(first))
        with store.transaction() as uow:
            assert uow.directory.list_users() == []

    def test_an_audit_entry_is_part_of_its_unit_of_work(self, store: Store) -> None:
        """SPEC §10: an entry commits or rolls back with the change it describes."""
        record = AuditRecord(
            at=ManualClock()(),
            actor="system",
            action="create",
            resource_type="group_budget",
            resource_id="g",
            before=None,
            after={"spend_limit_micros": 1},
        )
        with pytest.raises(RuntimeError), store.transaction() as uow:
            uow.audit.append_audit(record)
            raise RuntimeError("the change failed after its entry was written")
        with store.transaction() as uow:
            assert uow.audit.list_audit(AuditFilter()) == []
            kept = uow.audit.append_audit(record)
        with store.transaction() as uow:
            assert uow.audit.list_audit(AuditFilter()) == [kept]

    def test_a_unit_of_work_that_ends_normally_commits(self, store: Store) -> None:
        user_id = uuid4()
        with store.transaction() as uow:
            uow.directory.add_user(_user(user_id))
        with store.transaction() as uow:
            assert uow.directory.get_user(user_id) == _user(user_id)

    def test_closing_twice_is_harmless(self, store: Store) -> None:
        store.close()
        store.close()


def _user(user_id: UUID) -> User:
    return User(id=user_id, username="someone", created_at=ManualClock()())

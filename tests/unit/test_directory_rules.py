"""The directory's pure rules (aigov.directory), independent of any store."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigov import (
    ConflictError,
    DirectoryRuleError,
    Group,
    GroupMember,
    MembershipInvariantError,
    NotFoundError,
    Organization,
    OrganizationMember,
)
from aigov.directory import (
    check_group_deletion,
    check_group_member,
    check_new_organization,
    everyone_group,
    expanded_memberships,
    group_memberships_lost,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def organization(*, is_default: bool = False) -> Organization:
    return Organization(id=uuid4(), name="Acme", is_default=is_default, created_at=NOW)


def test_the_everyone_group_shares_the_organizations_id():
    org = organization()
    group = everyone_group(org)
    assert (group.id, group.organization_id, group.name) == (org.id, org.id, "Everyone")
    assert group.is_everyone


def test_a_second_default_is_refused_but_the_default_may_stay_default():
    first, second = organization(is_default=True), organization(is_default=True)
    check_new_organization(first, current_default=None)
    check_new_organization(first, current_default=first.id)
    check_new_organization(organization(), current_default=first.id)
    with pytest.raises(ConflictError):
        check_new_organization(second, current_default=first.id)


def test_joining_checks_everyone_then_user_then_membership():
    org = organization()
    group = Group(id=uuid4(), organization_id=org.id, name="eng")
    user = uuid4()
    with pytest.raises(DirectoryRuleError):
        check_group_member(
            everyone_group(org), user, user_exists=False, is_organization_member=False
        )
    with pytest.raises(NotFoundError):
        check_group_member(group, user, user_exists=False, is_organization_member=False)
    with pytest.raises(MembershipInvariantError):
        check_group_member(group, user, user_exists=True, is_organization_member=False)
    member = check_group_member(group, user, user_exists=True, is_organization_member=True)
    assert member == GroupMember(user_id=user, group_id=group.id, organization_id=org.id)


def test_only_ordinary_groups_are_deleted_on_their_own():
    org = organization()
    check_group_deletion(Group(id=uuid4(), organization_id=org.id, name="eng"))
    with pytest.raises(DirectoryRuleError):
        check_group_deletion(everyone_group(org))


ids = st.sampled_from([UUID(int=n) for n in range(1, 5)])


@given(
    org_members=st.lists(st.tuples(ids, ids)),
    group_members=st.lists(st.tuples(ids, ids, ids)),
    leaving=st.tuples(ids, ids),
)
def test_expanded_membership_and_the_cascade(org_members, group_members, leaving):
    """Expanded membership is the union of direct memberships and Everyone memberships; leaving
    an organization loses exactly the memberships of its groups."""
    org_rows = [
        OrganizationMember(user_id=u, organization_id=o, created_at=NOW) for u, o in org_members
    ]
    group_rows = [
        GroupMember(user_id=u, group_id=g, organization_id=o) for u, g, o in group_members
    ]
    expanded = expanded_memberships(org_rows, group_rows)
    assert expanded == {(u, g) for u, g, _ in group_members} | {(u, o) for u, o in org_members}
    user, org = leaving
    lost = group_memberships_lost(user, org, group_rows)
    assert lost == [m for m in group_rows if (m.user_id, m.organization_id) == (user, org)]


def test_roles_are_a_sorted_set():
    member = OrganizationMember(
        user_id=uuid4(),
        organization_id=uuid4(),
        roles=("organization-member", "organization-admin", "organization-member"),
        created_at=NOW,
    )
    assert member.roles == ("organization-admin", "organization-member")

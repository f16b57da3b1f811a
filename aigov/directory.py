"""The directory of SPEC §2: organizations, users, memberships, groups, and the rules binding them.

The host system owns identity; aigov keeps the minimum it needs to decide budgets and rights. The
rules live here once, as pure functions over the facts they need; the memory store applies them as
they are, and the Postgres schema enforces the same rules at rest (the equivalence machine keeps the
two equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StrictBool,
    StringConstraints,
    field_validator,
)

from aigov.exceptions import (
    ConflictError,
    DirectoryRuleError,
    MembershipInvariantError,
    NotFoundError,
)

__all__ = [
    "EVERYONE_GROUP_NAME",
    "ORGANIZATION_ROLES",
    "Group",
    "GroupMember",
    "Name",
    "Organization",
    "OrganizationMember",
    "OrganizationRole",
    "User",
    "canonical_roles",
    "check_group_deletion",
    "check_group_member",
    "check_new_organization",
    "everyone_group",
    "expanded_memberships",
    "group_memberships_lost",
    "storable_text",
]

EVERYONE_GROUP_NAME = "Everyone"

OrganizationRole = Literal[
    "organization-admin",
    "organization-user-admin",
    "organization-auditor",
    "organization-member",
]
ORGANIZATION_ROLES: tuple[OrganizationRole, ...] = (
    "organization-admin",
    "organization-user-admin",
    "organization-auditor",
    "organization-member",
)


def storable_text(value: str) -> str:
    """Text every store can keep: no NUL character and valid Unicode (no lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (it holds a lone surrogate)") from exc
    return value


Name = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(storable_text)
]
"""A display name: non-empty, at most 255 characters, storable text, kept as given."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Organization(_Record):
    """A tenant. ``deleted`` organizations stay stored but take no part in budget resolution."""

    id: UUID
    name: Name
    is_default: StrictBool = False
    deleted: StrictBool = False
    created_at: AwareDatetime


class User(_Record):
    """A person known to the host system; deleting one deletes everything of theirs here."""

    id: UUID
    username: Name
    created_at: AwareDatetime


class OrganizationMember(_Record):
    """A user's membership of an organization, with the organization roles it grants."""

    user_id: UUID
    organization_id: UUID
    roles: tuple[OrganizationRole, ...] = ()
    created_at: AwareDatetime

    @field_validator("roles")
    @classmethod
    def _canonical_roles(cls, roles: tuple[OrganizationRole, ...]) -> tuple[OrganizationRole, ...]:
        return canonical_roles(roles)


def canonical_roles(roles: Iterable[OrganizationRole]) -> tuple[OrganizationRole, ...]:
    """Roles are a set; one sorted spelling makes equal memberships compare equal."""
    return tuple(sorted(set(roles)))


class Group(_Record):
    """A group of one organization. The Everyone group's id equals its organization's id."""

    id: UUID
    organization_id: UUID
    name: Name

    @property
    def is_everyone(self) -> bool:
        return self.id == self.organization_id


class GroupMember(_Record):
    """A user's membership of an ordinary group; ``organization_id`` is the group's organization."""

    user_id: UUID
    group_id: UUID
    organization_id: UUID


def everyone_group(organization: Organization) -> Group:
    """The Everyone group that exists exactly as long as its organization does."""
    return Group(id=organization.id, organization_id=organization.id, name=EVERYONE_GROUP_NAME)


def check_new_organization(organization: Organization, *, current_default: UUID | None) -> None:
    """Refuse a second default organization (at most one may be the default)."""
    if organization.is_default and current_default not in (None, organization.id):
        raise ConflictError(
            f"organization {current_default} is already the default organization",
            constraint="organizations_single_default",
        )


def check_group_member(
    group: Group, user_id: UUID, *, user_exists: bool, is_organization_member: bool
) -> GroupMember:
    """The membership to store when ``user_id`` joins ``group``, or the rule that refuses it.

    Nobody joins an Everyone group directly (its members are the organization's members), and only
    a member of the group's organization may join one of its groups. The checks run in this order
    on every store.
    """
    if group.is_everyone:
        raise DirectoryRuleError(
            f"group {group.id} is an Everyone group: its members are its organization's members",
            constraint="group_members_not_everyone_group",
        )
    if not user_exists:
        raise NotFoundError(f"user {user_id} not found", resource="user", key=user_id)
    if not is_organization_member:
        raise MembershipInvariantError(
            f"user {user_id} is not a member of organization {group.organization_id}, "
            f"the organization of group {group.id}",
            constraint="group_members_organization_member_fkey",
        )
    return GroupMember(user_id=user_id, group_id=group.id, organization_id=group.organization_id)


def check_group_deletion(group: Group) -> None:
    """Refuse deleting an Everyone group; it goes only with its organization."""
    if group.is_everyone:
        raise DirectoryRuleError(
            f"group {group.id} is the Everyone group of its organization; it goes only with it",
            constraint="groups_everyone_group_undeletable",
        )


def group_memberships_lost(
    user_id: UUID, organization_id: UUID, group_members: Iterable[GroupMember]
) -> list[GroupMember]:
    """The group memberships that go when ``user_id`` leaves ``organization_id``."""
    return [
        member
        for member in group_members
        if member.user_id == user_id and member.organization_id == organization_id
    ]


def expanded_memberships(
    organization_members: Iterable[OrganizationMember], group_members: Iterable[GroupMember]
) -> frozenset[tuple[UUID, UUID]]:
    """Every ``(user_id, group_id)`` pair of expanded membership: ordinary group memberships and,
    for each organization membership, the organization's Everyone group."""
    return frozenset(
        [(m.user_id, m.group_id) for m in group_members]
        + [(m.user_id, m.organization_id) for m in organization_members]
    )

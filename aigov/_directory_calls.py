"""Directory calls of ``Governance`` (SPEC §2): writes from the host's identity sync, reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from aigov._validation import as_uuid, validated
from aigov.actor import Actor
from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    canonical_roles,
)
from aigov.ports import UnitOfWork

__all__ = ["DirectoryCalls"]

from aigov._service import (  # the facade's private helpers, shared by its parts
    Call,
    Service,
    _found,
    _optional_uuid,
    _roles,
)


class DirectoryCalls(Service):
    # -- organizations ---------------------------------------------------------------------------

    def create_organization(
        self, actor: Actor, organization_id: UUID | str, name: str, *, is_default: bool = False
    ) -> Call[Organization]:
        """Create an organization and its Everyone group (whose id is the organization's)."""
        organization = validated(
            Organization,
            id=as_uuid(organization_id, "organization_id"),
            name=name,
            is_default=is_default,
            created_at=self._now(),
        )
        self._directory_write(actor, "create", "organization")
        yield from self._run(lambda uow: uow.directory.add_organization(organization), acting=actor)
        return organization

    def update_organization(
        self,
        actor: Actor,
        organization_id: UUID | str,
        *,
        name: str | None = None,
        is_default: bool | None = None,
        deleted: bool | None = None,
    ) -> Call[Organization]:
        """Change an organization's name, default flag or deleted flag; omitted fields stay."""
        key = as_uuid(organization_id, "organization_id")
        changes = {
            field: value
            for field, value in (("name", name), ("is_default", is_default), ("deleted", deleted))
            if value is not None
        }
        self._directory_write(actor, "update", "organization")

        def work(uow: UnitOfWork) -> Organization:
            current = _found(uow.directory.get_organization(key), "organization", key)
            updated = validated(Organization, **(current.model_dump() | changes))
            if updated != current:
                uow.directory.update_organization(updated)
            return updated

        return (yield from self._run(work))

    def delete_organization(self, actor: Actor, organization_id: UUID | str) -> Call[None]:
        """Delete an organization, its groups, and every membership of them."""
        key = as_uuid(organization_id, "organization_id")
        self._directory_write(actor, "delete", "organization")
        yield from self._run(lambda uow: uow.directory.delete_organization(key), acting=actor)

    def get_organization(self, organization_id: UUID | str) -> Call[Organization]:
        key = as_uuid(organization_id, "organization_id")
        return _found(
            (yield from self._run(lambda uow: uow.directory.get_organization(key))),
            "organization",
            key,
        )

    def list_organizations(self) -> Call[Sequence[Organization]]:
        return (yield from self._run(lambda uow: uow.directory.list_organizations()))

    # -- users -----------------------------------------------------------------------------------

    def create_user(self, actor: Actor, user_id: UUID | str, username: str) -> Call[User]:
        user = validated(
            User, id=as_uuid(user_id, "user_id"), username=username, created_at=self._now()
        )
        self._directory_write(actor, "create", "user")
        yield from self._run(lambda uow: uow.directory.add_user(user), acting=actor)
        return user

    def delete_user(self, actor: Actor, user_id: UUID | str) -> Call[None]:
        """Delete a user and everything of theirs."""
        key = as_uuid(user_id, "user_id")
        self._directory_write(actor, "delete", "user")
        yield from self._run(lambda uow: uow.directory.delete_user(key), acting=actor)

    def get_user(self, user_id: UUID | str) -> Call[User]:
        key = as_uuid(user_id, "user_id")
        return _found((yield from self._run(lambda uow: uow.directory.get_user(key))), "user", key)

    def list_users(self) -> Call[Sequence[User]]:
        return (yield from self._run(lambda uow: uow.directory.list_users()))

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(
        self,
        actor: Actor,
        user_id: UUID | str,
        organization_id: UUID | str,
        *,
        roles: Iterable[OrganizationRole] = (),
    ) -> Call[OrganizationMember]:
        """Make a user a member of an organization and so of its Everyone group."""
        member = validated(
            OrganizationMember,
            user_id=as_uuid(user_id, "user_id"),
            organization_id=as_uuid(organization_id, "organization_id"),
            roles=_roles(roles),
            created_at=self._now(),
        )
        self._directory_write(actor, "add member to", "organization")
        yield from self._run(
            lambda uow: uow.directory.add_organization_member(member), acting=actor
        )
        return member

    def set_organization_member_roles(
        self,
        actor: Actor,
        user_id: UUID | str,
        organization_id: UUID | str,
        roles: Iterable[OrganizationRole],
    ) -> Call[OrganizationMember]:
        """Replace the organization roles of a member."""
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        checked = canonical_roles(_roles(roles))
        self._directory_write(actor, "update member of", "organization")
        return (
            yield from self._run(
                lambda uow: uow.directory.set_organization_member_roles(
                    user_key, organization_key, checked
                )
            )
        )

    def remove_organization_member(
        self, actor: Actor, user_id: UUID | str, organization_id: UUID | str
    ) -> Call[None]:
        """End a membership; the user's memberships of the organization's groups end with it."""
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        self._directory_write(actor, "remove member from", "organization")
        yield from self._run(
            lambda uow: uow.directory.remove_organization_member(user_key, organization_key),
            acting=actor,
        )

    def get_organization_member(
        self, user_id: UUID | str, organization_id: UUID | str
    ) -> Call[OrganizationMember]:
        user_key = as_uuid(user_id, "user_id")
        organization_key = as_uuid(organization_id, "organization_id")
        return _found(
            (
                yield from self._run(
                    lambda uow: uow.directory.get_organization_member(user_key, organization_key)
                )
            ),
            "organization member",
            (user_key, organization_key),
        )

    def list_organization_members(
        self, *, organization_id: UUID | str | None = None, user_id: UUID | str | None = None
    ) -> Call[Sequence[OrganizationMember]]:
        organization_key = _optional_uuid(organization_id, "organization_id")
        user_key = _optional_uuid(user_id, "user_id")
        return (
            yield from self._run(
                lambda uow: uow.directory.list_organization_members(
                    organization_id=organization_key, user_id=user_key
                )
            )
        )

    # -- groups ----------------------------------------------------------------------------------

    def create_group(
        self, actor: Actor, group_id: UUID | str, organization_id: UUID | str, name: str
    ) -> Call[Group]:
        """Create an ordinary group in an organization (Everyone groups come with organizations)."""
        group = validated(
            Group,
            id=as_uuid(group_id, "group_id"),
            organization_id=as_uuid(organization_id, "organization_id"),
            name=name,
        )
        self._directory_write(actor, "create", "group")
        yield from self._run(lambda uow: uow.directory.add_group(group), acting=actor)
        return group

    def delete_group(self, actor: Actor, group_id: UUID | str) -> Call[None]:
        """Delete an ordinary group and its memberships; an Everyone group goes only with its
        organization."""
        key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "delete", "group")
        yield from self._run(lambda uow: uow.directory.delete_group(key), acting=actor)

    def get_group(self, group_id: UUID | str) -> Call[Group]:
        key = as_uuid(group_id, "group_id")
        return _found(
            (yield from self._run(lambda uow: uow.directory.get_group(key))), "group", key
        )

    def list_groups(self, *, organization_id: UUID | str | None = None) -> Call[Sequence[Group]]:
        organization_key = _optional_uuid(organization_id, "organization_id")
        return (
            yield from self._run(
                lambda uow: uow.directory.list_groups(organization_id=organization_key)
            )
        )

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(
        self, actor: Actor, user_id: UUID | str, group_id: UUID | str
    ) -> Call[GroupMember]:
        """Add a member of the group's organization to an ordinary group."""
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "add member to", "group")
        return (
            yield from self._run(
                lambda uow: uow.directory.add_group_member(user_key, group_key), acting=actor
            )
        )

    def remove_group_member(
        self, actor: Actor, user_id: UUID | str, group_id: UUID | str
    ) -> Call[None]:
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        self._directory_write(actor, "remove member from", "group")
        yield from self._run(
            lambda uow: uow.directory.remove_group_member(user_key, group_key), acting=actor
        )

    def list_group_members(self, group_id: UUID | str) -> Call[Sequence[UUID]]:
        """The ids of the group's expanded members (SPEC §2), in order."""
        key = as_uuid(group_id, "group_id")

        def work(uow: UnitOfWork) -> list[UUID]:
            _found(uow.directory.get_group(key), "group", key)
            return [user for user, _ in uow.directory.expanded_memberships(group_id=key)]

        return (yield from self._run(work))

    def list_user_groups(self, user_id: UUID | str) -> Call[Sequence[UUID]]:
        """The ids of the groups the user is an expanded member of, in order."""
        key = as_uuid(user_id, "user_id")

        def work(uow: UnitOfWork) -> list[UUID]:
            _found(uow.directory.get_user(key), "user", key)
            return [group for _, group in uow.directory.expanded_memberships(user_id=key)]

        return (yield from self._run(work))

    def is_group_member(self, user_id: UUID | str, group_id: UUID | str) -> Call[bool]:
        """Whether the user is an expanded member of the group (SPEC §2)."""
        user_key = as_uuid(user_id, "user_id")
        group_key = as_uuid(group_id, "group_id")
        return (
            yield from self._run(lambda uow: uow.directory.is_group_member(user_key, group_key))
        )

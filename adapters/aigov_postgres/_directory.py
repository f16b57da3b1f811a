"""The directory (SPEC §2) in PostgreSQL: the schema's constraints and triggers enforce its
rules, so these are plain reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, delete, exists, insert, select, update

from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    everyone_group,
)
from aigov.ports import DirectoryRepository
from aigov_postgres import schema as tables
from aigov_postgres._repository import Repository, where


class PostgresDirectory(Repository, DirectoryRepository):
    def add_organization(self, organization: Organization) -> Group:
        self._connection.execute(insert(tables.organizations).values(organization.model_dump()))
        return everyone_group(organization)

    def update_organization(self, organization: Organization) -> None:
        values = organization.model_dump(include={"name", "is_default", "deleted"})
        self._one_or_missing(
            update(tables.organizations)
            .where(tables.organizations.c.id == organization.id)
            .values(values)
            .returning(tables.organizations.c.id),
            "organization",
            organization.id,
            f"organization {organization.id} not found",
        )

    def delete_organization(self, organization_id: UUID) -> None:
        self._one_or_missing(
            delete(tables.organizations)
            .where(tables.organizations.c.id == organization_id)
            .returning(tables.organizations.c.id),
            "organization",
            organization_id,
            f"organization {organization_id} not found",
        )

    def get_organization(self, organization_id: UUID) -> Organization | None:
        row = self._connection.execute(
            select(tables.organizations).where(tables.organizations.c.id == organization_id)
        ).first()
        return None if row is None else Organization.model_validate(row._mapping)

    def list_organizations(self) -> Sequence[Organization]:
        rows = self._connection.execute(
            select(tables.organizations).order_by(tables.organizations.c.id)
        )
        return [Organization.model_validate(row._mapping) for row in rows]

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        self._connection.execute(insert(tables.users).values(user.model_dump()))

    def delete_user(self, user_id: UUID) -> None:
        self._one_or_missing(
            delete(tables.users).where(tables.users.c.id == user_id).returning(tables.users.c.id),
            "user",
            user_id,
            f"user {user_id} not found",
        )

    def get_user(self, user_id: UUID) -> User | None:
        row = self._connection.execute(
            select(tables.users).where(tables.users.c.id == user_id)
        ).first()
        return None if row is None else User.model_validate(row._mapping)

    def list_users(self) -> Sequence[User]:
        rows = self._connection.execute(select(tables.users).order_by(tables.users.c.id))
        return [User.model_validate(row._mapping) for row in rows]

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(self, member: OrganizationMember) -> None:
        values = member.model_dump() | {"roles": list(member.roles)}
        self._connection.execute(insert(tables.organization_members).values(values))

    def _organization_member_key(self, user_id: UUID, organization_id: UUID) -> ColumnElement[bool]:
        return where(
            (tables.organization_members.c.user_id, user_id),
            (tables.organization_members.c.organization_id, organization_id),
        )

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        row = self._one_or_missing(
            update(tables.organization_members)
            .where(self._organization_member_key(user_id, organization_id))
            .values(roles=list(roles))
            .returning(*tables.organization_members.c),
            "organization member",
            (user_id, organization_id),
            f"user {user_id} is not a member of organization {organization_id}",
        )
        return OrganizationMember.model_validate(row._mapping)

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        self._one_or_missing(
            delete(tables.organization_members)
            .where(self._organization_member_key(user_id, organization_id))
            .returning(tables.organization_members.c.user_id),
            "organization member",
            (user_id, organization_id),
            f"user {user_id} is not a member of organization {organization_id}",
        )

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        row = self._connection.execute(
            select(tables.organization_members).where(
                self._organization_member_key(user_id, organization_id)
            )
        ).first()
        return None if row is None else OrganizationMember.model_validate(row._mapping)

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        members = tables.organization_members
        rows = self._connection.execute(
            select(members)
            .where(
                where((members.c.organization_id, organization_id), (members.c.user_id, user_id))
            )
            .order_by(members.c.organization_id, members.c.user_id)
        )
        return [OrganizationMember.model_validate(row._mapping) for row in rows]

    # -- groups ----------------------------------------------------------------------------------

    def add_group(self, group: Group) -> None:
        self._connection.execute(insert(tables.groups).values(group.model_dump()))

    def delete_group(self, group_id: UUID) -> None:
        self._one_or_missing(
            delete(tables.groups)
            .where(tables.groups.c.id == group_id)
            .returning(tables.groups.c.id),
            "group",
            group_id,
            f"group {group_id} not found",
        )

    def get_group(self, group_id: UUID) -> Group | None:
        row = self._connection.execute(
            select(tables.groups).where(tables.groups.c.id == group_id)
        ).first()
        return None if row is None else Group.model_validate(row._mapping)

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        rows = self._connection.execute(
            select(tables.groups)
            .where(where((tables.groups.c.organization_id, organization_id)))
            .order_by(tables.groups.c.id)
        )
        return [Group.model_validate(row._mapping) for row in rows]

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        row = self._connection.execute(
            insert(tables.group_members)
            .values(user_id=user_id, group_id=group_id)
            .returning(*tables.group_members.c)
        ).one()
        return GroupMember.model_validate(row._mapping)

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        members = tables.group_members
        self._one_or_missing(
            delete(members)
            .where(where((members.c.user_id, user_id), (members.c.group_id, group_id)))
            .returning(members.c.user_id),
            "group member",
            (user_id, group_id),
            f"user {user_id} is not a direct member of group {group_id}",
        )

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        members = tables.group_members
        rows = self._connection.execute(
            select(members)
            .where(where((members.c.group_id, group_id), (members.c.user_id, user_id)))
            .order_by(members.c.group_id, members.c.user_id)
        )
        return [GroupMember.model_validate(row._mapping) for row in rows]

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        view = tables.group_members_expanded
        rows = self._connection.execute(
            select(view.c.user_id, view.c.group_id)
            .where(where((view.c.group_id, group_id), (view.c.user_id, user_id)))
            .order_by(view.c.group_id, view.c.user_id)
        )
        return [(row.user_id, row.group_id) for row in rows]

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        view = tables.group_members_expanded
        return bool(
            self._connection.scalar(
                select(
                    exists().where(where((view.c.user_id, user_id), (view.c.group_id, group_id)))
                )
            )
        )

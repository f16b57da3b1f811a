"""The memory store's directory (SPEC §2): organizations, users, groups and memberships, and what
removing one of them takes with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from aigov.audit import ResourceType, change_record
from aigov.budgets import GroupAIBudget, UserAIBudgetOverride, orphaned_overrides
from aigov.directory import (
    Group,
    GroupMember,
    Organization,
    OrganizationMember,
    OrganizationRole,
    User,
    check_group_deletion,
    check_group_member,
    check_new_organization,
    everyone_group,
    group_memberships_lost,
)
from aigov.exceptions import ConflictError, NotFoundError
from aigov.ports import DirectoryRepository
from aigov_memory._audit import MemoryAudit
from aigov_memory._tables import Tables, WriteLog

__all__ = ["MemoryDirectory"]


class MemoryDirectory(DirectoryRepository):
    """The directory. Its removals also delete what relied on the rows removed (overrides, group
    budgets, a user's spend), as PostgreSQL's cascades do."""

    def __init__(self, tables: Tables, log: WriteLog, audit: MemoryAudit) -> None:
        self._tables = tables
        self._log = log
        self._audit = audit

    # -- rows that must exist: the other repositories check what they refer to here -------------

    def existing_organization(self, organization_id: UUID) -> Organization:
        """The organization, or NotFoundError."""
        organization = self._tables.organizations.get(organization_id)
        if organization is None:
            raise NotFoundError(
                f"organization {organization_id} not found",
                resource="organization",
                key=organization_id,
            )
        return organization

    def existing_user(self, user_id: UUID) -> User:
        """The user, or NotFoundError."""
        user = self._tables.users.get(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found", resource="user", key=user_id)
        return user

    def existing_group(self, group_id: UUID) -> Group:
        """The group, or NotFoundError."""
        group = self._tables.groups.get(group_id)
        if group is None:
            raise NotFoundError(f"group {group_id} not found", resource="group", key=group_id)
        return group

    # -- organizations ---------------------------------------------------------------------------

    def _current_default(self) -> UUID | None:
        return next((o.id for o in self._tables.organizations.values() if o.is_default), None)

    def add_organization(self, organization: Organization) -> Group:
        tables = self._tables
        if organization.id in tables.organizations:
            raise ConflictError(
                f"organization {organization.id} exists already", constraint="organizations_pkey"
            )
        if organization.id in tables.groups:
            raise ConflictError(
                f"group {organization.id} exists already, so it cannot be the Everyone group "
                f"of organization {organization.id}",
                constraint="groups_pkey",
            )
        check_new_organization(organization, current_default=self._current_default())
        group = everyone_group(organization)
        self._log.put(tables.organizations, organization.id, organization)
        self._log.put(tables.groups, group.id, group)
        return group

    def update_organization(self, organization: Organization) -> None:
        self.existing_organization(organization.id)
        check_new_organization(organization, current_default=self._current_default())
        self._log.put(self._tables.organizations, organization.id, organization)

    def delete_organization(self, organization_id: UUID) -> None:
        tables = self._tables
        self.existing_organization(organization_id)
        for key, member in list(tables.group_members.items()):
            if member.organization_id == organization_id:
                self._log.pop(tables.group_members, key)
        for key in [k for k in tables.organization_members if k[0] == organization_id]:
            self._log.pop(tables.organization_members, key)
        for group_id in [
            g.id for g in tables.groups.values() if g.organization_id == organization_id
        ]:
            self._log.pop(tables.groups, group_id)
        self._log.pop(tables.organizations, organization_id)
        self._cascade()

    def get_organization(self, organization_id: UUID) -> Organization | None:
        return self._tables.organizations.get(organization_id)

    def list_organizations(self) -> Sequence[Organization]:
        return sorted(self._tables.organizations.values(), key=lambda o: o.id)

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        if user.id in self._tables.users:
            raise ConflictError(f"user {user.id} exists already", constraint="users_pkey")
        self._log.put(self._tables.users, user.id, user)

    def delete_user(self, user_id: UUID) -> None:
        tables = self._tables
        self.existing_user(user_id)
        for key in [k for k in tables.group_members if k[1] == user_id]:
            self._log.pop(tables.group_members, key)
        for key in [k for k in tables.organization_members if k[1] == user_id]:
            self._log.pop(tables.organization_members, key)
        self._log.pop(tables.users, user_id)
        self._forget_spend(user_id)
        self._cascade()

    def _forget_spend(self, user_id: UUID) -> None:
        """A deleted user's spend goes with them (SPEC §2: everything of theirs)."""
        tables = self._tables
        for record_id in [r.id for r in tables.usage.values() if r.user_id == user_id]:
            self._log.pop(tables.usage, record_id)
        for event_id in [k for k, (e, _) in tables.budget_events.items() if e.user_id == user_id]:
            self._log.pop(tables.budget_events, event_id)
        for reservation_id in [r.id for r in tables.reservations.values() if r.user_id == user_id]:
            self._log.pop(tables.reservations, reservation_id)
        keyed_by_user: tuple[dict[Any, Any], ...] = (
            tables.usage_keys,
            tables.daily_spend,
            tables.counters,
        )
        for table in keyed_by_user:
            for key in [k for k in table if k[0] == user_id]:
                self._log.pop(table, key)

    def get_user(self, user_id: UUID) -> User | None:
        return self._tables.users.get(user_id)

    def list_users(self) -> Sequence[User]:
        return sorted(self._tables.users.values(), key=lambda u: u.id)

    # -- organization membership -----------------------------------------------------------------

    def add_organization_member(self, member: OrganizationMember) -> None:
        self.existing_user(member.user_id)
        self.existing_organization(member.organization_id)
        key = (member.organization_id, member.user_id)
        if key in self._tables.organization_members:
            raise ConflictError(
                f"user {member.user_id} is a member of organization {member.organization_id} "
                "already",
                constraint="organization_members_pkey",
            )
        self._log.put(self._tables.organization_members, key, member)

    def _organization_member(self, user_id: UUID, organization_id: UUID) -> OrganizationMember:
        member = self._tables.organization_members.get((organization_id, user_id))
        if member is None:
            raise NotFoundError(
                f"user {user_id} is not a member of organization {organization_id}",
                resource="organization member",
                key=(user_id, organization_id),
            )
        return member

    def set_organization_member_roles(
        self, user_id: UUID, organization_id: UUID, roles: tuple[OrganizationRole, ...]
    ) -> OrganizationMember:
        member = self._organization_member(user_id, organization_id)
        updated = member.model_copy(update={"roles": roles})
        self._log.put(self._tables.organization_members, (organization_id, user_id), updated)
        return updated

    def remove_organization_member(self, user_id: UUID, organization_id: UUID) -> None:
        tables = self._tables
        self._organization_member(user_id, organization_id)
        for lost in group_memberships_lost(
            user_id, organization_id, list(tables.group_members.values())
        ):
            self._log.pop(tables.group_members, (lost.group_id, lost.user_id))
        self._log.pop(tables.organization_members, (organization_id, user_id))
        self._cascade()

    def get_organization_member(
        self, user_id: UUID, organization_id: UUID
    ) -> OrganizationMember | None:
        return self._tables.organization_members.get((organization_id, user_id))

    def list_organization_members(
        self, *, organization_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[OrganizationMember]:
        return [
            member
            for (org, user), member in sorted(self._tables.organization_members.items())
            if organization_id in (None, org) and user_id in (None, user)
        ]

    # -- groups ----------------------------------------------------------------------------------

    def add_group(self, group: Group) -> None:
        tables = self._tables
        if group.id in tables.groups:
            raise ConflictError(f"group {group.id} exists already", constraint="groups_pkey")
        if any(
            g.organization_id == group.organization_id and g.name == group.name
            for g in tables.groups.values()
        ):
            raise ConflictError(
                f"organization {group.organization_id} has a group named {group.name!r} already",
                constraint="groups_organization_id_name_key",
            )
        self.existing_organization(group.organization_id)
        self._log.put(tables.groups, group.id, group)

    def delete_group(self, group_id: UUID) -> None:
        tables = self._tables
        check_group_deletion(self.existing_group(group_id))
        for key in [k for k in tables.group_members if k[0] == group_id]:
            self._log.pop(tables.group_members, key)
        self._log.pop(tables.groups, group_id)
        self._cascade()

    def get_group(self, group_id: UUID) -> Group | None:
        return self._tables.groups.get(group_id)

    def list_groups(self, *, organization_id: UUID | None = None) -> Sequence[Group]:
        return [
            group
            for _, group in sorted(self._tables.groups.items())
            if organization_id in (None, group.organization_id)
        ]

    # -- group membership ------------------------------------------------------------------------

    def add_group_member(self, user_id: UUID, group_id: UUID) -> GroupMember:
        tables = self._tables
        group = self.existing_group(group_id)
        member = check_group_member(
            group,
            user_id,
            user_exists=user_id in tables.users,
            is_organization_member=(group.organization_id, user_id) in tables.organization_members,
        )
        if (group_id, user_id) in tables.group_members:
            raise ConflictError(
                f"user {user_id} is a member of group {group_id} already",
                constraint="group_members_pkey",
            )
        self._log.put(tables.group_members, (group_id, user_id), member)
        return member

    def remove_group_member(self, user_id: UUID, group_id: UUID) -> None:
        if (group_id, user_id) not in self._tables.group_members:
            raise NotFoundError(
                f"user {user_id} is not a direct member of group {group_id}",
                resource="group member",
                key=(user_id, group_id),
            )
        self._log.pop(self._tables.group_members, (group_id, user_id))
        self._cascade()

    def list_group_members(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[GroupMember]:
        return [
            member
            for (group, user), member in sorted(self._tables.group_members.items())
            if group_id in (None, group) and user_id in (None, user)
        ]

    def expanded_memberships(
        self, *, group_id: UUID | None = None, user_id: UUID | None = None
    ) -> Sequence[tuple[UUID, UUID]]:
        groups, organizations = self._tables.group_members, self._tables.organization_members
        if user_id is not None:
            pairs = groups.where("user", user_id) + organizations.where("user", user_id)
        elif group_id is not None:
            everyone = [(org, user) for org, user in organizations if org == group_id]
            pairs = groups.where("group", group_id) + everyone
        else:
            pairs = [*groups, *organizations]
        return [
            (user, group)
            for group, user in sorted(pairs)
            if group_id in (None, group) and user_id in (None, user)
        ]

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        return (group_id, user_id) in self._tables.group_members or (
            group_id,
            user_id,
        ) in self._tables.organization_members

    # -- cascades --------------------------------------------------------------------------------

    def _cascade(self) -> None:
        """What a removal takes with it, audited as cascade deletes: overrides whose user left
        their group (SPEC §5.3), and budgets of deleted groups."""
        tables = self._tables
        for lost in orphaned_overrides(list(tables.overrides.values()), self.is_group_member):
            self._log.pop(tables.overrides, lost.user_id)
            self._audit_cascade("user_budget_override", str(lost.user_id), lost)
        for group_id in [g for g in tables.group_budgets if g not in tables.groups]:
            budget = tables.group_budgets[group_id]
            self._log.pop(tables.group_budgets, group_id)
            self._audit_cascade("group_budget", str(group_id), budget)

    def _audit_cascade(
        self,
        resource_type: ResourceType,
        resource_id: str,
        before: GroupAIBudget | UserAIBudgetOverride,
    ) -> None:
        actor, at = self._audit.context()
        self._audit.append_audit(
            change_record(
                at=at,
                actor=actor,
                resource_type=resource_type,
                resource_id=resource_id,
                before=before,
                after=None,
                cascade=True,
            )
        )

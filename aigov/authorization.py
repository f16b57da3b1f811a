"""Who may do what (SPEC §6.1, §6.2). The decision is a pure function of the actor, the need and
the facts it reads; organization roles come from the directory, never from the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from uuid import UUID

from aigov.actor import Actor
from aigov.directory import OrganizationRole
from aigov.exceptions import ForbiddenError, NotFoundError

__all__ = ["Facts", "Need", "Permission", "authorize", "may", "may_manage_prices"]

Permission = Literal["read_group", "update_group", "read_user", "update_user"]

_READ_OF: Final[dict[Permission, Permission]] = {
    "read_group": "read_group",
    "update_group": "read_group",
    "read_user": "read_user",
    "update_user": "read_user",
}
_RESOURCE_OF: Final[dict[Permission, str]] = {
    "read_group": "group",
    "update_group": "group",
    "read_user": "user",
    "update_user": "user",
}

_SITE_READERS: Final = frozenset({"owner", "user-admin", "auditor"})
_SITE_ADMINS: Final = frozenset({"owner", "user-admin"})
_ORG_READERS: Final[frozenset[OrganizationRole]] = frozenset(
    {"organization-admin", "organization-user-admin", "organization-auditor"}
)
_ORG_ADMINS: Final[frozenset[OrganizationRole]] = frozenset(
    {"organization-admin", "organization-user-admin"}
)


class Facts(Protocol):
    """What a decision may need to know about the directory, read in the caller's transaction."""

    def organization_of_group(self, group_id: UUID) -> UUID | None:
        """The group's organization, or None when the group does not exist."""
        ...

    def organization_roles(self, user_id: UUID, organization_id: UUID) -> frozenset[str]:
        """The user's roles in the organization; empty when not a member."""
        ...

    def organizations_of_user(self, user_id: UUID) -> frozenset[UUID]:
        """The organizations the user is a member of."""
        ...

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        """Whether the user is an expanded member of the group."""
        ...


@dataclass(frozen=True)
class Need:
    """One permission an operation needs on one resource."""

    permission: Permission
    key: UUID


def may_manage_prices(actor: Actor) -> bool:
    """Custom prices and seeds: the owner role, and the system."""
    return actor.is_system or "owner" in actor.site_roles


def _org_roles_over_group(actor_id: UUID, group_id: UUID, facts: Facts) -> frozenset[str]:
    organization = facts.organization_of_group(group_id)
    return frozenset() if organization is None else facts.organization_roles(actor_id, organization)


def may(actor: Actor, need: Need, facts: Facts) -> bool:
    """Whether ``actor`` holds ``need`` (the table of SPEC §6.1)."""
    if actor.user_id is None:
        return True
    me, roles = actor.user_id, actor.site_roles
    match need.permission:
        case "read_group":
            return (
                bool(roles & _SITE_READERS)
                or bool(_org_roles_over_group(me, need.key, facts) & _ORG_READERS)
                or facts.is_group_member(me, need.key)
            )
        case "update_group":
            return bool(roles & _SITE_ADMINS) or bool(
                _org_roles_over_group(me, need.key, facts) & _ORG_ADMINS
            )
        case "read_user":
            return (
                need.key == me
                or bool(roles & _SITE_READERS)
                or any(
                    facts.organization_roles(me, organization) & _ORG_READERS
                    for organization in facts.organizations_of_user(need.key)
                )
            )
        case "update_user":
            return bool(roles & _SITE_ADMINS)


def authorize(actor: Actor, action: str, needs: Sequence[Need], facts: Facts) -> None:
    """Raise unless ``actor`` holds every need (SPEC §6.2): NotFoundError when any resource may
    not be read (its existence is not disclosed), else ForbiddenError when one may be read but
    not changed."""
    for need in needs:
        if not may(actor, Need(_READ_OF[need.permission], need.key), facts):
            resource = _RESOURCE_OF[need.permission]
            raise NotFoundError(f"{resource} {need.key} not found", resource=resource, key=need.key)
    for need in needs:
        if not may(actor, need, facts):
            resource = _RESOURCE_OF[need.permission]
            raise ForbiddenError(
                f"{actor} may not {action}: it needs {need.permission} on {resource} {need.key}",
                actor=actor,
                action=action,
                resource=resource,
            )

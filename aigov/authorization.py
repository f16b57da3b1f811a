"""Who may do what (SPEC §6). Decisions are pure functions of the actor and the facts.

This module decides from the actor's **site roles** (``owner``, ``user-admin``, ``auditor``) and
identity; the organization roles and group membership of SPEC §6.1 join the facts with the
authorization work. Until then every organization-scoped grant is withheld, so no actor can do
more than the table allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from aigov.actor import Actor
from aigov.exceptions import ForbiddenError, NotFoundError

__all__ = ["Need", "Permission", "authorize", "may", "may_manage_prices"]

Permission = Literal["read_group", "update_group", "read_user", "update_user"]

_READ_OF: dict[Permission, Permission] = {
    "read_group": "read_group",
    "update_group": "read_group",
    "read_user": "read_user",
    "update_user": "read_user",
}
_RESOURCE_OF: dict[Permission, str] = {
    "read_group": "group",
    "update_group": "group",
    "read_user": "user",
    "update_user": "user",
}


@dataclass(frozen=True)
class Need:
    """One permission an operation needs on one resource."""

    permission: Permission
    key: UUID


def may_manage_prices(actor: Actor) -> bool:
    """Custom prices and seeds: the owner role, and the system."""
    return actor.is_system or "owner" in actor.site_roles


def may(actor: Actor, need: Need) -> bool:
    """Whether ``actor`` holds ``need`` (SPEC §6.1, from site roles and identity)."""
    if actor.is_system:
        return True
    roles = actor.site_roles
    match need.permission:
        case "read_group":
            return bool(roles & {"owner", "user-admin", "auditor"})
        case "update_group" | "update_user":
            return bool(roles & {"owner", "user-admin"})
        case "read_user":
            return need.key == actor.user_id or bool(roles & {"owner", "user-admin", "auditor"})


def authorize(actor: Actor, action: str, needs: Sequence[Need]) -> None:
    """Raise unless ``actor`` holds every need: NotFoundError when any resource may not be read
    (its existence is not disclosed), else ForbiddenError when one may be read but not changed."""
    for need in needs:
        if not may(actor, Need(_READ_OF[need.permission], need.key)):
            resource = _RESOURCE_OF[need.permission]
            raise NotFoundError(f"{resource} {need.key} not found", resource=resource, key=need.key)
    for need in needs:
        if not may(actor, need):
            resource = _RESOURCE_OF[need.permission]
            raise ForbiddenError(
                f"{actor} may not {action}: it needs {need.permission} on {resource} {need.key}",
                actor=actor,
                action=action,
                resource=resource,
            )

"""Who may do what (SPEC §6.1, §6.2), as one table and one decision function over it.

``GRANTS`` is the permission table; ``may`` reads it with the facts of one decision, and
``docs/authorization.md`` is generated from it (a test fails when the two disagree). Organization
roles come from the directory, never from the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, Protocol
from uuid import UUID

from aigov.actor import Actor, SiteRole
from aigov.directory import OrganizationRole
from aigov.exceptions import ForbiddenError, NotFoundError

__all__ = [
    "GRANTS",
    "Facts",
    "Grant",
    "Need",
    "NoFacts",
    "Permission",
    "authorize",
    "may",
    "permission_table",
]

Permission = Literal[
    "read_group",
    "update_group",
    "read_user",
    "update_user",
    "manage_prices",
    "read_prices",
    "read_audit_log",
    "read_group_spend",
    "export_organization",
    "write_directory",
]


@dataclass(frozen=True)
class Grant:
    """Who holds a permission. ``org_roles`` count in the organization the resource belongs to
    (for a user: any organization the user belongs to)."""

    title: str
    site_roles: frozenset[SiteRole] = frozenset()
    org_roles: frozenset[OrganizationRole] = frozenset()
    org_scope: str = "of G's organization"
    group_members: bool = False
    the_user_themself: bool = False
    anyone: bool = False


_READERS: Final[frozenset[OrganizationRole]] = frozenset(
    {"organization-admin", "organization-user-admin", "organization-auditor"}
)
_ADMINS: Final[frozenset[OrganizationRole]] = frozenset(
    {"organization-admin", "organization-user-admin"}
)

GRANTS: Final[dict[Permission, Grant]] = {
    "read_group": Grant(
        "read group G",
        site_roles=frozenset({"owner", "user-admin", "auditor"}),
        org_roles=_READERS,
        group_members=True,
    ),
    "update_group": Grant(
        "update group G", site_roles=frozenset({"owner", "user-admin"}), org_roles=_ADMINS
    ),
    "read_user": Grant(
        "read user U",
        site_roles=frozenset({"owner", "user-admin", "auditor"}),
        org_roles=_READERS,
        org_scope="of any organization U belongs to",
        the_user_themself=True,
    ),
    "update_user": Grant("update user U", site_roles=frozenset({"owner", "user-admin"})),
    "manage_prices": Grant(
        "manage prices (custom prices, apply a seed)", site_roles=frozenset({"owner"})
    ),
    "read_prices": Grant("read prices", anyone=True),
    "read_audit_log": Grant("read the audit log", site_roles=frozenset({"owner", "auditor"})),
    "read_group_spend": Grant(
        "read a group's spend reports",
        site_roles=frozenset({"owner", "user-admin", "auditor"}),
        org_roles=_READERS,
    ),
    "export_organization": Grant(
        "export an organization's spend",
        site_roles=frozenset({"owner", "auditor"}),
        org_roles=frozenset({"organization-admin", "organization-auditor"}),
        org_scope="of that organization",
    ),
    "write_directory": Grant("directory writes"),
}

# The permission an actor needs to know a resource exists, for each permission on it.
_READ_OF: Final[dict[Permission, Permission]] = {
    "update_group": "read_group",
    "update_user": "read_user",
    "read_group_spend": "read_group",
    # An organization's id is its Everyone group's: who may read that group may know of it.
    "export_organization": "read_group",
}
_RESOURCE_OF: Final[dict[Permission, str]] = {
    "export_organization": "organization",
    "read_group": "group",
    "update_group": "group",
    "read_group_spend": "group",
    "read_user": "user",
    "update_user": "user",
}


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


class NoFacts(Facts):
    """For decisions on deployment-wide permissions, which need no facts."""

    def _unused(self) -> None:
        raise AssertionError("a deployment-wide permission asked for directory facts")

    def organization_of_group(self, group_id: UUID) -> UUID | None:
        self._unused()
        return None

    def organization_roles(self, user_id: UUID, organization_id: UUID) -> frozenset[str]:
        self._unused()
        return frozenset()

    def organizations_of_user(self, user_id: UUID) -> frozenset[UUID]:
        self._unused()
        return frozenset()

    def is_group_member(self, user_id: UUID, group_id: UUID) -> bool:
        self._unused()
        return False


class Need(NamedTuple):
    """One permission an operation needs, on one resource (None for deployment-wide ones). A
    named tuple: the hot path builds one per call (a dataclass costs more)."""

    permission: Permission
    key: UUID | None = None


def _organizations(need: Need, facts: Facts) -> frozenset[UUID]:
    """The organizations whose roles count for ``need``'s resource (an organization's own id is
    its Everyone group's, so a group lookup finds it too)."""
    if need.key is None:
        return frozenset()
    if _RESOURCE_OF.get(need.permission) == "user":
        return facts.organizations_of_user(need.key)
    organization = facts.organization_of_group(need.key)
    return frozenset() if organization is None else frozenset({organization})


def may(actor: Actor, need: Need, facts: Facts) -> bool:
    """Whether ``actor`` holds ``need``: the system always; a user as ``GRANTS`` says."""
    me = actor.user_id
    if me is None:
        return True
    grant = GRANTS[need.permission]
    key = need.key
    themself = grant.the_user_themself and key == me
    if grant.anyone or themself:
        return True
    if not actor.site_roles.isdisjoint(grant.site_roles):
        return True
    if need.key is not None and grant.group_members and facts.is_group_member(me, need.key):
        return True
    return bool(grant.org_roles) and any(
        facts.organization_roles(me, organization) & grant.org_roles
        for organization in _organizations(need, facts)
    )


def authorize(actor: Actor, action: str, needs: Sequence[Need], facts: Facts) -> None:
    """Raise unless ``actor`` holds every need (SPEC §6.2): NotFoundError when any resource may
    not be read (its existence is not disclosed), else ForbiddenError."""
    if actor.user_id is None:
        return  # the system may do everything
    unproven: list[Need] = []
    for need in needs:
        resource = _RESOURCE_OF.get(need.permission)
        if resource is not None:
            read = (
                need
                if need.permission not in _READ_OF
                else Need(_READ_OF[need.permission], need.key)
            )
            if not may(actor, read, facts):
                raise NotFoundError(
                    f"{resource} {need.key} not found", resource=resource, key=need.key
                )
            if read is need:
                continue
        unproven.append(need)
    for need in unproven:
        if not may(actor, need, facts):
            resource = _RESOURCE_OF.get(need.permission, need.permission)
            raise ForbiddenError(
                f"{actor} may not {action}: it needs {GRANTS[need.permission].title!r}",
                actor=actor,
                action=action,
                resource=resource,
            )


def permission_table() -> str:
    """SPEC §6.1's table in Markdown, generated from ``GRANTS``."""
    lines = ["| permission | granted to |", "|---|---|"]
    for grant in GRANTS.values():
        holders: list[str] = sorted(grant.site_roles, key=["owner", "user-admin", "auditor"].index)
        if grant.org_roles:
            holders.append(", ".join(sorted(grant.org_roles)) + f" {grant.org_scope}")
        if grant.group_members:
            holders.append("every (expanded) member of G")
        if grant.the_user_themself:
            holders.append("U themself")
        if grant.anyone:
            holders.append("any actor")
        holders.append("the system")
        lines.append(f"| {grant.title} | {'; '.join(holders)} |")
    return "\n".join(lines) + "\n"

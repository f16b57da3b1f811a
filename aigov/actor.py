"""Who is acting: the host's own process, or a user with site roles.

Organization roles are never taken from the caller: they are read from the directory
(``organization_members.roles``) when a decision needs them.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from aigov._validation import validated

__all__ = ["SITE_ROLES", "Actor", "SiteRole"]

SiteRole = Literal["owner", "user-admin", "auditor", "member"]
SITE_ROLES: tuple[SiteRole, ...] = ("owner", "user-admin", "auditor", "member")


class Actor(BaseModel):
    """The subject of an authorization decision. Build one with ``Actor.system()`` or
    ``Actor.user(user_id, site_roles=...)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: UUID | None
    site_roles: frozenset[SiteRole] = frozenset()

    @classmethod
    def system(cls) -> Actor:
        """The host's own process: it may do everything."""
        return cls(user_id=None)

    @classmethod
    def user(
        cls, user_id: UUID | str, *, site_roles: frozenset[SiteRole] | tuple[SiteRole, ...] = ()
    ) -> Actor:
        """A user of the host system with the given deployment-wide roles."""
        return validated(cls, user_id=user_id, site_roles=site_roles)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def __str__(self) -> str:
        return "system" if self.user_id is None else f"user {self.user_id}"

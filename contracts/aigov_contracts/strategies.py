"""Hypothesis strategies for aigov's domain, with the edge cases stores get wrong.

Ids are drawn from small fixed pools so that generated operations collide on the same
organizations, users and groups (and a group id may be an organization's, i.e. its Everyone group).
"""

from __future__ import annotations

from uuid import UUID

from hypothesis import strategies as st

from aigov.actor import SITE_ROLES, SiteRole
from aigov.directory import ORGANIZATION_ROLES, OrganizationRole

__all__ = [
    "GROUP_IDS",
    "ORGANIZATION_IDS",
    "USER_IDS",
    "group_ids",
    "names",
    "organization_ids",
    "organization_roles",
    "site_roles",
    "user_ids",
]


def _pool(kind: int, size: int) -> tuple[UUID, ...]:
    return tuple(UUID(int=(kind << 64) + n) for n in range(1, size + 1))


ORGANIZATION_IDS = _pool(1, 3)
USER_IDS = _pool(2, 5)
GROUP_IDS = _pool(3, 4)


def organization_ids() -> st.SearchStrategy[UUID]:
    return st.sampled_from(ORGANIZATION_IDS)


def user_ids() -> st.SearchStrategy[UUID]:
    return st.sampled_from(USER_IDS)


def group_ids() -> st.SearchStrategy[UUID]:
    """Ordinary group ids, and organization ids (which name Everyone groups)."""
    return st.sampled_from(GROUP_IDS + ORGANIZATION_IDS)


def names() -> st.SearchStrategy[str]:
    """Valid names, mostly short and colliding, sometimes at the 255-character limit, and
    sometimes invalid (empty, too long, NUL, lone surrogate) to check both stores refuse alike."""
    return st.one_of(
        st.sampled_from(["eng", "ops", "Everyone", "Ünïcödé ✓"]),
        st.text(min_size=1, max_size=8),
        st.just("x" * 255),
        st.sampled_from(["", "x" * 256, "nul\x00", "lone\ud800"]),
    )


def organization_roles() -> st.SearchStrategy[tuple[OrganizationRole, ...]]:
    return st.lists(st.sampled_from(ORGANIZATION_ROLES), max_size=3).map(tuple)


def site_roles() -> st.SearchStrategy[frozenset[SiteRole]]:
    return st.frozensets(st.sampled_from(SITE_ROLES), max_size=2)

"""Hypothesis strategies for aigov's domain, with the edge cases stores get wrong.

Ids are drawn from small fixed pools so that generated operations collide on the same
organizations, users and groups (and a group id may be an organization's, i.e. its Everyone group).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from aigov.actor import SITE_ROLES, SiteRole
from aigov.directory import ORGANIZATION_ROLES, OrganizationRole
from aigov.money import MAX_MICROS
from aigov.prices import PRICE_FIELDS

__all__ = [
    "GROUP_IDS",
    "MODELS",
    "ORGANIZATION_IDS",
    "PROVIDERS",
    "USER_IDS",
    "bad_seed_rows",
    "group_ids",
    "limits",
    "names",
    "organization_ids",
    "organization_roles",
    "price_fields",
    "prices",
    "seed_rows",
    "seeds",
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


PROVIDERS = ("openai", "anthropic", "OpenAI")
MODELS = ("gpt-x", "claude-y", "o9")

_PRICE_VALUES = (None, 0, 1, 999_999, 1_000_000, MAX_MICROS)


def prices() -> st.SearchStrategy[int | None]:
    """Prices that matter: unknown, free, tiny, around one micro per token, the BIGINT edge."""
    return st.sampled_from(_PRICE_VALUES) | st.integers(min_value=0, max_value=MAX_MICROS)


def price_fields() -> st.SearchStrategy[dict[str, int | None]]:
    return st.fixed_dictionaries({field: prices() for field in PRICE_FIELDS})


def seed_rows() -> st.SearchStrategy[dict[str, Any]]:
    """Valid seed elements over a few colliding providers and models."""
    return st.builds(
        lambda provider, model, values: {"provider": provider, "model": model, **values},
        st.sampled_from(PROVIDERS),
        st.sampled_from(MODELS),
        price_fields(),
    )


_BAD_VALUES = (-1, 2**63, 1.0, True, "5")


def bad_seed_rows() -> st.SearchStrategy[Any]:
    """Elements every store must refuse: a bad price, a missing or unknown key, not an object."""
    return st.one_of(
        st.builds(
            lambda element, field, value: {**element, field: value},
            seed_rows(),
            st.sampled_from(PRICE_FIELDS),
            st.sampled_from(_BAD_VALUES),
        ),
        seed_rows().map(lambda element: {k: v for k, v in element.items() if k != "model"}),
        seed_rows().map(lambda element: {**element, "extra": 1}),
        st.builds(lambda element: {**element, "provider": ""}, seed_rows()),
        st.just(7),
    )


def seeds() -> st.SearchStrategy[list[Any]]:
    """Seeds that overlap and repeat (a key twice is a conflict), sometimes with a bad element."""
    valid = st.lists(seed_rows(), max_size=6)
    return st.one_of(
        valid.map(_unique_keys),
        valid,
        st.builds(
            lambda rows, bad, at: [*rows[:at], bad, *rows[at:]],
            valid.map(_unique_keys),
            bad_seed_rows(),
            st.integers(0, 6),
        ),
    )


def _unique_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for element in rows:
        seen.setdefault((element["provider"], element["model"]), element)
    return list(seen.values())


def limits() -> st.SearchStrategy[Any]:
    """Spend limits: 0 (may not spend), small, the BIGINT edge; sometimes out of range or not an
    int, which every store must refuse alike."""
    return st.one_of(
        st.sampled_from([0, 1, 1_000_000, MAX_MICROS]),
        st.integers(min_value=0, max_value=MAX_MICROS),
        st.sampled_from([-1, 2**63, 1.5, True, "5", None]),
    )


def organization_roles() -> st.SearchStrategy[tuple[OrganizationRole, ...]]:
    return st.lists(st.sampled_from(ORGANIZATION_ROLES), max_size=3).map(tuple)


def site_roles() -> st.SearchStrategy[frozenset[SiteRole]]:
    return st.frozensets(st.sampled_from(SITE_ROLES), max_size=2)

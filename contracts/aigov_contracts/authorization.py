"""SPEC §6 as a matrix: every operation, every role of the table and a user with no role, on any
store (one fixture: ``store``). The expected answers are written out from the SPEC's table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest

from aigov import (
    Actor,
    AigovError,
    ForbiddenError,
    Governance,
    NotFoundError,
)
from aigov_contracts.directory import DirectoryFixtures

__all__ = ["AuthorizationContract"]

SYSTEM = Actor.system()
OK, HIDDEN, FORBIDDEN = "allowed", "NotFoundError", "ForbiddenError"

ROLES = [
    "system",
    "owner",
    "user-admin",
    "auditor",
    "site member",
    "organization-admin",
    "organization-user-admin",
    "organization-auditor",
    "organization-member",
    "group member",
    "no role",
]

# Outcomes per role, in the order of ROLES. The group G belongs to the actors' organization; the
# target user U is a member of G (and of its organization) with an override attributed to G.
_READ_G = [OK, OK, OK, OK, HIDDEN, OK, OK, OK, HIDDEN, OK, HIDDEN]
_UPDATE_G = [OK, OK, OK, FORBIDDEN, HIDDEN, OK, OK, FORBIDDEN, HIDDEN, FORBIDDEN, HIDDEN]
_READ_U = [OK, OK, OK, OK, HIDDEN, OK, OK, OK, HIDDEN, HIDDEN, HIDDEN]
_UPDATE_U_AND_G = [
    OK, OK, OK, FORBIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, HIDDEN, HIDDEN, HIDDEN,
]  # fmt: skip
_OWNER_ONLY = [OK, OK, *[FORBIDDEN] * 9]
_SYSTEM_ONLY = [OK, *[FORBIDDEN] * 10]

EXPECTED: dict[str, list[str]] = {
    "get_group_budget": _READ_G,
    "upsert_group_budget": _UPDATE_G,
    "delete_group_budget": _UPDATE_G,
    "get_user_budget_override": _READ_U,
    "upsert_user_budget_override": _UPDATE_U_AND_G,
    "delete_user_budget_override": _UPDATE_U_AND_G,
    "apply_price_book": _OWNER_ONLY,
    "set_custom_price": _OWNER_ONLY,
    "delete_custom_price": _OWNER_ONLY,
    "create_user": _SYSTEM_ONLY,
    "add_group_member": _SYSTEM_ONLY,
}

PRICES = {"input_price": 1, "output_price": 1, "cache_read_price": None, "cache_write_price": 0}
SEED = [{"provider": "p", "model": "n", **PRICES}]


@dataclass(frozen=True)
class World:
    org: UUID
    group: UUID
    target: UUID
    actors: dict[str, Actor]


def _operation(name: str, world: World) -> Callable[[Governance, Actor], Any]:
    g, u = world.group, world.target
    operations: dict[str, Callable[[Governance, Actor], Any]] = {
        "get_group_budget": lambda gov, a: gov.get_group_budget(a, g),
        "upsert_group_budget": lambda gov, a: gov.upsert_group_budget(a, g, 99),
        "delete_group_budget": lambda gov, a: gov.delete_group_budget(a, g),
        "get_user_budget_override": lambda gov, a: gov.get_user_budget_override(a, u),
        "upsert_user_budget_override": (
            lambda gov, a: gov.upsert_user_budget_override(a, u, g, 99)
        ),
        "delete_user_budget_override": lambda gov, a: gov.delete_user_budget_override(a, u),
        "apply_price_book": lambda gov, a: gov.apply_price_book(SEED, actor=a),
        "set_custom_price": lambda gov, a: gov.set_custom_price(a, "p", "m", **PRICES),
        "delete_custom_price": lambda gov, a: gov.delete_custom_price(a, "p", "m"),
        "create_user": lambda gov, a: gov.create_user(a, uuid4(), "new"),
        "add_group_member": lambda gov, a: gov.add_group_member(a, u, g),
    }
    return operations[name]


class AuthorizationContract(DirectoryFixtures):
    """Allowed exactly where SPEC §6.1 says; NotFoundError for what may not be read,
    ForbiddenError for what may be read but not changed; the same on every store."""

    @pytest.fixture
    def world(self, gov: Governance, org: UUID, group: UUID) -> World:
        target = uuid4()
        gov.create_user(SYSTEM, target, "target")
        gov.add_organization_member(SYSTEM, target, org)
        gov.add_group_member(SYSTEM, target, group)
        gov.upsert_group_budget(SYSTEM, group, 10)
        gov.upsert_user_budget_override(SYSTEM, target, group, 10)
        gov.set_custom_price(SYSTEM, "p", "m", **PRICES)
        actors = {"system": SYSTEM}
        for role in ROLES[1:]:
            user = uuid4()
            gov.create_user(SYSTEM, user, role)
            if role in ("owner", "user-admin", "auditor"):
                actors[role] = Actor.user(user, site_roles=(role,))  # type: ignore[arg-type]
            elif role == "site member":
                actors[role] = Actor.user(user, site_roles=("member",))
            else:
                if role.startswith("organization-") or role == "group member":
                    roles = [role] if role.startswith("organization-") else []
                    gov.add_organization_member(SYSTEM, user, org, roles=roles)  # type: ignore[arg-type]
                if role == "group member":
                    gov.add_group_member(SYSTEM, user, group)
                actors[role] = Actor.user(user)
        return World(org=org, group=group, target=target, actors=actors)

    @pytest.mark.parametrize("operation", list(EXPECTED))
    @pytest.mark.parametrize("role", ROLES)
    def test_the_permission_table(
        self, gov: Governance, world: World, operation: str, role: str
    ) -> None:
        expected = EXPECTED[operation][ROLES.index(role)]
        try:
            _operation(operation, world)(gov, world.actors[role])
        except (NotFoundError, ForbiddenError) as exc:
            outcome = type(exc).__name__
        except AigovError as exc:  # a domain answer (a conflict): authorization let it through
            outcome = f"{OK} ({type(exc).__name__})"
        else:
            outcome = OK
        assert outcome.split(" ")[0] == expected, f"{role} {operation}: {outcome}"

    def test_deleting_an_override_in_an_unreadable_group_is_not_found(
        self, gov: Governance, org: UUID, member: UUID
    ) -> None:
        """SPEC §6.2: any unreadable resource makes the answer NotFoundError, also when the group
        is learned from the override being deleted."""
        other, other_group = uuid4(), uuid4()
        gov.create_organization(SYSTEM, other, "Other")
        gov.create_group(SYSTEM, other_group, other, "ops")
        gov.add_organization_member(SYSTEM, member, other)
        gov.add_group_member(SYSTEM, member, other_group)
        gov.upsert_user_budget_override(SYSTEM, member, other_group, 1)
        auditor = uuid4()
        gov.create_user(SYSTEM, auditor, "auditor of org only")
        gov.add_organization_member(SYSTEM, auditor, org, roles=["organization-auditor"])
        with pytest.raises(NotFoundError):
            gov.delete_user_budget_override(Actor.user(auditor), member)
        gov.upsert_user_budget_override(SYSTEM, member, org, 1)
        with pytest.raises(ForbiddenError):  # readable once it is in the auditor's organization
            gov.delete_user_budget_override(Actor.user(auditor), member)

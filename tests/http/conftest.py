"""The HTTP API on both stores, driven with ``httpx2.AsyncClient`` over the ASGI transport.

A small world is written through the sync facade on the same store the app's
``AsyncGovernance`` serves: an organization with a team; its admin, an org auditor, a team member
and a plain member; a site owner and auditor; a user of another organization. The ``actor``
dependency reads the ``X-Actor`` header (a name of ``World.actors``); without one it raises
``NotAuthenticatedError``, as a host's authentication would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID, uuid4

import httpx2
import pytest
from fastapi import Header

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance, Governance, Store, StoreSnapshot
from aigov_http import NotAuthenticatedError, create_app
from aigov_memory import MemoryStore
from aigov_postgres.testing import TestDatabases

SYSTEM = Actor.system()
PRICES = [
    {
        "provider": "acme-ai",
        "model": "echo-1",
        "input_price": 1_000_000,
        "output_price": 2_000_000,
        "cache_read_price": None,
        "cache_write_price": None,
    }
]


@dataclass
class World:
    organization: UUID = field(default_factory=uuid4)
    other_organization: UUID = field(default_factory=uuid4)
    team: UUID = field(default_factory=uuid4)
    users: dict[str, UUID] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)

    def build(self, gov: Governance) -> None:
        gov.create_organization(SYSTEM, self.organization, "Acme", is_default=True)
        gov.create_organization(SYSTEM, self.other_organization, "Other")
        gov.create_group(SYSTEM, self.team, self.organization, "team")
        roles: dict[str, tuple[str, ...]] = {
            "org-admin": ("organization-admin",),
            "org-auditor": ("organization-auditor",),
            "teammate": (),
            "member": (),
        }
        for name, organization_roles in roles.items():
            self._user(gov, name)
            gov.add_organization_member(SYSTEM, self.users[name], self.organization)
            if organization_roles:
                gov.set_organization_member_roles(
                    SYSTEM, self.users[name], self.organization, organization_roles
                )
        gov.add_group_member(SYSTEM, self.users["teammate"], self.team)
        self._user(gov, "stranger")
        gov.add_organization_member(SYSTEM, self.users["stranger"], self.other_organization)
        for name, site_roles in (("owner", ("owner",)), ("auditor", ("auditor",))):
            self._user(gov, name)
            self.actors[name] = Actor.user(self.users[name], site_roles=site_roles)
        self.actors["system"] = SYSTEM
        gov.apply_price_book(PRICES)
        gov.upsert_group_budget(SYSTEM, self.organization, 10**9)  # the settings are stored now
        gov.delete_group_budget(SYSTEM, self.organization)

    def _user(self, gov: Governance, name: str) -> None:
        self.users[name] = uuid4()
        gov.create_user(SYSTEM, self.users[name], name)
        self.actors[name] = Actor.user(self.users[name])


@dataclass
class Api:
    client: httpx2.AsyncClient
    store: Store
    sync: Governance
    world: World
    gov: AsyncGovernance

    async def call(
        self, method: str, path: str, *, as_: str | None = "system", **kwargs: Any
    ) -> httpx2.Response:
        headers = {} if as_ is None else {"X-Actor": as_}
        return await self.client.request(method, path, headers=headers, **kwargs)

    def snapshot(self) -> StoreSnapshot:
        return self.store.snapshot()


def actor_of(world: World) -> Any:
    def actor(x_actor: Annotated[str | None, Header()] = None) -> Actor:
        if x_actor is None or x_actor not in world.actors:
            raise NotAuthenticatedError("no X-Actor header naming a known actor")
        return world.actors[x_actor]

    return actor


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.aigov_postgres)])
def http_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    databases: TestDatabases = request.getfixturevalue("postgres_databases")
    yield databases.store()  # closed (and its database dropped) by the api fixture's aclose


@pytest.fixture
async def api(http_store: Store) -> AsyncIterator[Api]:
    world = World()
    sync = Governance(http_store, entitlements={AI_GOVERNANCE})
    world.build(sync)
    gov = AsyncGovernance(http_store, entitlements={AI_GOVERNANCE})
    app = create_app(gov, actor=actor_of(world))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://aigov") as client:
        yield Api(client, http_store, sync, world, gov)
    await gov.aclose()

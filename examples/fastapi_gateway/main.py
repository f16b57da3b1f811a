"""The gateway as a server process runs it: ``uvicorn --factory fastapi_gateway:from_environment``.

One store and one ``AsyncGovernance`` per process, built before the first request; the schema is
migrated and the price book refreshed at startup (neither blocks the event loop), and the store's
connections are closed at shutdown (``await gov.aclose()``, on the loop that used them).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from fastapi import FastAPI

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance, Store
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from fastapi_gateway.app import create_app
from fastapi_gateway.llm import EchoLLM

__all__ = ["DEMO_USER_ID", "from_environment"]

DEMO_USER_ID = UUID("00000000-0000-4000-8000-000000000001")
"""The one user of the in-memory demo, with a budget of $1 a month."""


def from_environment() -> FastAPI:
    """The gateway on PostgreSQL at ``AIGOV_DATABASE_URL``, or, without it, on a ``MemoryStore``
    holding a demo directory (one organization, ``DEMO_USER_ID``). The LLM is ``EchoLLM``: put
    a provider's client in its place."""
    url = os.environ.get("AIGOV_DATABASE_URL")
    store: Store = MemoryStore() if url is None else PostgresStore.from_url(url)
    gov = AsyncGovernance(store, entitlements={AI_GOVERNANCE})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Safe in every worker at once: migrations serialize on an advisory lock, and a price
        # book that did not change writes nothing (not even an audit entry).
        try:
            if isinstance(store, PostgresStore):
                await asyncio.to_thread(store.migrate)  # sync only, and seldom: off the loop
            else:
                await _demo_directory(gov)
            await gov.apply_price_book()  # the embedded seed, or the JSON of a fresher one
            yield
        finally:
            await gov.aclose()  # on the loop that served: its connections, then the store's

    return create_app(gov, EchoLLM(), lifespan=lifespan)


async def _demo_directory(gov: AsyncGovernance) -> None:
    """What the host's identity sync writes on a real deployment."""
    system, organization = Actor.system(), UUID("00000000-0000-4000-8000-00000000000a")
    await gov.create_organization(system, organization, "Demo", is_default=True)
    await gov.create_user(system, DEMO_USER_ID, "demo")
    await gov.add_organization_member(system, DEMO_USER_ID, organization)
    await gov.upsert_group_budget(system, organization, 1_000_000)

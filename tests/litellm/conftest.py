"""AigovCallback with the real litellm, on both stores, driven by LiteLLM's mock responses.

LiteLLM fetches its price map from the internet at import unless told not to; aigov prices with
its own book and never needs LiteLLM's, so the tests run without a network. LiteLLM reports
successes from a background worker: tests wait for the store to show every call settled or
released (``World.settled``), with a time-out that fails the test.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import anyio
import litellm
import pytest
from litellm.types.utils import ModelResponse, Usage

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance, Governance, Store
from aigov.spend import SpendStatus
from aigov_litellm import AigovCallback
from aigov_memory import MemoryStore
from aigov_postgres.testing import TestDatabases

SYSTEM = Actor.system()
MODEL = "anthropic/claude-haiku-4-5"  # $1 in, $5 out per 1M tokens: 1 and 5 micros per token
INPUT_MICROS, OUTPUT_MICROS = 1, 5
MESSAGES = [{"role": "user", "content": "Summarize the plot of Hamlet in one line."}]
LIMIT = 1_000_000  # $1 per member per month
# Where LiteLLM keeps callbacks: litellm.callbacks, and the lists it copies them into.
CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


def answer(prompt_tokens: int, completion_tokens: int, **cache: int) -> ModelResponse:
    """A mock response that reports this usage, as a provider's would."""
    return ModelResponse(
        choices=[{"message": {"role": "assistant", "content": "Hamlet avenges, everyone dies."}}],
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, **cache),
    )


def cost(prompt_tokens: int, completion_tokens: int) -> int:
    return prompt_tokens * INPUT_MICROS + completion_tokens * OUTPUT_MICROS


def prompt_tokens(messages: list[dict[str, str]] = MESSAGES) -> int:
    return int(litellm.token_counter(model=MODEL, messages=messages))


@dataclass
class World:
    """An organization with a budget per member, ann in it, and stranger in none."""

    store: Store
    admin: Governance
    gov: AsyncGovernance
    organization: UUID
    ann: UUID
    stranger: UUID

    def set_limit(self, micros: int) -> None:
        self.admin.upsert_group_budget(SYSTEM, self.organization, micros)

    async def status(self, user: UUID | None = None) -> SpendStatus:
        return await self.gov.spend_status(SYSTEM, user or self.ann)

    async def settled(self, callback: AigovCallback, *, timeout: float = 10.0) -> SpendStatus:
        """ann's spend once no call holds budget any more: every call LiteLLM ran has been
        settled or released. AssertionError after ``timeout`` seconds."""
        with anyio.fail_after(timeout):
            while True:
                status = await self.status()
                if callback.calls_in_flight == 0 and status.held_micros == 0:
                    return status
                await anyio.sleep(0.01)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.aigov_postgres)])
def litellm_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    databases: TestDatabases = request.getfixturevalue("postgres_databases")
    yield databases.store()  # closed by the world fixture's aclose


@pytest.fixture
async def world(litellm_store: Store) -> AsyncIterator[World]:
    admin = Governance(litellm_store, entitlements={AI_GOVERNANCE})
    admin.apply_price_book()
    organization, ann, stranger = uuid4(), uuid4(), uuid4()
    admin.create_organization(SYSTEM, organization, "Acme", is_default=True)
    admin.create_user(SYSTEM, ann, "ann")
    admin.add_organization_member(SYSTEM, ann, organization)
    admin.create_user(SYSTEM, stranger, "stranger")
    gov = AsyncGovernance(litellm_store, entitlements={AI_GOVERNANCE})
    yield World(litellm_store, admin, gov, organization, ann, stranger)
    await gov.aclose()


@pytest.fixture
def litellm_callbacks() -> Iterator[None]:
    """LiteLLM's callback lists as they were before the test, restored after it."""
    saved = {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS}
    yield
    for name, value in saved.items():
        setattr(litellm, name, value)


@pytest.fixture
def callback(world: World, litellm_callbacks: None) -> AigovCallback:
    registered = AigovCallback(world.gov)
    litellm.callbacks = [registered]
    return registered

"""The example gateway through HTTP, on both stores: within budget it serves and records, over
budget it is 402 and records nothing, a failed or cancelled LLM call frees its hold, concurrent
requests never hold more than the limit, bad input is a 4xx, never a 500, and a gateway that shut
down leaves no connection open.

The app gets an ``AsyncGovernance``; the directory is written through a ``Governance`` on the same
store, as a host's sync identity sync would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import anyio
import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from starlette.types import Lifespan

from aigov import (
    AI_GOVERNANCE,
    Actor,
    AigovError,
    AmountOutOfRangeError,
    AsyncGovernance,
    BudgetExceededError,
    ConflictError,
    FeatureDisabledError,
    ForbiddenError,
    Governance,
    InvalidInputError,
    MembershipInvariantError,
    NotFoundError,
    StorageError,
    Store,
    TransientError,
    UnknownPriceError,
)
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from fastapi_gateway import (
    DEMO_USER_ID,
    LLM,
    Completion,
    EchoLLM,
    LLMError,
    create_app,
    error_response,
    from_environment,
)

PROVIDER, MODEL, FREE = "acme-ai", "echo-1", "free-1"
# 1 micro per input token, 2 per output token: a prompt of w words with max_tokens t holds w + 2t.
PRICE_BOOK = [
    {
        "provider": PROVIDER,
        "model": MODEL,
        "input_price": 1_000_000,
        "output_price": 2_000_000,
        "cache_read_price": None,
        "cache_write_price": None,
    },
    {
        "provider": PROVIDER,
        "model": FREE,
        "input_price": 0,
        "output_price": 0,
        "cache_read_price": 0,
        "cache_write_price": 0,
    },
]
LIMIT = 1_000


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.aigov_postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    # Not the postgres_store fixture: closing that one drops its database, and the gateway's
    # shutdown closes the store (the next call reopens it); postgres_url drops it at the end.
    store = PostgresStore.from_url(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


def _backends_left(store: PostgresStore) -> int:
    """Backends of the store's database other than the one asking, once those of connections
    just closed have had a moment to exit."""
    deadline = time.monotonic() + 5
    while True:
        with store.engine.connect() as connection:
            count = int(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).scalar_one()
            )
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


def _closing(gov: AsyncGovernance) -> Lifespan[FastAPI]:
    """A lifespan that closes ``gov`` at shutdown, on the loop that served the requests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await gov.aclose()

    return lifespan


@contextmanager
def serving(
    store: Store, llm: LLM, *, entitlements: frozenset[str] = frozenset({AI_GOVERNANCE}), **options
) -> Iterator[TestClient]:
    """The gateway over an ``AsyncGovernance`` on ``store``, in a TestClient. Its event loop
    (the TestClient's portal thread) ends with the block; the lifespan closes the governance
    first, and on PostgreSQL the database then sees no connection of the store."""
    gov = AsyncGovernance(store, entitlements=entitlements, **options)
    with TestClient(create_app(gov, llm, lifespan=_closing(gov))) as client:
        yield client
    if isinstance(store, PostgresStore):
        assert _backends_left(store) == 0


class RecordingLLM(EchoLLM):
    """EchoLLM that counts its calls, and fails them with ``error`` when one is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: BaseException | None = None

    async def complete(self, provider: str, model: str, prompt: str, max_tokens: int) -> Completion:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return await super().complete(provider, model, prompt, max_tokens)


@dataclass
class Gateway:
    store: Store
    gov: Governance
    client: TestClient
    llm: RecordingLLM
    user: UUID
    organization: UUID = field(default_factory=uuid4)

    def chat(self, prompt: str = "one two three", max_tokens: int = 10, **body: object):
        return self.client.post(
            "/v1/chat",
            headers={"X-User-Id": str(self.user)},
            json={"provider": PROVIDER, "model": MODEL, "prompt": prompt, "max_tokens": max_tokens}
            | body,
        )

    def budget(self) -> dict[str, object]:
        response = self.client.get("/v1/budget", headers={"X-User-Id": str(self.user)})
        assert response.status_code == 200, response.text
        return response.json()

    def reservation_states(self) -> list[str]:
        return [r.state for r in self.store.snapshot().reservations]

    def usage_costs(self) -> list[int]:
        return [r.cost_micros for r in self.store.snapshot().usage if r.user_id == self.user]


def _directory(gov: Governance, organization: UUID, user: UUID, limit: int) -> None:
    system = Actor.system()
    gov.create_organization(system, organization, "Acme")
    gov.create_user(system, user, "ann")
    gov.add_organization_member(system, user, organization)
    gov.upsert_group_budget(system, organization, limit)
    gov.apply_price_book(PRICE_BOOK)


@pytest.fixture
def gateway(store: Store) -> Iterator[Gateway]:
    gov = Governance(store, entitlements={AI_GOVERNANCE})  # the directory's writer
    llm = RecordingLLM()
    user, organization = uuid4(), uuid4()
    _directory(gov, organization, user, LIMIT)
    with serving(store, llm) as client:
        yield Gateway(store, gov, client, llm, user, organization)


def test_a_request_within_budget_is_served_and_its_spend_recorded(gateway: Gateway):
    response = gateway.chat("one two three", max_tokens=10)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "text": "one two three",
        "input_tokens": 3,
        "output_tokens": 3,
        "cost_micros": 3 + 2 * 3,
    }
    status = gateway.budget()
    assert (status["spent_micros"], status["held_micros"], status["remaining_micros"]) == (
        9,
        0,
        LIMIT - 9,
    )
    assert (status["spend_limit_micros"], status["group_id"]) == (LIMIT, str(gateway.organization))
    assert gateway.usage_costs() == [9]
    assert gateway.reservation_states() == ["settled"]


def test_a_request_over_budget_is_402_with_the_numbers_and_records_nothing(gateway: Gateway):
    assert gateway.chat("one two three", max_tokens=10).status_code == 200  # spends 9

    response = gateway.chat("one two three", max_tokens=500)  # holds 3 + 1000

    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "budget_exceeded"
    assert {key: body[key] for key in body if key.endswith("_micros")} == {
        "limit_micros": LIMIT,
        "spent_micros": 9,
        "held_micros": 0,
        "requested_micros": 1_003,
        "remaining_micros": LIMIT - 9,
    }
    assert body["group_id"] == str(gateway.organization)
    assert gateway.llm.calls == 1  # the refused request never reached the LLM
    assert gateway.usage_costs() == [9]
    assert gateway.reservation_states() == ["settled"]
    assert gateway.budget()["held_micros"] == 0


def test_an_llm_failure_is_502_and_releases_the_hold(gateway: Gateway):
    gateway.llm.error = LLMError("the provider timed out")

    response = gateway.chat()

    assert response.status_code == 502
    assert response.json() == {"error": "upstream_failed", "detail": "the provider timed out"}
    assert gateway.reservation_states() == ["released"]
    assert gateway.usage_costs() == []
    status = gateway.budget()
    assert (status["spent_micros"], status["held_micros"]) == (0, 0)


def test_an_unexpected_llm_error_releases_the_hold_too(gateway: Gateway):
    gateway.llm.error = RuntimeError("a bug in the client")

    with pytest.raises(RuntimeError, match="a bug in the client"):
        gateway.chat()

    assert gateway.reservation_states() == ["released"]
    assert gateway.budget()["held_micros"] == 0


class GatedLLM(EchoLLM):
    """Holds every call until the test opens the gate, so that all requests are in flight (and
    their holds taken) at once. The gate is a ``threading.Event``, so that the test's thread can
    open it; a call polls it without blocking the app's event loop, which serves the others."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = 0  # written by the app's event loop only

    async def complete(self, provider: str, model: str, prompt: str, max_tokens: int) -> Completion:
        self.entered += 1
        deadline = time.monotonic() + 30
        while not self.gate.is_set():
            if time.monotonic() > deadline:
                raise LLMError("the test never opened the gate")
            await asyncio.sleep(0.01)
        return await super().complete(provider, model, prompt, max_tokens)


@pytest.mark.parametrize("cancel", ["task", "cancel scope"])
def test_a_request_cancelled_during_the_llm_call_releases_its_hold(store: Store, cancel: str):
    """Cancelled by ``Task.cancel()`` (asyncio's, delivered once) or by its cancel scope (anyio's,
    as a Starlette middleware cancels when the client goes away, which would cancel every later
    await of the request too), the request frees its hold before it ends."""
    user, organization = uuid4(), uuid4()
    _directory(Governance(store, entitlements={AI_GOVERNANCE}), organization, user, LIMIT)
    llm = GatedLLM()  # never opened: the call is in flight until it is cancelled
    body = {"provider": PROVIDER, "model": MODEL, "prompt": "hi there", "max_tokens": 49}

    async def entered() -> None:
        with anyio.fail_after(30):
            while llm.entered == 0:
                await asyncio.sleep(0.01)

    async def held_then_after() -> tuple[int, int]:
        async with AsyncGovernance(store, entitlements={AI_GOVERNANCE}) as gov:
            transport = httpx2.ASGITransport(app=create_app(gov, llm))  # in the caller's task
            async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as client:

                async def chat() -> None:
                    await client.post("/v1/chat", headers={"X-User-Id": str(user)}, json=body)

                if cancel == "task":
                    request = asyncio.create_task(chat())
                    await entered()
                    held = (await gov.spend_status(Actor.system(), user)).held_micros
                    request.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await request
                else:
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(chat)
                        await entered()
                        held = (await gov.spend_status(Actor.system(), user)).held_micros
                        tasks.cancel_scope.cancel()
            return held, (await gov.spend_status(Actor.system(), user)).held_micros

    held, after = asyncio.run(held_then_after())

    assert held == 2 + 2 * 49
    assert after == 0
    snapshot = store.snapshot()
    assert [r.state for r in snapshot.reservations] == ["released"]
    assert snapshot.usage == ()
    if isinstance(store, PostgresStore):
        assert _backends_left(store) == 0


def test_concurrent_requests_never_hold_more_than_the_limit(store: Store):
    gov = Governance(store, entitlements={AI_GOVERNANCE})
    user, organization = uuid4(), uuid4()
    _directory(gov, organization, user, LIMIT)
    llm = GatedLLM()
    requests = 16
    body = {"provider": PROVIDER, "model": MODEL, "prompt": "hi there", "max_tokens": 49}
    hold = 2 + 2 * 49  # each request's worst case: 10 of them fit the limit of 1000

    with serving(store, llm) as client, ThreadPoolExecutor(requests) as pool:
        futures = [
            pool.submit(client.post, "/v1/chat", headers={"X-User-Id": str(user)}, json=body)
            for _ in range(requests)
        ]
        deadline = time.monotonic() + 30
        # Every request has decided: refused (answered) or granted (waiting in the LLM).
        while sum(future.done() for future in futures) + llm.entered < requests:
            assert time.monotonic() < deadline, "the requests did not all get an answer"
            time.sleep(0.01)
        in_flight = gov.spend_status(Actor.system(), user)
        llm.gate.set()
        statuses = Counter(future.result().status_code for future in futures)

    assert in_flight.held_micros == (LIMIT // hold) * hold <= LIMIT
    assert statuses == {200: LIMIT // hold, 402: requests - LIMIT // hold}
    status = gov.spend_status(Actor.system(), user)
    usage = sum(r.cost_micros for r in store.snapshot().usage)
    assert status.spent_micros == usage == (LIMIT // hold) * (2 + 2 * 2)
    assert status.held_micros == 0


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({}, {}, id="no user id"),
        pytest.param({"X-User-Id": "ann"}, {}, id="user id not a UUID"),
        pytest.param(None, {"max_tokens": 0}, id="max_tokens 0"),
        pytest.param(None, {"max_tokens": -1}, id="max_tokens negative"),
        pytest.param(None, {"max_tokens": "10"}, id="max_tokens a string"),
        pytest.param(None, {"max_tokens": 10.5}, id="max_tokens a float"),
        pytest.param(None, {"max_tokens": 10**7}, id="max_tokens too many"),
        pytest.param(None, {"prompt": ""}, id="empty prompt"),
        pytest.param(None, {"model": ""}, id="empty model"),
        pytest.param(None, {"provider": "p" * 256}, id="provider too long"),
        pytest.param(None, {"temperature": 0.2}, id="unknown field"),
        pytest.param(None, {"prompt": None}, id="prompt null"),
    ],
)
def test_bad_input_is_422_and_records_nothing(
    gateway: Gateway, headers: dict[str, str] | None, body: dict[str, object]
):
    request = {"provider": PROVIDER, "model": MODEL, "prompt": "hi", "max_tokens": 5} | body
    response = gateway.client.post(
        "/v1/chat",
        headers={"X-User-Id": str(gateway.user)} if headers is None else headers,
        json=request,
    )

    assert response.status_code == 422, response.text
    assert gateway.llm.calls == 0
    assert gateway.reservation_states() == []


def test_a_body_that_is_not_json_is_422(gateway: Gateway):
    response = gateway.client.post(
        "/v1/chat",
        headers={"X-User-Id": str(gateway.user), "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 422


def test_a_model_without_a_price_is_400_unknown_price(gateway: Gateway):
    response = gateway.chat(model="no-such-model")

    assert response.status_code == 400
    assert response.json() | {"detail": ""} == {
        "error": "unknown_price",
        "detail": "",
        "provider": PROVIDER,
        "model": "no-such-model",
    }
    assert gateway.llm.calls == 0
    assert gateway.reservation_states() == []


def test_a_free_model_is_served_without_a_hold_and_its_usage_recorded(gateway: Gateway):
    response = gateway.chat("one two", max_tokens=5, model=FREE)

    assert response.status_code == 200, response.text
    assert response.json()["cost_micros"] == 0
    assert gateway.reservation_states() == []
    (record,) = [r for r in gateway.store.snapshot().usage if r.user_id == gateway.user]
    assert (record.model, record.output_tokens, record.reservation_id) == (FREE, 2, None)


def test_an_unknown_caller_is_403(gateway: Gateway):
    stranger = {"X-User-Id": str(uuid4())}
    chat = gateway.client.post(
        "/v1/chat",
        headers=stranger,
        json={"provider": PROVIDER, "model": MODEL, "prompt": "hi", "max_tokens": 5},
    )
    budget = gateway.client.get("/v1/budget", headers=stranger)

    for response in (chat, budget):
        assert response.status_code == 403
        assert (response.json()["error"], response.json()["resource"]) == (
            "unknown_caller",
            "user",
        )
    assert gateway.llm.calls == 0


def test_a_caller_in_no_organization_may_not_spend(gateway: Gateway):
    gateway.gov.remove_organization_member(Actor.system(), gateway.user, gateway.organization)

    response = gateway.chat()

    assert response.status_code == 403
    assert response.json()["error"] == "unknown_caller"
    assert gateway.llm.calls == 0
    assert gateway.budget()["spend_limit_micros"] is None  # they may still look


def test_without_the_entitlement_every_call_is_403_feature_disabled(store: Store):
    user, organization = uuid4(), uuid4()
    _directory(Governance(store, entitlements={AI_GOVERNANCE}), organization, user, LIMIT)
    llm = RecordingLLM()
    headers = {"X-User-Id": str(user)}
    body = {"provider": PROVIDER, "model": MODEL, "prompt": "hi", "max_tokens": 5}

    with serving(store, llm, entitlements=frozenset()) as client:
        responses = [
            client.post("/v1/chat", headers=headers, json=body),
            client.get("/v1/budget", headers=headers),
        ]

    assert [(r.status_code, r.json()["error"]) for r in responses] == [
        (403, "feature_disabled"),
        (403, "feature_disabled"),
    ]
    assert llm.calls == 0


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            BudgetExceededError(
                "no",
                limit_micros=1,
                spent_micros=1,
                held_micros=0,
                requested_micros=1,
                remaining_micros=0,
                group_id=None,
            ),
            402,
            "budget_exceeded",
        ),
        (UnknownPriceError("no", provider="p", model="m"), 400, "unknown_price"),
        (AmountOutOfRangeError("no"), 400, "invalid_input"),
        (InvalidInputError("no"), 400, "invalid_input"),
        (NotFoundError("no", resource="user", key=1), 403, "unknown_caller"),
        (FeatureDisabledError("no"), 403, "feature_disabled"),
        (ForbiddenError("no", actor=None, action="a", resource="r"), 403, "forbidden"),
        (TransientError("no"), 503, "try_again"),
        (StorageError("no"), 503, "storage_unavailable"),
        (LLMError("no"), 502, "upstream_failed"),
        (ConflictError("no"), 409, "conflict"),  # from aigov_http's table, as the rest
        (MembershipInvariantError("no", constraint="c"), 400, "rule_violated"),
        (AigovError("no"), 500, "internal_error"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_error_has_its_status(error: Exception, status: int, code: str):
    response = error_response(error)

    assert response.status_code == status
    assert f'"error":"{code}"'.encode() in response.body
    # A 5xx of our own says only its code: a store's message may name hosts and tables.
    assert (b'"detail"' in response.body) == (status < 500 or code == "upstream_failed")
    assert (response.headers.get("Retry-After") == "1") == (status == 503)  # the shared table's


def test_from_environment_serves_the_demo_user_in_memory(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIGOV_DATABASE_URL", raising=False)
    headers = {"X-User-Id": str(DEMO_USER_ID)}
    body = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",  # from the embedded price book
        "prompt": "hello world",
        "max_tokens": 100,
    }

    with TestClient(from_environment()) as client:
        chat = client.post("/v1/chat", headers=headers, json=body)
        budget = client.get("/v1/budget", headers=headers).json()

    assert chat.status_code == 200, chat.text
    assert (budget["spend_limit_micros"], budget["spent_micros"]) == (
        1_000_000,
        chat.json()["cost_micros"],
    )
    assert chat.json()["cost_micros"] > 0


@pytest.mark.aigov_postgres
def test_from_environment_migrates_and_refreshes_the_price_book_on_postgres(
    monkeypatch: pytest.MonkeyPatch, postgres_url: URL
):
    monkeypatch.setenv("AIGOV_DATABASE_URL", postgres_url.render_as_string(hide_password=False))
    store = PostgresStore.from_url(postgres_url)
    try:
        with store.engine.begin() as connection:  # a database that was never migrated
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        assert store.schema_version() is None

        with TestClient(from_environment()) as client:
            budget = client.get("/v1/budget", headers={"X-User-Id": str(DEMO_USER_ID)})

        assert _backends_left(store) == 0  # the shutdown closed the gateway's connections
        assert store.schema_version() == store.latest_schema_version()
        gov = Governance(store, entitlements={AI_GOVERNANCE})
        assert gov.get_model_price("anthropic", "claude-haiku-4-5") is not None
        # The directory is the host's identity sync's to write; the demo user is memory's only.
        assert budget.status_code == 403
    finally:
        store.close()


def test_under_the_allow_policy_an_unpriced_model_is_served_and_recorded_incomplete(store: Store):
    gov = Governance(store, entitlements={AI_GOVERNANCE}, unknown_price_policy="allow")
    user, organization = uuid4(), uuid4()
    _directory(gov, organization, user, LIMIT)
    body = {"provider": PROVIDER, "model": "unpriced", "prompt": "hi there", "max_tokens": 5}

    with serving(store, EchoLLM(), unknown_price_policy="allow") as client:
        response = client.post("/v1/chat", headers={"X-User-Id": str(user)}, json=body)

    assert response.status_code == 200, response.text
    assert response.json()["cost_micros"] == 0
    snapshot = store.snapshot()
    (record,) = [r for r in snapshot.usage if r.user_id == user]
    assert snapshot.reservations == ()
    assert record.unpriced_kinds == ("input", "output")

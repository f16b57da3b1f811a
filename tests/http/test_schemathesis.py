"""Schema-driven fuzzing (schemathesis) of every route in ``/openapi.json``, on both stores: no
input gives a 5xx, every answer matches the document, and an answer of 4xx changed no stored
row. The app runs in uvicorn on one event loop in a thread, as it would be served; the calls go
over TCP. Examples per route: a bounded number in CI, more by hand (``AIGOV_FUZZ_EXAMPLES``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from aigov import AI_GOVERNANCE, AsyncGovernance, Governance, Store
from aigov_http import create_app
from aigov_http.testing import serving
from aigov_memory import MemoryStore
from tests.http.conftest import World, actor_of

EXAMPLES = int(os.environ.get("AIGOV_FUZZ_EXAMPLES", "25" if os.environ.get("CI") else "40"))


@dataclass
class Served:
    base_url: str
    store: Store


@pytest.fixture
def served(http_store: Store) -> Iterator[Served]:
    """The app over ``http_store`` in uvicorn until the test ends (its shutdown closes the
    store, on the server's loop)."""
    world = World()
    world.build(Governance(http_store, entitlements={AI_GOVERNANCE}))
    gov = AsyncGovernance(http_store, entitlements={AI_GOVERNANCE})
    with serving(create_app(gov, actor=actor_of(world))) as base_url:
        yield Served(base_url, http_store)


def _document() -> dict[str, object]:
    """The OpenAPI document, as ``/openapi.json`` serves it: it depends on no store."""
    gov = AsyncGovernance(MemoryStore(), entitlements={AI_GOVERNANCE})
    return create_app(gov, actor=actor_of(World())).openapi()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_is_a_server_error_or_a_refusal_that_wrote(
    case: schemathesis.Case, served: Served
) -> None:
    before = served.store.snapshot()
    response = case.call_and_validate(
        base_url=served.base_url,
        headers={"X-Actor": "system"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    if 400 <= response.status_code < 500:
        assert served.store.snapshot() == before, f"a {response.status_code} changed stored rows"


def test_the_served_document_is_the_one_fuzzed(served: Served) -> None:
    import httpx2  # noqa: PLC0415

    assert httpx2.get(f"{served.base_url}/openapi.json").json() == _document()


def test_the_document_describes_every_answer_and_no_422() -> None:
    """Every operation documents its success and the error body; none documents the 422 that
    no route answers (validation failures are 400 here)."""
    document = _document()
    operations = [op for path in document["paths"].values() for op in path.values()]  # type: ignore[attr-defined]
    assert len(operations) == 17
    for operation in operations:
        answers = operation["responses"]
        assert "422" not in answers, operation["operationId"]
        assert {"400", "404", "503", "default"} <= set(answers), operation["operationId"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # type: ignore[index]

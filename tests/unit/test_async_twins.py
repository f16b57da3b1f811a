"""``AsyncGovernance`` is ``Governance``'s twin (SPEC §13): every public method of the sync facade
has a coroutine (or, for a stream, an async generator) of the same name and signature, so the two
can never drift apart."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from aigov import AsyncGovernance, Governance

ASYNC_ONLY = {"aclose"}
"""What only the async facade has: closing the store from the event loop."""


def _public(cls: type) -> dict[str, Any]:
    return {
        name: inspect.getattr_static(cls, name) for name in dir(cls) if not name.startswith("_")
    }


SYNC = _public(Governance)
ASYNC = _public(AsyncGovernance)
SYNC_METHODS = sorted(name for name, member in SYNC.items() if inspect.isfunction(member))


def _is_stream(method: Callable[..., Any]) -> bool:
    return str(inspect.signature(method).return_annotation).startswith(("Generator[", "Iterator["))


def test_the_enumeration_sees_the_whole_facade():
    """A guard for the guard: the sync facade's public methods are found, the hot path among
    them, so an empty enumeration cannot pass every test below."""
    assert len(SYNC_METHODS) >= 40
    assert {"reserve", "settle", "release", "spend_status", "export_organization_spend"} <= set(
        SYNC_METHODS
    )


def test_every_public_name_has_a_twin_and_nothing_else_is_added():
    assert set(ASYNC) - set(SYNC) == ASYNC_ONLY
    assert set(SYNC) - set(ASYNC) == set()


def test_properties_are_the_same_properties():
    for name, member in SYNC.items():
        if isinstance(member, property):
            assert ASYNC[name] is member, name


@pytest.mark.parametrize("name", SYNC_METHODS)
def test_each_twin_waits_by_awaiting_with_the_same_signature(name: str):
    sync, twin = getattr(Governance, name), getattr(AsyncGovernance, name)
    sync_signature, twin_signature = inspect.signature(sync), inspect.signature(twin)

    assert not inspect.iscoroutinefunction(sync)
    assert not inspect.isasyncgenfunction(sync)
    assert twin_signature.parameters == sync_signature.parameters
    assert twin.__doc__ == sync.__doc__
    if _is_stream(sync):
        item = str(sync_signature.return_annotation).split("[", 1)[1]
        assert inspect.isasyncgenfunction(twin), f"{name} must be an async generator"
        assert str(twin_signature.return_annotation) == f"AsyncIterator[{item}"
    else:
        assert inspect.iscoroutinefunction(twin), f"{name} must be a coroutine function"
        assert twin_signature.return_annotation == sync_signature.return_annotation


def test_closing_and_the_context_manager_are_coroutines():
    assert inspect.iscoroutinefunction(AsyncGovernance.aclose)
    assert inspect.iscoroutinefunction(AsyncGovernance.__aenter__)
    assert inspect.iscoroutinefunction(AsyncGovernance.__aexit__)

"""The conformance suite against MemoryStore, exactly as a third party would run it."""

from __future__ import annotations

import pytest

from aigov_contracts import (
    AsyncFacade,
    DirectoryConcurrencyContract,
    EnforcementConcurrencyContract,
    StoreContract,
)
from aigov_memory import MemoryStore


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        store = MemoryStore()
        yield store
        store.close()


class _SameStore:
    """Every handle of a memory store is the store itself: one process, one copy of the data."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def __call__(self) -> MemoryStore:
        return self.store


class TestMemoryStoreConcurrency(DirectoryConcurrencyContract):
    @pytest.fixture
    def store_factory(self):
        return _SameStore()


class TestMemoryStoreEnforcementConcurrency(EnforcementConcurrencyContract):
    @pytest.fixture
    def store_factory(self):
        return _SameStore()


class TestMemoryStoreThroughAsync(AsyncFacade, TestMemoryStore):
    """The contracts through AsyncGovernance: its async store calls run in the event loop."""


class TestMemoryStoreConcurrencyThroughAsync(AsyncFacade, TestMemoryStoreConcurrency):
    pass


class TestMemoryStoreEnforcementConcurrencyThroughAsync(
    AsyncFacade, TestMemoryStoreEnforcementConcurrency
):
    pass

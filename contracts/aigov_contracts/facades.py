"""The facade a contract's calls go through: ``Governance`` itself, or ``AsyncGovernance`` driven
from the test's thread, so that one set of assertions checks both twins (SPEC §13).

A contract class that mixes in ``AsyncFacade`` (before the contract) builds every facade with the
``facade`` fixture's ``EventLoopThread.governance``: an ``AsyncGovernance`` whose coroutines run
on one event loop in a background thread, each call waited for by the calling thread. Threads that
call at once make tasks that run at once on that loop, as a service's requests do.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

import pytest

from aigov import AsyncGovernance, Governance, Store

__all__ = ["AsyncFacade", "EventLoopThread", "FacadeName", "GovernanceFactory"]

T = TypeVar("T")
GovernanceFactory = Callable[..., Governance]
"""Takes what ``Governance`` takes; returns what answers as ``Governance`` does."""
FacadeName = Literal["Governance", "AsyncGovernance"]

_END = object()


class EventLoopThread:
    """An event loop running in a daemon thread for as long as the ``with`` block lasts.

    On leaving, every store a facade of it was built on is closed with ``aclose`` on the loop
    (its async connections belong to the loop), and then the loop is stopped and closed.
    """

    def __init__(self, *, debug: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(debug)
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="aigov-event-loop", daemon=True
        )
        self._stores: dict[int, Store] = {}

    def __enter__(self) -> EventLoopThread:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            for store in self._stores.values():
                self.run(store.aclose())
        finally:
            self._stores.clear()
            self.run(self.loop.shutdown_asyncgens())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop; wait for its result (or its error) here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def iterate(self, rows: AsyncIterator[T]) -> Iterator[T]:
        """``rows`` read one by one from here. The first is read at once, so that a refusal is
        raised by the call, as ``Governance``'s stream raises it."""
        first = self.run(_next(rows))
        return self._rest(rows, first)

    def _rest(self, rows: AsyncIterator[T], first: object) -> Iterator[T]:
        try:
            row = first
            while row is not _END:
                yield cast(T, row)
                row = self.run(_next(rows))
        finally:
            closing = getattr(rows, "aclose", None)
            if closing is not None:
                self.run(closing())

    def governance(self, store: Store, **options: Any) -> Governance:
        """An ``AsyncGovernance`` over ``store``, answering through blocking calls as
        ``Governance`` does: a drop-in for the contracts' ``Governance``."""
        self._stores.setdefault(id(store), store)
        return cast(Governance, _Blocking(AsyncGovernance(store, **options), self))


async def _next(rows: AsyncIterator[T]) -> T | object:
    try:
        return await anext(rows)
    except StopAsyncIteration:
        return _END


class _Blocking:
    """Each coroutine method of an ``AsyncGovernance`` as a blocking call of the same name."""

    def __init__(self, twin: AsyncGovernance, loop: EventLoopThread) -> None:
        self._twin = twin
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._twin, name)
        loop = self._loop
        if inspect.iscoroutinefunction(attribute):

            @functools.wraps(attribute)
            def call(*args: Any, **kwargs: Any) -> Any:
                return loop.run(attribute(*args, **kwargs))

            return call
        if inspect.isasyncgenfunction(attribute):

            @functools.wraps(attribute)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return loop.iterate(attribute(*args, **kwargs))

            return stream
        return attribute


class AsyncFacade:
    """Mix in before a contract class to run its tests through ``AsyncGovernance``."""

    @pytest.fixture
    def facade(self) -> Iterator[GovernanceFactory]:
        with EventLoopThread() as loop:
            yield loop.governance

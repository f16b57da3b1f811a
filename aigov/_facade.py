"""What ``Governance`` and ``AsyncGovernance`` share: their construction, and the making of a
public method out of a call written once as a plan (``aigov.plans``).

A facade method's signature and docstring are its plan's; only the way of waiting differs:
``blocking_method`` runs each step, ``awaiting_method`` awaits it, ``threaded_method`` runs the
whole call on a worker thread (work that is long by nature), ``streaming_method`` reads a
stream's rows on a worker thread a batch at a time.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

from aigov._budget_calls import BudgetCalls
from aigov._directory_calls import DirectoryCalls
from aigov._price_calls import PriceCalls
from aigov._report_calls import ReportCalls
from aigov._service import Call, ServiceStep, configured
from aigov._spend_calls import SpendCalls
from aigov.clock import Clock, IdFactory, random_ids, system_clock
from aigov.periods import Period
from aigov.plans import awaiting, blocking
from aigov.ports import Store
from aigov.resolution import BudgetPolicy
from aigov.settings import GovernanceSettings, UnknownPricePolicy

__all__ = [
    "Calls",
    "Facade",
    "awaiting_method",
    "blocking_method",
    "streaming_method",
    "threaded_method",
]

P = ParamSpec("P")
T = TypeVar("T")
_Plan = Callable[Concatenate["Calls", P], Call[T]]

STREAM_BATCH = 1000
"""Rows of a stream read per worker-thread hop by the async facade."""


class Calls(DirectoryCalls, PriceCalls, BudgetCalls, SpendCalls, ReportCalls):
    """Every call of the facades, each written once, as a plan."""


class Facade:
    """The service facade over one store.

    ``entitlements`` is required: without ``"ai_governance"`` every budget, override and spend call
    raises ``FeatureDisabledError``. Directory writes come from the host's identity sync and need
    ``Actor.system()``; directory reads are the host's own and take no actor. ``period``,
    ``budget_policy``, ``unknown_price_policy`` and ``thresholds`` are the deployment's settings
    (SPEC §8.0); ``clock`` and ``ids`` make time and new ids injectable.
    """

    def __init__(
        self,
        store: Store,
        *,
        entitlements: Iterable[str],
        period: Period = "month",
        budget_policy: BudgetPolicy = "highest",
        unknown_price_policy: UnknownPricePolicy = "deny",
        thresholds: Iterable[int] = (80, 100),
        clock: Clock = system_clock,
        ids: IdFactory = random_ids,
    ) -> None:
        granted, settings = configured(
            entitlements=entitlements,
            period=period,
            budget_policy=budget_policy,
            unknown_price_policy=unknown_price_policy,
            thresholds=thresholds,
        )
        self._calls = Calls(store, entitlements=granted, settings=settings, clock=clock, ids=ids)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, method in vars(cls).items():
            if inspect.isfunction(method) and getattr(method, "_aigov_plan", False):
                method.__qualname__ = f"{cls.__qualname__}.{name}"

    @property
    def store(self) -> Store:
        return self._calls.store

    @property
    def entitlements(self) -> frozenset[str]:
        return self._calls.entitlements

    @property
    def settings(self) -> GovernanceSettings:
        return self._calls.settings


def _answer_of(store: Store) -> Callable[[ServiceStep[Any]], Any]:
    return lambda step: step.run(store)


def _twin(method: Callable[..., Any], plan: Callable[..., Any], returns: str | None = None) -> None:
    """Give ``method`` its plan's name, docstring and signature, returning what the plan's
    result is (``returns`` overrides)."""
    signature = inspect.signature(plan)
    result = signature.return_annotation
    if returns is not None:
        result = returns
    elif isinstance(result, str) and result.startswith("Call[") and result.endswith("]"):
        result = result.removeprefix("Call[").removesuffix("]")
    method.__name__ = plan.__name__
    method.__qualname__ = plan.__qualname__
    method.__doc__ = plan.__doc__
    method.__module__ = plan.__module__
    method.__signature__ = signature.replace(return_annotation=result)  # type: ignore[attr-defined]
    method.__annotations__ = {**plan.__annotations__, "return": result}
    method._aigov_plan = True  # type: ignore[attr-defined]


def blocking_method(plan: _Plan[P, T]) -> Callable[Concatenate[Facade, P], T]:
    """The facade method that runs ``plan``, waiting on each step in the calling thread."""

    def method(self: Facade, /, *args: P.args, **kwargs: P.kwargs) -> T:
        calls = self._calls
        return blocking(plan(calls, *args, **kwargs), _answer_of(calls.store))

    _twin(method, plan)
    return method


def awaiting_method(plan: _Plan[P, T]) -> Callable[Concatenate[Facade, P], Coroutine[Any, Any, T]]:
    """The coroutine method that runs ``plan``, awaiting each step (the store's async twins)."""

    async def method(self: Facade, /, *args: P.args, **kwargs: P.kwargs) -> T:
        calls = self._calls
        store = calls.store
        return await awaiting(plan(calls, *args, **kwargs), lambda step: step.arun(store))

    _twin(method, plan)
    return method


def threaded_method(plan: _Plan[P, T]) -> Callable[Concatenate[Facade, P], Coroutine[Any, Any, T]]:
    """The coroutine method that runs ``plan`` as ``blocking_method`` does, on a worker thread:
    for work whose own computing would hold the event loop (parsing and writing a price book of
    100,000 rows). A cancelled caller stops waiting; the work runs to its end."""

    async def method(self: Facade, /, *args: P.args, **kwargs: P.kwargs) -> T:
        calls = self._calls
        run = plan(calls, *args, **kwargs)
        return await asyncio.to_thread(blocking, run, _answer_of(calls.store))

    _twin(method, plan)
    return method


def streaming_method(
    plan: _Plan[P, Generator[T]],
) -> Callable[Concatenate[Facade, P], AsyncIterator[T]]:
    """The async generator method for a plan that checks its input and rights (awaited), then
    returns a sync stream: its rows are read on a worker thread, ``STREAM_BATCH`` at a time, so
    the event loop never waits on the read. Closing the async iterator ends the read."""

    async def method(self: Facade, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        calls = self._calls
        store = calls.store
        rows = await awaiting(plan(calls, *args, **kwargs), lambda step: step.arun(store))
        try:
            while batch := await asyncio.to_thread(_batch, rows):
                for row in batch:
                    yield row
        finally:
            await asyncio.to_thread(rows.close)

    _twin(method, plan, returns="AsyncIterator[" + _stream_item(plan) + "]")
    return method


def _batch(rows: Generator[T]) -> list[T]:
    return list(itertools.islice(rows, STREAM_BATCH))


def _stream_item(plan: Callable[..., Any]) -> str:
    result = str(inspect.signature(plan).return_annotation)
    return result.removeprefix("Call[Generator[").removesuffix("]]")

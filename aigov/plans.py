"""Work written once and waited for two ways (DESIGN.md §3: sync and async are twins).

A *plan* is a generator that yields the steps it needs done (a unit of work, one store call)
and is sent each step's answer, or has its error thrown in at the ``yield``. ``blocking``
answers each step by calling it; ``awaiting`` by awaiting it. Every decision stays in the
plan, so ``Governance`` and ``AsyncGovernance`` differ only in how they wait, and so do a
store's sync and async hot paths.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, Self, TypeVar, cast

__all__ = ["Plan", "Step", "TwinStep", "awaiting", "blocking"]

C = TypeVar("C")
S = TypeVar("S")
T = TypeVar("T")

Plan = Generator[S, Any, T]
"""A plan whose steps are ``S`` and whose result is ``T``."""


class Step(Generic[T]):
    """What a plan asks for. ``answer = yield from request`` yields it and gives its answer,
    typed ``T`` (as ``await`` does for a future)."""

    __slots__ = ()

    def __iter__(self) -> Generator[Self, Any, T]:
        return cast("T", (yield self))


class TwinStep(Step[T], Generic[C, T]):
    """A step that knows how to get done with a ``C`` both ways: ``run`` it (blocking) or
    await ``arun`` (awaiting). The facades' store steps and the hot path's pool steps are such."""

    __slots__ = ()

    def run(self, context: C) -> T:
        raise NotImplementedError

    async def arun(self, context: C) -> T:
        raise NotImplementedError


def blocking(plan: Plan[S, T], answer: Callable[[S], object]) -> T:
    """Run ``plan`` to its end, answering each step with ``answer(step)`` (an error it raises
    is thrown into the plan)."""
    try:
        request = next(plan)
        while True:
            try:
                reply = answer(request)
            except BaseException as exc:  # the plan decides; what it does not catch goes on
                request = plan.throw(exc)
            else:
                request = plan.send(reply)
    except StopIteration as done:
        return cast("T", done.value)


async def awaiting(plan: Plan[S, T], answer: Callable[[S], Awaitable[object]]) -> T:
    """``blocking``'s twin: each step's answer is awaited. A cancellation is thrown into the
    plan at its step, as any error is."""
    try:
        request = next(plan)
        while True:
            try:
                reply = await answer(request)
            except BaseException as exc:
                request = plan.throw(exc)
            else:
                request = plan.send(reply)
    except StopIteration as done:
        return cast("T", done.value)

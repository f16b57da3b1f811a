"""LiteLLM's own budgets next to ``AigovCallback`` (SPEC §15): N calls of one user against one
budget, all in flight at once (and, as a control, one after another), with LiteLLM's mock
responses held for ``PROVIDER_SECONDS`` as a provider would. Counted: the calls admitted, what
they spent, and how far past the budget that is.

Every call uses what ``AigovCallback`` holds for it (its prompt's tokens and ``max_tokens`` of
output, at LiteLLM's price and aigov's, which agree for this model), so whatever the
interleaving exactly ``budget // call`` calls fit. The three paths:

- ``litellm.max_budget``: LiteLLM's process-wide budget, checked by ``acompletion`` itself
  against the cost it has added up (``litellm._current_cost``);
- ``litellm.BudgetManager``: LiteLLM's per-user budget, used as its documentation shows (check
  ``get_current_cost <= get_total_budget``, call, ``update_cost``); its persistence (a JSON file
  in the working directory, written on a thread per update) is left out;
- ``AigovCallback`` on PostgreSQL: one registration, reserve before the call, settle after.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from aigov import AI_GOVERNANCE, Actor, AsyncGovernance, Governance, TokenUsage
from aigov.cost import cost_of
from aigov_memory import MemoryStore
from aigov_postgres import PostgresStore
from benchmarks._support import Databases

__all__ = ["PATHS", "BudgetRun", "LiteLLMReport", "run"]

MODEL = "anthropic/claude-haiku-4-5"  # $1 in, $5 out per 1M tokens in both price books
MESSAGES = [{"role": "user", "content": "Write a limerick about budgets."}]
MAX_TOKENS = 1_000
BUDGET_MICROS = 50_000  # 5 cents
PROVIDER_SECONDS = 0.05
PATHS = ("litellm.max_budget", "litellm.BudgetManager", "AigovCallback, PostgreSQL")
CONCURRENCY = (10, 50, 200)
QUICK_CONCURRENCY = (10,)
SEQUENTIAL_CALLS = 20
CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


@dataclass(frozen=True)
class BudgetRun:
    """One path, ``calls`` calls with ``callers`` in flight at once (1: one after another)."""

    path: str
    callers: int
    calls: int
    fits: int
    admitted: int
    spent_micros: int
    counted_micros: int  # what the path itself counted as spent, once every call was reported
    budget_micros: int
    seconds: float

    @property
    def over_micros(self) -> int:
        return max(0, self.spent_micros - self.budget_micros)

    @property
    def spent_ratio(self) -> float:
        return self.spent_micros / self.budget_micros


@dataclass
class LiteLLMReport:
    call_micros: int = 0
    budget_micros: int = BUDGET_MICROS
    litellm_version: str = ""
    runs: list[BudgetRun] = field(default_factory=list)

    def find(self, path: str, callers: int) -> BudgetRun | None:
        return next((r for r in self.runs if (r.path, r.callers) == (path, callers)), None)


def _answer(prompt_tokens: int) -> Any:
    from litellm.types.utils import ModelResponse, Usage  # noqa: PLC0415 - see run()

    return ModelResponse(
        model="claude-haiku-4-5",
        choices=[{"message": {"role": "assistant", "content": "A budget, once spent..."}}],
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=MAX_TOKENS),
    )


@contextmanager
def _litellm_state() -> Iterator[None]:
    """LiteLLM's callbacks and budget as they were, whatever a path changed."""
    import litellm  # noqa: PLC0415 - see run()

    saved = {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS}
    budget = litellm.max_budget
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(litellm, name, value)
        litellm.max_budget = budget
        litellm._current_cost = 0.0


async def _drive(callers: int, calls: int, call: Callable[[], Any]) -> tuple[int, float]:
    """Run ``calls`` calls, ``callers`` at a time; how many were admitted, and the seconds.
    Then wait for LiteLLM's logging worker to run every success callback of these calls, so
    that what a path counts is complete and nothing is left for the next run's loop."""
    from litellm.litellm_core_utils.logging_worker import (  # noqa: PLC0415 - see run()
        GLOBAL_LOGGING_WORKER,
    )

    admitted = 0

    async def one() -> None:
        nonlocal admitted
        if await call():
            admitted += 1

    started = time.perf_counter()
    for first in range(0, calls, callers):
        await asyncio.gather(*(one() for _ in range(min(callers, calls - first))))
    seconds = time.perf_counter() - started
    async with asyncio.timeout(30):
        await GLOBAL_LOGGING_WORKER.flush()
    return admitted, seconds


async def _max_budget(callers: int, calls: int, prompt_tokens: int) -> tuple[int, float, int]:
    import litellm  # noqa: PLC0415 - see run()
    from litellm.exceptions import BudgetExceededError  # noqa: PLC0415

    litellm.max_budget = BUDGET_MICROS / 1_000_000
    litellm._current_cost = 0.0

    async def call() -> bool:
        try:
            await litellm.acompletion(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                mock_response=_answer(prompt_tokens),
                mock_delay=PROVIDER_SECONDS,
            )
        except BudgetExceededError:
            return False
        return True

    admitted, seconds = await _drive(callers, calls, call)
    return admitted, seconds, round(litellm._current_cost * 1_000_000)  # float dollars


async def _budget_manager(callers: int, calls: int, prompt_tokens: int) -> tuple[int, float, int]:
    import litellm  # noqa: PLC0415 - see run()
    from litellm.budget_manager import BudgetManager  # noqa: PLC0415

    class Unpersisted(BudgetManager):
        """LiteLLM's BudgetManager without its JSON file in the working directory."""

        def load_data(self) -> None:
            self.user_dict: dict[str, Any] = {}

        def _save_data_thread(self) -> None:
            pass

    manager = Unpersisted(project_name="aigov-benchmark")
    manager.create_budget(total_budget=BUDGET_MICROS / 1_000_000, user="ann")

    async def call() -> bool:
        # LiteLLM leaves get_current_cost without annotations.
        spent = manager.get_current_cost(user="ann")  # type: ignore[no-untyped-call]
        if spent > manager.get_total_budget("ann"):
            return False
        response = await litellm.acompletion(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            mock_response=_answer(prompt_tokens),
            mock_delay=PROVIDER_SECONDS,
        )
        manager.update_cost(completion_obj=response, user="ann")
        return True

    admitted, seconds = await _drive(callers, calls, call)
    counted = manager.get_current_cost(user="ann")  # type: ignore[no-untyped-call]
    return admitted, seconds, round(counted * 1_000_000)  # float dollars


async def _aigov(
    databases: Databases, callers: int, calls: int, prompt_tokens: int
) -> tuple[int, float, int]:
    import litellm  # noqa: PLC0415 - see run()
    from litellm.exceptions import BudgetExceededError  # noqa: PLC0415

    from aigov_litellm import AigovCallback  # noqa: PLC0415 - it imports litellm

    url = databases.create()
    store = PostgresStore.from_url(url)
    try:
        system, acme, ann = Actor.system(), uuid4(), uuid4()
        admin = Governance(store, entitlements={AI_GOVERNANCE})
        admin.apply_price_book()
        admin.create_organization(system, acme, "Acme")
        admin.create_user(system, ann, "ann")
        admin.add_organization_member(system, ann, acme)
        admin.upsert_group_budget(system, acme, BUDGET_MICROS)
        gov = AsyncGovernance(store, entitlements={AI_GOVERNANCE})
        callback = AigovCallback(gov)
        litellm.callbacks = [callback]

        async def call() -> bool:
            try:
                await litellm.acompletion(
                    model=MODEL,
                    messages=MESSAGES,
                    max_tokens=MAX_TOKENS,
                    user=str(ann),
                    mock_response=_answer(prompt_tokens),
                    mock_delay=PROVIDER_SECONDS,
                )
            except BudgetExceededError:
                return False
            return True

        try:
            admitted, seconds = await _drive(callers, calls, call)
            async with asyncio.timeout(30):  # LiteLLM settles from a background task
                while callback.calls_in_flight:
                    await asyncio.sleep(0.01)
            status = await gov.spend_status(system, ann)
            assert status.held_micros == 0
            return admitted, seconds, status.spent_micros
        finally:
            await gov.aclose()
    finally:
        store.close()
        databases.drop(url)


def run(databases: Databases, *, quick: bool, log: Callable[[str], None]) -> LiteLLMReport:
    """Every path at each concurrency, and one after another; checks that aigov admitted
    exactly what fits and spent no more than the budget."""
    # LiteLLM fetches its price map from the internet at import unless told not to; imported
    # here, so that the other parts never pay for the import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from importlib import metadata  # noqa: PLC0415

    import litellm  # noqa: PLC0415

    prompt_tokens = int(litellm.token_counter(model=MODEL, messages=MESSAGES))
    book = Governance(MemoryStore(), entitlements={AI_GOVERNANCE})
    book.apply_price_book()
    price = book.get_model_price("anthropic", "claude-haiku-4-5")
    usage = TokenUsage(input_tokens=prompt_tokens, output_tokens=MAX_TOKENS)
    call_micros = cost_of(usage, price).micros
    fits = BUDGET_MICROS // call_micros
    report = LiteLLMReport(call_micros=call_micros, litellm_version=metadata.version("litellm"))
    shapes = [(1, 10 if quick else SEQUENTIAL_CALLS)]
    shapes += [(n, n) for n in (QUICK_CONCURRENCY if quick else CONCURRENCY)]
    for callers, calls in shapes:
        for path in PATHS:
            with _litellm_state():
                if path == "litellm.max_budget":
                    measure = _max_budget(callers, calls, prompt_tokens)
                elif path == "litellm.BudgetManager":
                    measure = _budget_manager(callers, calls, prompt_tokens)
                else:
                    measure = _aigov(databases, callers, calls, prompt_tokens)
                admitted, seconds, counted = asyncio.run(measure)
            spent = admitted * call_micros  # each admitted response used one call's worth
            if path == PATHS[-1]:
                assert admitted == min(calls, fits), (path, callers, admitted, fits)
                assert counted == spent <= BUDGET_MICROS, (path, counted, spent)
            measured = BudgetRun(
                path,
                callers,
                calls,
                min(calls, fits),
                admitted,
                spent,
                counted,
                BUDGET_MICROS,
                seconds,
            )
            report.runs.append(measured)
            log(
                f"litellm: {path}, {calls} calls, {callers} at once: admitted {admitted}"
                f" (fit {measured.fits}), spent {measured.spent_ratio:.2f} times the budget"
            )
    return report

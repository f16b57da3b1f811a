"""Exactness under concurrency (SPEC §15): 40 concurrent calls of one user against a limit that
fits 10 holds admit exactly 10, through ``litellm.acompletion`` and through ``litellm.Router``,
and the ledger is the sum of what the admitted responses used; and one hold per attempt when the
Router falls back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import litellm
import pytest
from litellm.types.utils import ModelResponse

from aigov_litellm import AigovCallback
from tests.litellm.conftest import MESSAGES, MODEL, World, answer, cost, prompt_tokens

pytestmark = pytest.mark.anyio

CALLS, FITS, MAX_TOKENS = 40, 10, 50


def router() -> litellm.Router:
    deployment = {"model_name": "haiku", "litellm_params": {"model": MODEL, "api_key": "sk-x"}}
    return litellm.Router(model_list=[deployment])


async def sdk_call(**request: Any) -> Any:
    return await litellm.acompletion(model=MODEL, **request)


def through(kind: str) -> Callable[..., Awaitable[Any]]:
    if kind == "acompletion":
        return sdk_call
    routed = router()
    return lambda **request: routed.acompletion(model="haiku", **request)


@pytest.mark.parametrize("kind", ["acompletion", "Router"])
async def test_concurrent_calls_admit_exactly_the_holds_that_fit(
    world: World, callback: AigovCallback, kind: str
):
    """Each response uses what its call held, so settled calls free nothing: whatever the
    interleaving of holds and settlements, exactly 10 fit."""
    hold = cost(prompt_tokens(), MAX_TOKENS)
    world.set_limit(FITS * hold + hold - 1)
    call = through(kind)
    results = await asyncio.gather(
        *(
            call(
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                mock_response=answer(prompt_tokens(), MAX_TOKENS),
                user=str(world.ann),
            )
            for _ in range(CALLS)
        ),
        return_exceptions=True,
    )
    admitted = [result for result in results if isinstance(result, ModelResponse)]
    refused = [result for result in results if isinstance(result, litellm.BudgetExceededError)]
    assert (len(admitted), len(refused)) == (FITS, CALLS - FITS)
    status = await world.settled(callback)
    used = [cost(reply.usage.prompt_tokens, reply.usage.completion_tokens) for reply in admitted]
    assert status.spent_micros == sum(used) == FITS * hold
    snapshot = world.store.snapshot()
    assert len(snapshot.usage) == FITS
    assert sorted(hold.state for hold in snapshot.reservations) == ["settled"] * FITS


@pytest.mark.parametrize("kind", ["acompletion", "Router"])
async def test_the_ledger_is_what_the_admitted_responses_used(
    world: World, callback: AigovCallback, kind: str
):
    """Responses that use less than was held free the rest at settle time, so later calls may
    fit too; the ledger is still the sum of what was used, and within the limit."""
    hold = cost(prompt_tokens(), MAX_TOKENS)
    limit = FITS * hold + hold - 1
    world.set_limit(limit)
    call = through(kind)
    results = await asyncio.gather(
        *(
            call(
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                mock_response=answer(prompt_tokens(), index % 7 + 1),
                user=str(world.ann),
            )
            for index in range(CALLS)
        ),
        return_exceptions=True,
    )
    admitted = [result for result in results if isinstance(result, ModelResponse)]
    refused = [result for result in results if isinstance(result, litellm.BudgetExceededError)]
    assert len(admitted) + len(refused) == CALLS
    assert len(admitted) >= FITS
    status = await world.settled(callback)
    used = [cost(reply.usage.prompt_tokens, reply.usage.completion_tokens) for reply in admitted]
    assert status.spent_micros == sum(used) <= limit
    assert len(world.store.snapshot().usage) == len(admitted)


async def test_a_router_fallback_releases_the_failed_attempt_and_settles_the_one_that_answered(
    world: World, callback: AigovCallback
):
    """Each attempt holds for its own deployment; the failed one is released before the
    fallback holds."""
    world.set_limit(1_000_000)
    failing = {"model": "openai/gpt-4o-mini", "mock_response": "litellm.RateLimitError"}
    answering = {"model": MODEL, "mock_response": "Hamlet, in short."}
    routed = litellm.Router(
        model_list=[
            {"model_name": "primary", "litellm_params": {**failing, "api_key": "sk-x"}},
            {"model_name": "backup", "litellm_params": {**answering, "api_key": "sk-x"}},
        ],
        num_retries=0,
        fallbacks=[{"primary": ["backup"]}],
    )
    reply = await routed.acompletion(
        model="primary", messages=MESSAGES, max_tokens=MAX_TOKENS, user=str(world.ann)
    )
    status = await world.settled(callback)
    assert status.spent_micros == cost(reply.usage.prompt_tokens, reply.usage.completion_tokens)
    first, second = world.store.snapshot().reservations
    assert (first.state, second.state) == ("released", "settled")
    (record,) = world.store.snapshot().usage
    assert (record.provider, record.model, record.reservation_id) == (
        "anthropic",
        "claude-haiku-4-5",
        second.id,
    )

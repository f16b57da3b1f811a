"""AigovCallback around ``litellm.acompletion`` (SPEC §15), on both stores: a success settles what
the response used, a failure releases, a stream settles once complete, and what cannot be
governed is refused before the provider is called."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from uuid import uuid4

import anyio
import litellm
import pytest
from litellm.types.utils import CallTypes

from aigov_litellm import AigovCallback, RequestRefusedError
from tests.litellm.conftest import (
    LIMIT,
    MESSAGES,
    MODEL,
    SYSTEM,
    World,
    answer,
    cost,
    prompt_tokens,
)

pytestmark = pytest.mark.anyio


async def test_a_success_settles_the_usage_the_response_reports(
    world: World, callback: AigovCallback
):
    """Input is the prompt less its cache reads and writes; each kind at its own price."""
    world.set_limit(LIMIT)
    reported = answer(1_000, 50, cache_read_input_tokens=600, cache_creation_input_tokens=300)
    await litellm.acompletion(
        model=MODEL, messages=MESSAGES, mock_response=reported, user=str(world.ann)
    )
    status = await world.settled(callback)
    (record,) = world.store.snapshot().usage
    assert (record.provider, record.model) == ("anthropic", "claude-haiku-4-5")
    kinds = (record.input_tokens, record.output_tokens)
    assert (*kinds, record.cache_read_tokens, record.cache_write_tokens) == (100, 50, 600, 300)
    # 100 at $1, 50 at $5, 600 at $0.10 and 300 at $1.25 per 1M tokens
    assert record.cost_micros == 100 + 250 + 60 + 375 == status.spent_micros
    (reservation,) = world.store.snapshot().reservations
    assert reservation.state == "settled"
    assert record.reservation_id == reservation.id


async def test_the_hold_is_the_prompt_and_max_tokens_else_max_output_tokens(world: World):
    """What is held before the call: the prompt's tokens and the output asked for, priced."""
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov, max_output_tokens=1_000)
    base = {"model": MODEL, "messages": MESSAGES, "user": str(world.ann)}
    hook = callback.async_pre_call_deployment_hook
    await hook({**base, "litellm_call_id": "asked", "max_tokens": 200}, CallTypes.acompletion)
    await hook({**base, "litellm_call_id": "newer", "max_completion_tokens": 300}, "acompletion")
    await hook({**base, "litellm_call_id": "unsaid"}, CallTypes.acompletion)
    held = [hold.amount_micros for hold in world.store.snapshot().reservations]
    assert held == [cost(prompt_tokens(), output) for output in (200, 300, 1_000)]
    assert callback.calls_in_flight == 3
    assert (await world.status()).held_micros == sum(held)


async def test_calls_other_than_chat_completions_are_not_governed(world: World):
    world.set_limit(0)
    callback = AigovCallback(world.gov)
    request = {"model": MODEL, "input": ["text"], "litellm_call_id": "e", "user": str(world.ann)}
    await callback.async_pre_call_deployment_hook(request, CallTypes.aembedding)
    assert callback.calls_in_flight == 0
    assert world.store.snapshot().reservations == ()


async def test_a_success_reported_twice_settles_once(world: World):
    """Two reports of one success, at once and again later, and a failure after it: one usage
    record, and the reservation stays settled."""
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov)
    request = {"model": MODEL, "messages": MESSAGES, "user": str(world.ann)}
    kwargs = {**request, "litellm_call_id": "twice"}
    await callback.async_pre_call_deployment_hook(kwargs, CallTypes.acompletion)
    report = {"kwargs": kwargs, "response_obj": answer(12, 7), "start_time": 0, "end_time": 0}
    await asyncio.gather(
        callback.async_log_success_event(**report), callback.async_log_success_event(**report)
    )
    await callback.async_log_success_event(**report)
    await callback.async_log_failure_event(**report)
    snapshot = world.store.snapshot()
    assert len(snapshot.usage) == 1
    assert snapshot.usage[0].cost_micros == cost(12, 7)
    assert [hold.state for hold in snapshot.reservations] == ["settled"]
    assert callback.calls_in_flight == 0


async def test_a_failure_releases_the_hold(world: World, callback: AigovCallback):
    world.set_limit(LIMIT)
    with pytest.raises(litellm.InternalServerError):
        await litellm.acompletion(
            model=MODEL,
            messages=MESSAGES,
            mock_response="litellm.InternalServerError",
            user=str(world.ann),
        )
    status = await world.settled(callback)
    assert status.spent_micros == 0
    snapshot = world.store.snapshot()
    assert snapshot.usage == ()
    assert [hold.state for hold in snapshot.reservations] == ["released"]


async def test_a_stream_settles_once_it_is_complete(world: World, callback: AigovCallback):
    """While the stream is read the hold stands; the complete stream's usage is settled."""
    world.set_limit(LIMIT)
    stream = await litellm.acompletion(
        model=MODEL,
        messages=MESSAGES,
        mock_response=answer(7, 3),
        stream=True,
        stream_options={"include_usage": True},
        user=str(world.ann),
    )
    chunks = aiter(stream)
    await anext(chunks)
    assert (await world.status()).held_micros > 0
    assert world.store.snapshot().usage == ()
    reported = [chunk.usage async for chunk in chunks if getattr(chunk, "usage", None)]
    status = await world.settled(callback)
    (record,) = world.store.snapshot().usage
    assert (record.input_tokens, record.output_tokens) == (7, 3)
    assert (reported[-1].prompt_tokens, reported[-1].completion_tokens) == (7, 3)
    assert status.spent_micros == cost(7, 3)


async def test_over_budget_is_litellms_budget_exceeded_error(
    world: World, callback: AigovCallback, caplog: pytest.LogCaptureFixture
):
    """Its limit, spent and held are aigov's, in dollars; the message names each exactly. The
    refusal is logged once, at INFO, with ids only."""
    caplog.set_level(logging.INFO, logger="aigov.litellm")
    world.set_limit(10_000)  # one cent
    await litellm.acompletion(
        model=MODEL,
        messages=MESSAGES,
        mock_response=answer(500, 100),
        user=str(world.ann),
        max_tokens=100,
    )
    await world.settled(callback)  # spent: 500 + 500 micros
    in_flight = {"model": MODEL, "messages": MESSAGES, "user": str(world.ann), "max_tokens": 10}
    await callback.async_pre_call_deployment_hook(
        {**in_flight, "litellm_call_id": "in-flight"}, CallTypes.acompletion
    )
    held = cost(prompt_tokens(), 10)
    with pytest.raises(litellm.BudgetExceededError) as refused:
        await litellm.acompletion(
            model=MODEL, messages=MESSAGES, mock_response="never", user=str(world.ann)
        )
    requested = cost(prompt_tokens(), 4096)
    assert refused.value.max_budget == 0.01
    assert refused.value.current_cost == (1_000 + held) / 1e6
    assert str(refused.value) == (
        f"aigov: budget exceeded for user {world.ann}: limit $0.010000, spent $0.001000, "
        f"held $0.{held:06d}, requested $0.{requested:06d} "
        f"(remaining $0.{10_000 - 1_000 - held:06d})"
    )
    assert refused.value.entity_id == str(world.ann)
    (logged,) = [r for r in caplog.records if r.name == "aigov.litellm"]
    assert logged.levelno == logging.INFO
    assert logged.getMessage().endswith(f" of user {world.ann}: over budget")
    assert len(world.store.snapshot().reservations) == 2  # the refused call holds nothing
    assert callback.calls_in_flight == 1


@pytest.mark.parametrize(
    ("who", "reason", "says"),
    [
        ("stranger", "unknown_user", "belongs to no organization"),
        ("nobody", "unknown_user", "not found"),
        ("none", "no_user", "names no user"),
        ("not-a-uuid", "invalid_user", "is not an aigov user id"),
    ],
)
async def test_a_request_without_a_known_user_is_refused(
    world: World, callback: AigovCallback, who: str, reason: str, says: str
):
    """Refused before the provider is called: a 400 LiteLLM's clients already handle."""
    world.set_limit(LIMIT)
    users = {"stranger": str(world.stranger), "nobody": str(uuid4()), "none": None}
    with pytest.raises(RequestRefusedError) as refused:
        await litellm.acompletion(
            model=MODEL, messages=MESSAGES, mock_response="never", user=users.get(who, who)
        )
    assert refused.value.reason == reason
    assert says in str(refused.value)
    assert isinstance(refused.value, litellm.BadRequestError)
    assert refused.value.status_code == 400
    assert world.store.snapshot().reservations == ()


async def test_the_user_may_come_from_the_metadata_or_from_user_of(world: World):
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov, user_of=lambda request: request["headers"]["x-user"])
    default = AigovCallback(world.gov)
    base = {"model": MODEL, "messages": MESSAGES}
    await default.async_pre_call_deployment_hook(
        {**base, "litellm_call_id": "m", "metadata": {"aigov_user_id": str(world.ann)}},
        CallTypes.acompletion,
    )
    await callback.async_pre_call_deployment_hook(
        {**base, "litellm_call_id": "h", "headers": {"x-user": world.ann}}, CallTypes.acompletion
    )
    holds = world.store.snapshot().reservations
    assert [hold.user_id for hold in holds] == [world.ann, world.ann]


async def test_a_model_without_a_price_is_refused(world: World, callback: AigovCallback):
    world.set_limit(LIMIT)
    with pytest.raises(RequestRefusedError) as refused:
        await litellm.acompletion(
            model="openai/gpt-unpriced", messages=MESSAGES, mock_response="x", user=str(world.ann)
        )
    assert refused.value.reason == "unknown_price"
    assert "openai/gpt-unpriced has no known price for input, output" in str(refused.value)
    assert world.store.snapshot().reservations == ()


async def test_a_model_of_no_known_provider_is_refused(world: World, callback: AigovCallback):
    world.set_limit(LIMIT)
    with pytest.raises(RequestRefusedError) as refused:
        await litellm.acompletion(
            model="house-model", messages=MESSAGES, mock_response="x", user=str(world.ann)
        )
    assert refused.value.reason == "unmapped_model"
    assert "model_map" in str(refused.value)


async def test_model_map_prices_a_deployments_own_name(world: World, litellm_callbacks: None):
    world.set_limit(LIMIT)
    callback = AigovCallback(
        world.gov, model_map={"house-model": ("anthropic", "claude-haiku-4-5")}
    )
    litellm.callbacks = [callback]
    await litellm.acompletion(
        model="house-model",
        custom_llm_provider="openai",
        messages=MESSAGES,
        mock_response=answer(10, 2),
        user=str(world.ann),
    )
    status = await world.settled(callback)
    assert status.spent_micros == cost(10, 2)
    (record,) = world.store.snapshot().usage
    assert (record.provider, record.model) == ("anthropic", "claude-haiku-4-5")


async def test_a_free_model_is_served_and_its_usage_recorded(world: World, callback: AigovCallback):
    """A model priced 0 needs no hold (and ``reserve_for`` refuses an estimate of 0); its usage
    is recorded after the call, once, under LiteLLM's call id."""
    world.set_limit(0)  # may spend nothing: a free model still serves
    zero = {"input_price": 0, "output_price": 0, "cache_read_price": 0, "cache_write_price": 0}
    world.admin.set_custom_price(SYSTEM, "openai", "house-free", **zero)
    await litellm.acompletion(
        model="openai/house-free",
        messages=MESSAGES,
        mock_response=answer(9, 4),
        user=str(world.ann),
    )
    await world.settled(callback)
    snapshot = world.store.snapshot()
    assert snapshot.reservations == ()
    ((record),) = snapshot.usage
    assert (record.input_tokens, record.output_tokens, record.cost_micros) == (9, 4, 0)
    assert record.idempotency_key is not None
    assert record.idempotency_key.startswith("litellm:")
    with pytest.raises(RequestRefusedError, match="belongs to no organization"):
        await litellm.acompletion(
            model="openai/house-free",
            messages=MESSAGES,
            mock_response="never",
            user=str(world.stranger),
        )


async def test_a_response_from_litellms_cache_releases_the_hold(world: World):
    """No provider was called: nothing was spent."""
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov)
    kwargs = {"model": MODEL, "messages": MESSAGES, "user": str(world.ann), "litellm_call_id": "c"}
    await callback.async_pre_call_deployment_hook(kwargs, CallTypes.acompletion)
    await callback.async_log_success_event(
        {**kwargs, "cache_hit": True}, answer(10, 20), start_time=0, end_time=0
    )
    snapshot = world.store.snapshot()
    assert snapshot.usage == ()
    assert [hold.state for hold in snapshot.reservations] == ["released"]


async def test_a_cancelled_call_holds_no_longer_than_its_ttl(world: World, litellm_callbacks: None):
    """A cancelled call gets no callback from LiteLLM: its hold stops counting at its TTL, and
    its entry leaves the callback's registry at the next call after it."""
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov, ttl=timedelta(milliseconds=300))
    litellm.callbacks = [callback]
    request = {"model": MODEL, "messages": MESSAGES, "user": str(world.ann)}
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: litellm.acompletion(**request, mock_response="x", mock_delay=30))
        with anyio.fail_after(5):
            while callback.calls_in_flight == 0:
                await anyio.sleep(0.01)
        assert (await world.status()).held_micros > 0
        group.cancel_scope.cancel()
    with anyio.fail_after(5):  # the hold expires 300 ms after it was taken
        while (await world.status()).held_micros > 0:
            await anyio.sleep(0.02)
    assert callback.calls_in_flight == 1  # until the next call drops it
    await litellm.acompletion(**request, mock_response=answer(3, 1))
    status = await world.settled(callback)  # the cancelled call's entry is gone too
    assert status.spent_micros == cost(3, 1)

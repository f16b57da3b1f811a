"""The callback in LiteLLM's proxy: ``async_pre_call_hook`` called as the proxy calls it (keyword
arguments, the request's ``data`` with the ``litellm_call_id`` the proxy gave it, the chat route's
``call_type="acompletion"``), then the proxy's router call with that data, whose deployment hook
finds the hold under the same id.

``litellm[proxy]`` is not installed here (its server needs more packages than the SDK), so the
proxy's two calls are made as ``litellm.proxy.utils.ProxyLogging`` makes them.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import litellm
import pytest
from litellm.caching.dual_cache import DualCache
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from aigov_litellm import AigovCallback, RequestRefusedError
from tests.litellm.conftest import LIMIT, MESSAGES, MODEL, World, answer, cost

pytestmark = pytest.mark.anyio


def request(world: World, model: str, **fields: Any) -> dict[str, Any]:
    """A chat completion's ``data`` as the proxy holds it when it calls its pre-call hooks."""
    return {
        "model": model,
        "messages": MESSAGES,
        "user": str(world.ann),
        "litellm_call_id": str(uuid4()),
        "metadata": {"user_api_key_alias": "team-a"},
        **fields,
    }


async def pre_call(callback: AigovCallback, data: dict[str, Any]) -> None:
    answer_ = await callback.async_pre_call_hook(
        user_api_key_dict=UserAPIKeyAuth(), cache=DualCache(), data=data, call_type="acompletion"
    )
    assert answer_ is None  # the request goes on unchanged


def proxy_router(model_name: str, model: str = MODEL) -> litellm.Router:
    deployment = {"model_name": model_name, "litellm_params": {"model": model, "api_key": "sk-x"}}
    return litellm.Router(model_list=[deployment])


def test_the_proxy_calls_the_hook_because_the_class_defines_it():
    """The proxy runs ``async_pre_call_hook`` only when the callback's own class defines it."""
    assert "async_pre_call_hook" in vars(AigovCallback)
    assert AigovCallback.async_pre_call_hook is not CustomLogger.async_pre_call_hook


async def test_the_proxy_hook_holds_and_the_deployment_call_settles_that_hold(
    world: World, callback: AigovCallback
):
    """One hold per request: the deployment hook finds the proxy's under the call id."""
    world.set_limit(LIMIT)
    data = request(world, "claude-haiku-4-5", max_tokens=100)
    await pre_call(callback, data)
    (held,) = world.store.snapshot().reservations
    assert held.state == "held"
    await proxy_router("claude-haiku-4-5").acompletion(**data, mock_response=answer(40, 9))
    status = await world.settled(callback)
    assert status.spent_micros == cost(40, 9)
    (settled,) = world.store.snapshot().reservations
    assert (settled.id, settled.state) == (held.id, "settled")


async def test_a_model_group_name_is_priced_by_the_deployment_the_router_picks(
    world: World, callback: AigovCallback
):
    """``fast`` names no provider: the proxy hook takes no hold, the deployment hook does."""
    world.set_limit(LIMIT)
    data = request(world, "fast")
    await pre_call(callback, data)
    assert world.store.snapshot().reservations == ()
    await proxy_router("fast").acompletion(**data, mock_response=answer(40, 9))
    status = await world.settled(callback)
    assert status.spent_micros == cost(40, 9)
    (record,) = world.store.snapshot().usage
    assert (record.provider, record.model) == ("anthropic", "claude-haiku-4-5")


async def test_a_proxy_hold_priced_as_another_model_is_priced_anew_for_the_deployment(
    world: World, callback: AigovCallback
):
    """The group ``gpt-4o-mini`` is served by Claude here: the hold taken at the group's price
    is released, and one at the deployment's price taken, before the deployment is called."""
    world.set_limit(LIMIT)
    data = request(world, "gpt-4o-mini", max_tokens=100)
    await pre_call(callback, data)
    await proxy_router("gpt-4o-mini").acompletion(**data, mock_response=answer(40, 9))
    status = await world.settled(callback)
    assert status.spent_micros == cost(40, 9)
    first, second = world.store.snapshot().reservations
    assert (first.state, second.state) == ("released", "settled")
    (record,) = world.store.snapshot().usage
    assert (record.model, record.reservation_id) == ("claude-haiku-4-5", second.id)


async def test_model_map_may_price_a_model_group_for_the_proxy_and_its_deployments(
    world: World, litellm_callbacks: None
):
    world.set_limit(LIMIT)
    callback = AigovCallback(world.gov, model_map={"fast": ("anthropic", "claude-haiku-4-5")})
    litellm.callbacks = [callback]
    data = request(world, "fast")
    await pre_call(callback, data)
    routed = proxy_router("fast", "azure/prod-deployment")  # no price under its own name
    await routed.acompletion(**data, mock_response=answer(40, 9))
    status = await world.settled(callback)
    assert status.spent_micros == cost(40, 9)
    (held,) = world.store.snapshot().reservations
    assert held.state == "settled"


async def test_the_proxy_hook_refuses_over_budget_and_unknown_users(
    world: World, callback: AigovCallback
):
    world.set_limit(1_000)
    with pytest.raises(litellm.BudgetExceededError, match=r"limit \$0\.001000"):
        await pre_call(callback, request(world, "claude-haiku-4-5"))
    with pytest.raises(RequestRefusedError, match="names no user") as refused:
        await pre_call(callback, request(world, "fast", user=None))  # even before routing
    assert refused.value.reason == "no_user"
    assert world.store.snapshot().reservations == ()


async def test_the_proxy_failure_hook_releases_the_hold(world: World, callback: AigovCallback):
    """A request that failed after the hook held (another hook refused it, every deployment
    failed): the proxy reports it once, and the hold is released."""
    world.set_limit(LIMIT)
    data = request(world, "claude-haiku-4-5")
    await pre_call(callback, data)
    for _ in range(2):
        await callback.async_post_call_failure_hook(
            request_data=data,
            original_exception=litellm.Timeout("slow", model=MODEL, llm_provider="anthropic"),
            user_api_key_dict=UserAPIKeyAuth(),
            traceback_str=None,
        )
    status = await world.settled(callback)
    assert status.spent_micros == 0
    assert [hold.state for hold in world.store.snapshot().reservations] == ["released"]

"""``AigovCallback``: aigov's reserve, settle and release around LiteLLM's calls (SPEC §15).

LiteLLM calls a ``CustomLogger`` before each deployment call (``async_pre_call_deployment_hook``:
``litellm.acompletion``, ``Router.acompletion``, and the proxy behind its router), before the
proxy routes a request (``async_pre_call_hook``), and after the call (its success and failure
events). Before: hold the worst case of the call, or refuse it by raising, which LiteLLM passes
to its caller before any provider is called. After: settle what the response used, or release.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from litellm.integrations.custom_logger import CustomLogger
from litellm.utils import token_counter

from aigov import (
    AigovError,
    AsyncGovernance,
    BudgetExceededError,
    InvalidInputError,
    NotFoundError,
    TokenUsage,
    UnknownPriceError,
)
from aigov.cost import cost_of
from aigov_litellm._errors import RefusalReason, RequestRefusedError, budget_refusal
from aigov_litellm._holds import Hold, HoldRegistry
from aigov_litellm._models import ModelKey, check_model_map, price_book_key
from aigov_litellm._usage import token_usage_of

__all__ = ["AigovCallback", "UserOf", "default_user_of"]

_log = logging.getLogger("aigov.litellm")

UserOf = Callable[[Mapping[str, Any]], object]
"""Who pays for a request: its kwargs in, a user id (a UUID, or its text) or None out."""

# Chat completions, as the SDK and the Router name them and as the proxy does. Other calls
# (embeddings, images, audio, the Responses and Messages APIs) are not governed.
_GOVERNED: Final = frozenset({"acompletion", "completion"})


def default_user_of(request: Mapping[str, Any]) -> object:
    """The request's ``user`` field (OpenAI's end-user id), else its
    ``metadata["aigov_user_id"]``."""
    user = request.get("user")
    if user is None or user == "":
        metadata = request.get("metadata")
        if isinstance(metadata, Mapping):
            user = metadata.get("aigov_user_id")
    return user


def _governed(call_type: object) -> bool:
    return getattr(call_type, "value", call_type) in _GOVERNED


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class AigovCallback(CustomLogger):
    """Exact budgets for LiteLLM calls, through ``gov`` (an ``AsyncGovernance``).

    Register it with ``litellm.callbacks = [callback]``, or under ``callbacks:`` in the proxy's
    config. Each chat completion holds, before the provider is called, the price of its prompt's
    tokens (``litellm.token_counter``) and of ``max_tokens`` (else ``max_output_tokens``) of
    output, for ``ttl`` at most; its success settles what the response reports, its failure
    releases the hold. ``user_of(kwargs)`` says who pays (``default_user_of``); ``model_map``
    prices a deployment's own model names (``{"azure/prod-4o": ("openai", "gpt-4o")}``).
    """

    def __init__(
        self,
        gov: AsyncGovernance,
        *,
        user_of: UserOf | None = None,
        max_output_tokens: int = 4096,
        ttl: timedelta = timedelta(minutes=10),
        model_map: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(gov, AsyncGovernance):
            raise TypeError(f"gov must be an AsyncGovernance, not {type(gov).__name__}")
        if _positive(max_output_tokens) is None:
            raise ValueError(f"max_output_tokens must be a positive int, not {max_output_tokens!r}")
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise ValueError(f"ttl must be a positive timedelta, not {ttl!r}")
        self._gov = gov
        self._user_of = default_user_of if user_of is None else user_of
        self._max_output_tokens = max_output_tokens
        self._ttl = ttl
        self._model_map = check_model_map(model_map)
        self._holds = HoldRegistry(ttl)

    @property
    def gov(self) -> AsyncGovernance:
        """The facade the callback governs through: close it when the process stops."""
        return self._gov

    @property
    def calls_in_flight(self) -> int:
        """Calls aigov is not done with: admitted and not yet settled or released (until their
        TTL has passed and a later call dropped them), or being settled or released now."""
        return len(self._holds)

    # -- before the call -------------------------------------------------------------------------

    async def async_pre_call_deployment_hook(
        self, kwargs: Mapping[str, object], call_type: object
    ) -> None:
        """Hold the call's worst case before LiteLLM calls the deployment, or refuse it."""
        if _governed(call_type):
            await self._admit(kwargs, routed=True)

    async def async_pre_call_hook(
        self, user_api_key_dict: object, cache: object, data: Mapping[str, object], call_type: str
    ) -> None:
        """The proxy's hook, before it routes the request: the same hold, or refusal. A model
        group name that maps to no price-book model is left to the deployment hook, which
        prices the deployment the router picks under the same ``litellm_call_id``."""
        if _governed(call_type):
            await self._admit(data, routed=False)

    async def _admit(self, request: Mapping[str, object], *, routed: bool) -> None:
        call_id = request.get("litellm_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("aigov: the request carries no litellm_call_id to settle it by")
        name = _text(request.get("model")) or ""
        metadata = request.get("metadata")
        group = _text(metadata.get("model_group")) if isinstance(metadata, Mapping) else None
        custom = _text(request.get("custom_llm_provider"))
        key = price_book_key(name, custom, self._model_map, model_group=group)
        held = self._holds.live(call_id)
        if held is not None:
            # Held by the proxy's hook, before its router picked this deployment.
            if key is None or key == held.key:
                return
            await self._release_call(call_id)  # priced as another model: price this one
        user = self._user(request, name)
        if key is None:
            if not routed:
                return
            raise self._refused(
                "unmapped_model",
                f"aigov: LiteLLM names no provider for the model {name!r}, so it has no price: "
                "give it a provider prefix (openai/...) or an entry in model_map",
                user=user,
                model=name,
                call_id=call_id,
            )
        estimate = TokenUsage(
            input_tokens=self._prompt_tokens(name, request),
            output_tokens=self._output_tokens(request),
        )
        since = self._holds.now()
        hold = await self._reserve(user, key, estimate, model=name, call_id=call_id)
        self._holds.put(call_id, hold, since=since)

    def _user(self, request: Mapping[str, object], model: str) -> UUID:
        value = self._user_of(request)
        if isinstance(value, UUID):
            return value
        call_id = str(request.get("litellm_call_id"))
        if value is None or value == "":
            raise self._refused(
                "no_user",
                "aigov: the request names no user to charge: pass `user` (an aigov user id) "
                'or metadata={"aigov_user_id": ...}',
                user=None,
                model=model,
                call_id=call_id,
            )
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                pass
        raise self._refused(
            "invalid_user",
            f"aigov: the request's user {str(value)[:64]!r} is not an aigov user id (a UUID)",
            user=None,
            model=model,
            call_id=call_id,
        )

    @staticmethod
    def _prompt_tokens(model: str, request: Mapping[str, object]) -> int:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            return 0
        tools = request.get("tools")
        return int(
            token_counter(
                model=model, messages=messages, tools=tools if isinstance(tools, list) else None
            )
        )

    def _output_tokens(self, request: Mapping[str, object]) -> int:
        asked = _positive(request.get("max_tokens")) or _positive(
            request.get("max_completion_tokens")
        )
        return asked or self._max_output_tokens

    async def _reserve(
        self, user: UUID, key: ModelKey, estimate: TokenUsage, *, model: str, call_id: str
    ) -> Hold:

        def refused(reason: RefusalReason, message: str) -> RequestRefusedError:
            return self._refused(
                reason, message, user=user, model=model, call_id=call_id, provider=key[0]
            )

        try:
            reservation = await self._gov.reserve_for(user, *key, estimate, ttl=self._ttl)
        except BudgetExceededError as exc:
            _log.info("refused call %s of user %s: over budget", call_id, user)
            raise budget_refusal(exc, user_id=user, llm_provider=key[0]) from exc
        except UnknownPriceError as exc:
            message = f"aigov: {exc}; the call is refused before the provider is called"
            raise refused("unknown_price", message) from exc
        except NotFoundError as exc:
            message = f"aigov: {exc}; there is no budget to charge the call to"
            raise refused("unknown_user", message) from exc
        except InvalidInputError:
            # The one invalid input a mapped model can give: an estimate that costs nothing.
            if cost_of(estimate, await self._gov.get_model_price(*key)).micros != 0:
                raise
        else:
            return Hold(user, key, estimate, reservation.id)
        # A free model needs no hold, and its usage is recorded after the call; the user must
        # still be one whose spend can be attributed, as for any other model.
        try:
            budget = await self._gov.effective_budget(user)
        except NotFoundError as exc:
            message = f"aigov: {exc}; there is no budget to charge the call to"
            raise refused("unknown_user", message) from exc
        if budget.group_id is None:
            message = f"aigov: user {user} belongs to no organization: no group to charge"
            raise refused("unknown_user", message)
        return Hold(user, key, estimate, None)

    @staticmethod
    def _refused(
        reason: RefusalReason,
        message: str,
        *,
        user: UUID | None,
        model: str,
        call_id: str,
        provider: str = "",
    ) -> RequestRefusedError:
        _log.info("refused call %s of user %s: %s", call_id, user, reason)
        return RequestRefusedError(message, reason=reason, model=model, llm_provider=provider)

    # -- after the call --------------------------------------------------------------------------

    async def async_log_success_event(
        self, kwargs: Mapping[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Settle the call with what its response used (a stream's, once it is complete). A
        response from LiteLLM's cache called no provider: its hold is released."""
        call_id = kwargs.get("litellm_call_id")
        hold = self._holds.take(call_id) if isinstance(call_id, str) else None
        if hold is None:
            return
        try:
            if kwargs.get("cache_hit") is True:
                await self._release(str(call_id), hold)
            else:
                await self._settle(str(call_id), hold, response_obj)
        finally:
            self._holds.finished()

    async def _settle(self, call_id: str, hold: Hold, response: object) -> None:
        usage = token_usage_of(response)
        if usage is None:
            _log.warning("call %s reported no usage: settled at its estimate", call_id)
            usage = hold.estimate
        try:
            if hold.reservation_id is None:
                key = f"litellm:{call_id}"  # LiteLLM's id for the call: recorded once
                await self._gov.record_usage(hold.user_id, *hold.key, usage, idempotency_key=key)
            else:
                await self._gov.settle(hold.reservation_id, *hold.key, usage)
        except AigovError:
            # LiteLLM drops what a logging callback raises; say it here, with ids only.
            _log.exception(
                "could not record the usage of call %s of user %s", call_id, hold.user_id
            )

    async def async_log_failure_event(
        self, kwargs: Mapping[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Release the hold of a call that failed (the provider's error, a timeout)."""
        await self._release_call(kwargs.get("litellm_call_id"))

    async def async_post_call_failure_hook(
        self,
        request_data: Mapping[str, Any],
        original_exception: Exception,
        user_api_key_dict: object,
        traceback_str: str | None = None,
    ) -> None:
        """The proxy's hook after a request failed, a refusal by another hook included."""
        await self._release_call(request_data.get("litellm_call_id"))

    async def _release_call(self, call_id: object) -> None:
        hold = self._holds.take(call_id) if isinstance(call_id, str) else None
        if hold is None:
            return
        try:
            await self._release(str(call_id), hold)
        finally:
            self._holds.finished()

    async def _release(self, call_id: str, hold: Hold) -> None:
        if hold.reservation_id is None:
            return
        try:
            await self._gov.release(hold.reservation_id)
        except AigovError:
            _log.exception(
                "could not release the hold of call %s of user %s", call_id, hold.user_id
            )

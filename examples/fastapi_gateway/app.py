"""An AI gateway's HTTP face with aigov embedded (SPEC §8.3: reserve, then settle).

Every chat request holds its worst-case cost before the LLM is called, so that concurrent requests
of one user (from any number of workers) can never spend past the limit together; it then settles
what the call really used, or releases the hold when the call failed or the request was
cancelled. The routes are ``async def`` over an ``AsyncGovernance``: aigov and the LLM are awaited
on the event loop, with no thread per request.

How aigov's errors become HTTP answers is decided in one place, ``aigov_http.ANSWERS`` (the
table of aigov's HTTP API), with four rows of the gateway's own put before it
(``error_response``):

=======================  ======  =====================  ==========================================
error                    status  ``error``              why
=======================  ======  =====================  ==========================================
BudgetExceededError      402     budget_exceeded        see below
UnknownPriceError        400     unknown_price          the gateway cannot price, so not serve,
                                                        this model; no retry helps
NotFoundError            403     unknown_caller         an authenticated caller that the directory
                                                        does not know, or in no organization, has
                                                        no budget to spend from
LLMError                 502     upstream_failed        the provider failed; the hold was released
the rest                 as      ``aigov_http``'s code  e.g. InvalidInputError 400 invalid_input,
                         there                          FeatureDisabledError 403 feature_disabled
                                                        (the gateway fails closed), TransientError
                                                        503 try_again with ``Retry-After`` (aigov
                                                        does not retry ``reserve``: a retry would
                                                        be a second hold), StorageError 503
any other error          500     internal_error         a bug: the details stay in the server log
=======================  ======  =====================  ==========================================

Over budget is **402 Payment Required**, not 429 Too Many Requests: 429 tells clients and their
SDKs to back off and retry in seconds (OpenAI's SDK retries 429 by itself), but an exhausted budget
does not come back until the period ends or someone raises the limit; 402 says "this needs money",
which is what happened. The body says how much: ``limit_micros``, ``spent_micros``,
``held_micros`` (other requests in flight), ``requested_micros`` and ``remaining_micros``.
Malformed requests (a missing or non-UUID ``X-User-Id``, a bad body) are FastAPI's 422.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import Lifespan

from aigov import (
    Actor,
    AigovError,
    AmountOutOfRangeError,
    AsyncGovernance,
    BudgetExceededError,
    InvalidInputError,
    NotFoundError,
    Reservation,
    TokenUsage,
    UnknownPriceError,
)
from aigov.cost import cost_of
from aigov.spend import SpendStatus
from aigov_http import ANSWERS, Answer, answer_of
from fastapi_gateway.llm import LLM, LLMError

__all__ = ["ChatRequest", "ChatResponse", "create_app", "error_response"]

MAX_PROMPT_CHARS = 200_000
MAX_OUTPUT_TOKENS = 1_000_000

# A real gateway takes the caller's identity from its authentication (a verified token or an mTLS
# identity), never from a header the client chooses; the header keeps this example self-contained.
UserId = Annotated[UUID, Header(alias="X-User-Id", description="the calling user's id")]

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class ChatRequest(BaseModel):
    """One prompt for one model; ``max_tokens`` bounds the reply, and so the worst-case cost."""

    model_config = ConfigDict(extra="forbid")

    provider: Name
    model: Name
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
    max_tokens: Annotated[int, Field(strict=True, gt=0, le=MAX_OUTPUT_TOKENS)]


class ChatResponse(BaseModel):
    """The reply, the tokens billed and what they cost the caller's budget, in micros."""

    text: str
    input_tokens: int
    output_tokens: int
    cost_micros: int


def create_app(
    gov: AsyncGovernance,
    llm: LLM,
    *,
    hold_ttl: timedelta = timedelta(minutes=10),
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """The gateway over one ``AsyncGovernance`` (one per process; on PostgreSQL it owns the
    connection pools). ``hold_ttl`` must outlast the LLM call's timeout: a hold whose request
    was lost (a crash before settle) stops counting at its expiry.

    The endpoints are ``async def`` and await aigov and the LLM on the event loop: no thread
    per request. ``lifespan`` is the app's; the one that starts the process should
    ``await gov.aclose()`` at shutdown (``main.from_environment``'s does)."""
    app = FastAPI(title="aigov example gateway", lifespan=lifespan)
    app.add_exception_handler(AigovError, _handle)
    app.add_exception_handler(LLMError, _handle)

    @app.post("/v1/chat")
    async def chat(request: ChatRequest, user_id: UserId) -> ChatResponse:
        """Reserve the worst case, call the LLM, settle the actual usage (or release).

        When the LLM call fails, or the request is cancelled meanwhile (by a middleware's
        cancel scope when the client went away, by a timeout), the hold is released before the
        error goes on: nothing was spent. The release is shielded, as a cancelled anyio scope
        would cancel its awaits too; so is the settle, as a call that finished was billed. A
        hold lost even so (the process died, the store was down, an asyncio ``Task.cancel()``
        hit the release itself) stops counting when its ``hold_ttl`` runs out."""
        provider, model = request.provider, request.model
        worst = TokenUsage(
            input_tokens=llm.count_tokens(provider, model, request.prompt),
            output_tokens=request.max_tokens,
        )
        hold = await _reserve(gov, user_id, provider, model, worst, ttl=hold_ttl)
        try:
            completion = await llm.complete(provider, model, request.prompt, request.max_tokens)
        except BaseException:
            if hold is not None:
                with anyio.CancelScope(shield=True):
                    await gov.release(hold.id)  # nothing was spent: free it now, not at expiry
            raise
        with anyio.CancelScope(shield=True):
            if hold is None:
                record = await gov.record_usage(user_id, provider, model, completion.usage)
            else:
                record = await gov.settle(hold.id, provider, model, completion.usage)
        return ChatResponse(
            text=completion.text,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost_micros=record.cost_micros,
        )

    @app.get("/v1/budget")
    async def budget(user_id: UserId) -> SpendStatus:
        """The caller's limit, spend, holds and what remains this period."""
        return await gov.spend_status(Actor.user(user_id), user_id)

    return app


async def _reserve(
    gov: AsyncGovernance,
    user_id: UUID,
    provider: str,
    model: str,
    worst: TokenUsage,
    *,
    ttl: timedelta,
) -> Reservation | None:
    """A hold on the worst case, or None when the worst case costs nothing (a model priced at
    0): aigov holds no empty amounts (``reserve_for`` calls that InvalidInputError), and there is
    nothing to protect, so the request runs and its usage is recorded afterwards.

    A request cancelled while ``reserve_for`` is in flight holds nothing, or a hold that
    expires by its ``ttl`` (SPEC §13)."""
    try:
        return await gov.reserve_for(user_id, provider, model, worst, ttl=ttl)
    except AmountOutOfRangeError:
        raise
    except InvalidInputError:
        if cost_of(worst, await gov.get_model_price(provider, model)).micros > 0:
            raise  # refused for another reason than a free estimate
        return None


# The gateway's own rows, then aigov_http's table: the first class that matches wins.
_ANSWERS: tuple[Answer, ...] = (
    Answer(BudgetExceededError, 402, "budget_exceeded", "Over budget."),
    Answer(UnknownPriceError, 400, "unknown_price", "The model has no known price."),
    Answer(NotFoundError, 403, "unknown_caller", "The caller has no budget to spend from."),
    Answer(LLMError, 502, "upstream_failed", "The model provider failed."),
    *ANSWERS,
)


def error_response(exc: Exception) -> JSONResponse:
    """The HTTP answer to an error of aigov or of the LLM (the table in the module docstring).
    A 5xx of our own says no more than its code: a store's message may name hosts and tables."""
    found = answer_of(exc, _ANSWERS)
    status, error = (500, "internal_error") if found is None else (found.status, found.code)
    body: dict[str, Any] = {"error": error}
    if status < 500 or isinstance(exc, LLMError):
        body["detail"] = str(exc)
    if isinstance(exc, BudgetExceededError):
        body |= {
            "limit_micros": exc.limit_micros,
            "spent_micros": exc.spent_micros,
            "held_micros": exc.held_micros,
            "requested_micros": exc.requested_micros,
            "remaining_micros": exc.remaining_micros,
            "group_id": str(exc.group_id),
        }
    elif isinstance(exc, UnknownPriceError):
        body |= {"provider": exc.provider, "model": exc.model}
    elif isinstance(exc, NotFoundError):
        body["resource"] = exc.resource
    headers = {"Retry-After": "1"} if found is not None and found.retry_after else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc)

"""How a refusal looks to LiteLLM's clients (SPEC §15): LiteLLM's own exceptions.

Over budget is ``litellm.BudgetExceededError``, which LiteLLM's SDK users and its proxy already
handle; its ``current_cost`` and ``max_budget`` are dollars as LiteLLM defines them (floats, for
display: aigov's money stays integer micros, and the message carries them exactly). Every other
refusal (no user, an unknown one, a model without a price, a model of no known provider) is a
``RequestRefusedError``, a ``litellm.BadRequestError``: a 400 that the Router neither retries nor
counts against a deployment (a 401 would put the deployment in cooldown for everyone).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from litellm.exceptions import BadRequestError
from litellm.exceptions import BudgetExceededError as LiteLLMBudgetExceededError

from aigov import BudgetExceededError
from aigov.money import MICROS_PER_UNIT

__all__ = ["RefusalReason", "RequestRefusedError", "budget_refusal", "dollars"]

RefusalReason = Literal[
    "no_user", "invalid_user", "unknown_user", "unknown_price", "unmapped_model"
]


class RequestRefusedError(BadRequestError):
    """Raised before the provider is called when aigov cannot govern the request: it names no
    user, or one that is not a UUID or not in the directory; its model has no known price under
    ``unknown_price_policy="deny"``, or LiteLLM cannot tell its provider. ``reason`` says which;
    the aigov error, if any, is chained as ``__cause__``."""

    def __init__(
        self, message: str, *, reason: RefusalReason, model: str, llm_provider: str
    ) -> None:
        super().__init__(message, model=model, llm_provider=llm_provider)
        self.reason: RefusalReason = reason


def dollars(micros: int) -> str:
    """``$1.500000`` for 1_500_000 micros: exact, every digit of a micro shown."""
    whole, fraction = divmod(micros, MICROS_PER_UNIT)
    return f"${whole}.{fraction:06d}"


def budget_refusal(
    refused: BudgetExceededError, *, user_id: UUID, llm_provider: str
) -> LiteLLMBudgetExceededError:
    """LiteLLM's over-budget error for aigov's: the limit as ``max_budget``, what already counts
    against it (spent and held) as ``current_cost``, and a message naming each amount."""
    counted = refused.spent_micros + refused.held_micros
    message = (
        f"aigov: budget exceeded for user {user_id}: limit {dollars(refused.limit_micros)}, "
        f"spent {dollars(refused.spent_micros)}, held {dollars(refused.held_micros)}, "
        f"requested {dollars(refused.requested_micros)} "
        f"(remaining {dollars(refused.remaining_micros)})"
    )
    return LiteLLMBudgetExceededError(
        current_cost=counted / MICROS_PER_UNIT,
        max_budget=refused.limit_micros / MICROS_PER_UNIT,
        message=message,
        llm_provider=llm_provider,
        entity_type="user",
        entity_id=str(user_id),
    )

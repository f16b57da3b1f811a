"""What a usage costs (SPEC §1): exact integer arithmetic, rounded up once, never silently free."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from aigov.exceptions import InvalidInputError
from aigov.money import MICROS_PER_UNIT, check_micros
from aigov.prices import Prices

__all__ = ["TOKEN_KINDS", "Cost", "TokenKind", "TokenUsage", "cost_of"]

TokenKind = Literal["input", "output", "cache_read", "cache_write"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("input", "output", "cache_read", "cache_write")

Tokens = Annotated[int, Strict(), Field(ge=0)]


class TokenUsage(BaseModel):
    """Tokens of one request, by kind: integers ≥ 0. Bad counts are InvalidInputError."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **counts: Any) -> None:
        try:
            super().__init__(**counts)
        except ValidationError as exc:
            raise InvalidInputError(
                f"invalid token usage: {exc}", errors=exc.errors(include_url=False)
            ) from exc

    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0

    def tokens(self, kind: TokenKind) -> int:
        return int(getattr(self, f"{kind}_tokens"))


class Cost(BaseModel):
    """The cost of a usage. ``incomplete`` when some kind had tokens but no known price: then
    ``micros`` counts the priced kinds only, and ``unpriced_kinds`` names the others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    micros: int
    unpriced_kinds: tuple[TokenKind, ...] = ()

    @property
    def incomplete(self) -> bool:
        return bool(self.unpriced_kinds)


def cost_of(usage: TokenUsage, prices: Prices | None) -> Cost:
    """``ceil(Σ tokens_k * price_k / 1_000_000)`` micros over the priced kinds.

    One ceiling over the exact total, so that many small requests cannot under-charge. A price of
    0 is free; a price of None (or no price at all) with tokens > 0 makes the cost incomplete.
    AmountOutOfRangeError when the result exceeds 2**63-1.
    """
    total = 0
    unpriced: list[TokenKind] = []
    for kind in TOKEN_KINDS:
        tokens = usage.tokens(kind)
        if tokens == 0:
            continue
        price = None if prices is None else prices.price(kind)
        if price is None:
            unpriced.append(kind)
        else:
            total += tokens * price
    micros = -(-total // MICROS_PER_UNIT)
    return Cost(micros=check_micros(micros, "cost"), unpriced_kinds=tuple(unpriced))

"""Money as integer micros (millionths of a USD), and the one exact conversion from decimal USD.

A float never holds money. Stored amounts live in ``0 … 2**63-1`` (PostgreSQL ``BIGINT``); sums
and products are Python ints, unbounded, and checked only where they are stored or returned as
an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Final

from pydantic import Field, Strict

from aigov.exceptions import AmountOutOfRangeError, InvalidInputError

__all__ = ["MAX_MICROS", "MICROS_PER_UNIT", "Micros", "check_micros", "usd_to_micros"]

MICROS_PER_UNIT: Final = 1_000_000
MAX_MICROS: Final = 2**63 - 1

Micros = Annotated[int, Strict(), Field(ge=0, le=MAX_MICROS)]
"""A stored amount of micros: a true int (no bool, float or string), 0 … 2**63-1."""


def check_micros(value: int, what: str) -> int:
    """``value`` if it is a storable amount, else ``AmountOutOfRangeError`` naming ``what``."""
    if not 0 <= value <= MAX_MICROS:
        raise AmountOutOfRangeError(f"{what} = {value} micros is outside 0 … 2**63-1")
    return value


def usd_to_micros(usd: Decimal | int | str, what: str = "amount") -> int:
    """Exact micros for a decimal amount of USD, rounded half-up to a whole micro.

    Used for prices in USD per million tokens (``$3`` → ``3_000_000``, ``$0.075`` → ``75_000``).
    Binary floats are refused: read JSON with ``parse_float=decimal.Decimal`` instead.
    """
    if isinstance(usd, bool | float):
        raise InvalidInputError(
            f"{what}: {usd!r} must be a Decimal, an int or a string, not a float"
        )
    try:
        value = Decimal(usd)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what}: {usd!r} is not a decimal number") from exc
    if not value.is_finite():
        raise InvalidInputError(f"{what}: {usd!r} is not a finite number")
    micros = int((value * MICROS_PER_UNIT).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return check_micros(micros, what)

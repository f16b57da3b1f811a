"""Amounts on the command line are dollars, written as decimals: ``25``, ``25.50``, ``0.000001``.

The library counts integer micros (SPEC §1). People think in dollars, so the command reads and
prints dollars, exactly: at most six decimals in, every micro shown out (``$1.234567``), never a
float in between. Only the spend export keeps the library's ``spend_micros``, for machines.
"""

from __future__ import annotations

import re
from decimal import Decimal

from aigov import InvalidInputError
from aigov.money import MICROS_PER_UNIT, usd_to_micros

__all__ = ["dollars", "parse_dollars"]

_AMOUNT = re.compile(r"^\$?(\d+)(?:\.(\d{0,6}))?$")


def parse_dollars(text: str, what: str) -> int:
    """Micros for a dollar amount such as ``25``, ``$25.50`` or ``0.000001``; a negative amount,
    a float notation or a fraction of a micro is bad input, never rounded away."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not _AMOUNT.match(cleaned):
        raise InvalidInputError(
            f"{what} must be dollars with at most 6 decimals (25, 25.50, 0.000001), not {text!r}"
        )
    return usd_to_micros(Decimal(cleaned.removeprefix("$")), what)


def dollars(micros: int | None, *, none: str = "no limit") -> str:
    """``$25.00`` for whole cents, else every micro: ``$1.234560``; never rounded."""
    if micros is None:
        return none
    whole, fraction = divmod(micros, MICROS_PER_UNIT)
    digits = f"{fraction:06d}"
    return f"${whole:,}.{digits[:2] if digits.endswith('0000') else digits}"

"""SPEC §1: exact micros, and the cost of a usage rounded up once, never silently free."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigov import AmountOutOfRangeError, InvalidInputError
from aigov._service import _amount_micros
from aigov.cost import TOKEN_KINDS, TokenUsage, cost_of
from aigov.money import MAX_MICROS, usd_to_micros
from aigov.prices import Prices


@pytest.mark.parametrize(
    ("usd", "micros"),
    [
        ("3", 3_000_000),
        ("0.075", 75_000),
        (Decimal("0.049999999999999996"), 50_000),  # a float artefact in the catalogue
        ("0.0000005", 1),  # half a micro rounds up
        ("0.00000049", 0),
        ("0.0000015", 2),
        (0, 0),
        (15, 15_000_000),
    ],
)
def test_usd_converts_exactly_half_up(usd, micros):
    assert usd_to_micros(usd) == micros


@pytest.mark.parametrize(
    ("usd", "error"),
    [
        (0.1, InvalidInputError),
        (True, InvalidInputError),
        ("NaN", InvalidInputError),
        ("Infinity", InvalidInputError),
        ("three", InvalidInputError),
        ("-1", AmountOutOfRangeError),
        (Decimal(MAX_MICROS) / 1_000_000 + 1, AmountOutOfRangeError),
    ],
)
def test_bad_usd_amounts_are_refused(usd, error):
    with pytest.raises(error):
        usd_to_micros(usd)


def prices_of(values):
    return Prices(
        **dict(
            zip(
                ("input_price", "output_price", "cache_read_price", "cache_write_price"),
                values,
                strict=True,
            )
        )
    )


def usage_of(values):
    return TokenUsage(**{f"{kind}_tokens": n for kind, n in zip(TOKEN_KINDS, values, strict=True)})


token_counts = st.tuples(*[st.integers(0, 10**9)] * 4)
price_values = st.tuples(*[st.none() | st.integers(0, 10**8)] * 4)


def exact(tokens, prices):
    return sum(
        (Fraction(n * p, 1_000_000) for n, p in zip(tokens, prices, strict=True) if p is not None),
        Fraction(0),
    )


@given(tokens=token_counts, prices=price_values)
def test_cost_is_the_exact_cost_rounded_up_once(tokens, prices):
    """Never below the exact rational cost, never a whole micro above it."""
    cost = cost_of(usage_of(tokens), prices_of(prices))
    assert exact(tokens, prices) <= cost.micros < exact(tokens, prices) + 1


@given(tokens=token_counts, prices=price_values, kind=st.integers(0, 3), more=st.integers(1, 10**6))
def test_cost_is_monotone_in_tokens_and_prices(tokens, prices, kind, more):
    base = cost_of(usage_of(tokens), prices_of(prices)).micros
    more_tokens = tuple(n + more if i == kind else n for i, n in enumerate(tokens))
    assert cost_of(usage_of(more_tokens), prices_of(prices)).micros >= base
    higher = tuple(
        (p + more if p is not None else None) if i == kind else p for i, p in enumerate(prices)
    )
    assert cost_of(usage_of(tokens), prices_of(higher)).micros >= base


@given(tokens=token_counts, prices=price_values)
def test_an_unknown_price_makes_the_cost_incomplete_never_free(tokens, prices):
    cost = cost_of(usage_of(tokens), prices_of(prices))
    unpriced = tuple(
        k for k, n, p in zip(TOKEN_KINDS, tokens, prices, strict=True) if n > 0 and p is None
    )
    assert cost.unpriced_kinds == unpriced
    assert cost.incomplete == bool(unpriced)


def test_a_model_without_any_price_is_incomplete():
    cost = cost_of(TokenUsage(input_tokens=10, cache_read_tokens=1), None)
    assert (cost.micros, cost.incomplete, cost.unpriced_kinds) == (0, True, ("input", "cache_read"))
    assert not cost_of(TokenUsage(), None).incomplete


def test_free_is_not_unknown():
    free = prices_of((0, 0, 0, 0))
    cost = cost_of(TokenUsage(input_tokens=10**6, output_tokens=5), free)
    assert (cost.micros, cost.incomplete) == (0, False)


def test_one_ceiling_over_the_total():
    """Three kinds each worth a third of a micro cost one micro, not three."""
    prices = prices_of((1, 1, 1, None))
    assert cost_of(usage_of((333_334, 333_333, 333_333, 0)), prices).micros == 1
    assert cost_of(usage_of((1, 0, 0, 0)), prices).micros == 1


def test_a_cost_beyond_the_bigint_range_is_refused():
    with pytest.raises(AmountOutOfRangeError):
        cost_of(usage_of((10**18, 0, 0, 0)), prices_of((MAX_MICROS, 0, 0, 0)))


@pytest.mark.parametrize("bad", [-1, 1.0, True, "5"])
def test_token_counts_are_non_negative_integers(bad):
    with pytest.raises(InvalidInputError, match="input_tokens"):
        TokenUsage(input_tokens=bad)


@pytest.mark.parametrize("value", [0, 1, MAX_MICROS])
def test_an_amount_is_an_int_of_micros(value):
    assert _amount_micros(value, "amount_micros") == value


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, AmountOutOfRangeError),
        (MAX_MICROS + 1, AmountOutOfRangeError),
        (True, InvalidInputError),
        (1.0, InvalidInputError),
        ("5", InvalidInputError),
        (Decimal(5), InvalidInputError),
    ],
)
def test_an_amount_out_of_range_or_not_an_int_is_refused(value, error):
    with pytest.raises(error, match="amount_micros"):
        _amount_micros(value, "amount_micros")

"""Dollars on the command line: exact both ways, refused rather than rounded."""

from __future__ import annotations

import pytest

from aigov import AmountOutOfRangeError, InvalidInputError
from aigov_cli._money import dollars, parse_dollars


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("25", 25_000_000),
        ("25.5", 25_500_000),
        ("$25.50", 25_500_000),
        ("1,250.000001", 1_250_000_001),
        ("0.000001", 1),
        ("0", 0),
        (" 7. ", 7_000_000),
    ],
)
def test_dollars_are_read_exactly(text, micros):
    assert parse_dollars(text, "limit") == micros


@pytest.mark.parametrize("text", ["-1", "1.0000001", "1e3", "", "$", "ten", "0x10", "nan"])
def test_anything_else_is_bad_input(text):
    with pytest.raises(InvalidInputError, match="limit"):
        parse_dollars(text, "limit")


def test_an_amount_beyond_bigint_is_out_of_range():
    with pytest.raises(AmountOutOfRangeError):
        parse_dollars("9223372036854.775808", "limit")


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "$0.00"),
        (25_000_000, "$25.00"),
        (1_250_500_000, "$1,250.50"),
        (4_229_155, "$4.229155"),
        (12_634_380, "$12.634380"),
        (1, "$0.000001"),
        (None, "no limit"),
    ],
)
def test_dollars_are_printed_to_the_micro(micros, text):
    assert dollars(micros) == text

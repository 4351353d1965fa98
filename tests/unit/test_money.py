"""sidecar.money: minor units, strict parsing, half-up rounding, exact pro-rata splits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.money import (
    is_quantized,
    minor_unit,
    minor_units,
    quantize,
    split,
    split_capped,
    to_decimal,
)

D = Decimal


@pytest.mark.parametrize(
    ("currency", "units"),
    [("EUR", 2), ("USD", 2), ("GBP", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("JOD", 3),
     ("OMR", 3), ("TND", 3), ("SEK", 2)],
)
def test_minor_units(currency: str, units: int) -> None:
    assert minor_units(currency) == units
    assert minor_unit(currency) == D(1).scaleb(-units)


@pytest.mark.parametrize("bad", ["eur", "EURO", "", "E1R"])
def test_minor_units_rejects_non_codes(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        minor_units(bad)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.675", "EUR", "2.68"),  # float would give 2.67
        ("2.665", "EUR", "2.67"),
        ("-2.675", "EUR", "-2.68"),  # half away from zero, like PHP round()
        ("1.005", "USD", "1.01"),
        ("999.5", "JPY", "1000"),
        ("999.4999", "JPY", "999"),
        ("1.2345", "KWD", "1.235"),
        ("16.8000", "EUR", "16.80"),
    ],
)
def test_quantize_half_up(amount: str, currency: str, expected: str) -> None:
    result = quantize(D(amount), currency)
    assert str(result) == expected


def test_quantize_rejects_non_decimal_and_nan() -> None:
    with pytest.raises(TypeError):
        quantize(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        quantize(D("NaN"), "EUR")


def test_is_quantized() -> None:
    assert is_quantized(D("1.20"), "EUR")
    assert not is_quantized(D("1.205"), "EUR")
    assert not is_quantized(D("1.5"), "JPY")


@pytest.mark.parametrize("text", ["16.8000", "0", "-3", "0.0001", "123456789012.1234"])
def test_to_decimal_accepts_plain_numbers(text: str) -> None:
    assert to_decimal(text) == D(text)


@pytest.mark.parametrize(
    "bad",
    ["", " 1", "1 ", "1e3", "1E-2", "NaN", "nan", "Infinity", "-inf", "+1", "1.", ".5",
     "1,5", "1_000", "0x10", "--1", "1.2.3", "١٢"],
)
def test_to_decimal_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        to_decimal(bad)


@pytest.mark.parametrize("bad", [1.5, 1, None, True, D("1")])
def test_to_decimal_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        to_decimal(bad)  # type: ignore[arg-type]


def test_split_largest_remainder() -> None:
    assert split(D("10.00"), [D(1), D(1), D(1)], "EUR") == [D("3.34"), D("3.33"), D("3.33")]
    assert split(D("0.05"), [D(3), D(1)], "EUR") == [D("0.04"), D("0.01")]
    assert split(D("100"), [D(1), D(2)], "JPY") == [D("33"), D("67")]
    assert split(D("0.00"), [D(0), D(0)], "EUR") == [D("0.00"), D("0.00")]


def test_split_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        split(D("-1.00"), [D(1)], "EUR")
    with pytest.raises(ValueError, match="decimals"):
        split(D("1.005"), [D(1)], "EUR")
    with pytest.raises(ValueError, match="zero"):
        split(D("1.00"), [D(0), D(0)], "EUR")
    with pytest.raises(ValueError, match="negative"):
        split(D("1.00"), [D(-1), D(2)], "EUR")


def test_split_capped_fills_caps_then_reports_leftover() -> None:
    parts, left = split_capped(D("10.00"), [D(1), D(1)], [D("2.00"), D("100.00")], "EUR")
    assert parts == [D("2.00"), D("8.00")]
    assert left == D("0.00")
    parts, left = split_capped(D("10.00"), [D(1), D(1)], [D("2.00"), D("3.00")], "EUR")
    assert parts == [D("2.00"), D("3.00")]
    assert left == D("5.00")
    parts, left = split_capped(D("1.00"), [D(0), D(1)], [D("5.00"), D("0.00")], "EUR")
    assert parts == [D("0.00"), D("0.00")]
    assert left == D("1.00")


CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD"])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    currency=CURRENCIES,
    units=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8),
)
def test_split_parts_sum_exactly_and_never_negative(
    currency: str, units: int, weights: list[int]
) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    total = quantize(D(units).scaleb(-minor_units(currency)), currency)
    parts = split(total, [D(w) for w in weights], currency)
    assert sum(parts, D(0)) == total
    assert all(p >= 0 and is_quantized(p, currency) for p in parts)
    for part, weight in zip(parts, weights, strict=True):
        if weight == 0:
            assert part == 0
        exact = total * weight / sum(weights)
        assert abs(part - exact) < minor_unit(currency)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    units=st.integers(min_value=0, max_value=10**6),
    rows=st.lists(
        st.tuples(st.integers(min_value=0, max_value=100),
                  st.integers(min_value=0, max_value=10**6)),
        min_size=1, max_size=6,
    ),
)
def test_split_capped_respects_caps_and_conserves_money(
    units: int, rows: list[tuple[int, int]]
) -> None:
    total = D(units).scaleb(-2)
    weights = [D(w) for w, _ in rows]
    caps = [D(c).scaleb(-2) for _, c in rows]
    parts, left = split_capped(total, weights, caps, "EUR")
    assert sum(parts, D(0)) + left == total
    assert all(D(0) <= p <= c for p, c in zip(parts, caps, strict=True))
    usable = sum((c for w, c in zip(weights, caps, strict=True) if w > 0), D(0))
    assert left == max(D(0), total - usable)

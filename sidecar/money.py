"""Money helpers: currency minor units, strict parsing, one-time rounding, exact splits.

Everything is Decimal; nothing here accepts or returns float. Rounding is ROUND_HALF_UP
(PHP's ``round($x, 2)``, which Magento uses) and happens only in :func:`quantize`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 2. Everything else defaults to 2.
_MINOR_UNITS: dict[str, int] = {
    # zero decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # three decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

#: Amazon feeds accept at most this many decimals in an Amount.
AMAZON_MAX_DECIMALS = 2

_DECIMAL_RE = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,12})?", re.ASCII)
_CURRENCY_RE = re.compile(r"[A-Z]{3}", re.ASCII)


def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (ISO 4217 code, upper case)."""
    if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return _MINOR_UNITS.get(currency, 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the currency's minor unit, half away from zero."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount is not finite: {amount}")
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def is_quantized(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` has no digits below the currency's minor unit."""
    return amount == quantize(amount, currency)


def to_decimal(value: str) -> Decimal:
    """Parse a plain decimal string such as ``"16.8000"`` or ``"-3"``.

    Rejects (ValueError) anything that is not a str, and strings with exponents, NaN,
    infinity, signs other than a leading '-', whitespace, underscores or thousands separators.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a decimal string, got {type(value).__name__} {value!r}")
    if not _DECIMAL_RE.fullmatch(value):
        raise ValueError(f"not a plain decimal number: {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees this
        raise ValueError(f"not a decimal number: {value!r}") from exc


def _check_total(total: Decimal, currency: str) -> int:
    """``total`` as an integer count of minor units (must already be quantized, >= 0)."""
    if total < 0:
        raise ValueError(f"cannot split a negative amount: {total}")
    if not is_quantized(total, currency):
        raise ValueError(f"amount {total} has more decimals than {currency} allows")
    return int(total.scaleb(minor_units(currency)))


def _from_units(units: int, currency: str) -> Decimal:
    return quantize(Decimal(units).scaleb(-minor_units(currency)), currency)


def _largest_remainder(units: int, weights: Sequence[Decimal]) -> list[int]:
    total_weight = sum(weights, Decimal(0))
    if units == 0:
        return [0] * len(weights)
    if total_weight <= 0:
        raise ValueError("cannot split a non-zero amount over weights that sum to zero")
    floors: list[int] = []
    remainders: list[tuple[Decimal, int]] = []
    for index, weight in enumerate(weights):
        exact = Decimal(units) * weight / total_weight
        floor = int(exact.to_integral_value(rounding=ROUND_FLOOR))
        floors.append(floor)
        remainders.append((exact - floor, index))
    leftover = units - sum(floors)
    # largest remainder first; ties go to the earlier index (deterministic)
    for _, index in sorted(remainders, key=lambda r: (-r[0], r[1]))[:leftover]:
        floors[index] += 1
    return floors


def split(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Distribute ``total`` over ``weights`` pro rata; the parts sum exactly to ``total``.

    ``total`` must be >= 0 and already quantized for ``currency``; weights must be >= 0.
    Remainder minor units go to the largest fractional remainders (ties: earliest index).
    No part is negative. A zero total gives zeros; a non-zero total over all-zero weights
    raises ValueError.
    """
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    units = _check_total(total, currency)
    return [_from_units(u, currency) for u in _largest_remainder(units, weights)]


def split_capped(
    total: Decimal,
    weights: Sequence[Decimal],
    caps: Sequence[Decimal],
    currency: str,
) -> tuple[list[Decimal], Decimal]:
    """Like :func:`split`, but no part exceeds its cap.

    Parts that would exceed their cap are fixed at the cap and the rest is spread again over
    the others (by weight). Only indexes with a positive weight and a positive cap receive
    anything. Returns ``(parts, leftover)``; ``leftover`` > 0 when the caps cannot absorb
    the whole total. Caps must be quantized for ``currency`` and >= 0.
    """
    if len(weights) != len(caps):
        raise ValueError("weights and caps differ in length")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    remaining = _check_total(total, currency)
    cap_units = [_check_total(c, currency) for c in caps]
    parts = [0] * len(weights)
    active = [i for i, w in enumerate(weights) if w > 0 and cap_units[i] > 0]
    while remaining > 0 and active:
        shares = _largest_remainder(remaining, [weights[i] for i in active])
        over = [i for i, s in zip(active, shares, strict=True) if s > cap_units[i]]
        if not over:
            for i, s in zip(active, shares, strict=True):
                parts[i] = s
            remaining = 0
            break
        for i in over:
            parts[i] = cap_units[i]
            remaining -= cap_units[i]
        active = [i for i in active if i not in over]
    return [_from_units(p, currency) for p in parts], _from_units(remaining, currency)

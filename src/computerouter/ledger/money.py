"""Money is integer micro-credits, everywhere: parsed from text with :class:`~decimal.Decimal`,
stored as ``BIGINT``, added as ``int``, printed by integer division. No float ever holds an
amount, so no sum is ever off by a rounding error.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from computerouter.errors import InputError

__all__ = ["MICRO", "format_credits", "parse_credits"]

MICRO = 1_000_000
"""Micro-credits in one credit."""

_MAX_CREDITS = Decimal(10) ** 12
"""A trillion credits: far above any real grant, far below what a BIGINT of micro-credits holds."""


def parse_credits(text: str, *, allow_zero: bool = False) -> int:
    """``"12.5"`` → ``12_500_000``. Exact: at most six decimals, no exponent, no sign games.

    Raises :class:`InputError` for anything that is not a plain positive decimal number of
    credits (``"abc"``, ``"1e3"``, ``"-1"``, ``"0.0000001"``, ``"nan"``, ``"inf"``).
    """
    raw = text.strip().replace("_", "")
    if not raw or any(c not in "0123456789." for c in raw) or raw.count(".") > 1 or raw == ".":
        raise InputError(f"not an amount of credits: {text!r} (use e.g. 10 or 12.5)")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the character check above rules it out
        raise InputError(f"not an amount of credits: {text!r}") from None
    micro = value * MICRO
    if micro != micro.to_integral_value():
        raise InputError(f"{text!r} has more than six decimals; the smallest amount is 0.000001")
    if value > _MAX_CREDITS:
        raise InputError(f"{text!r} is more than {_MAX_CREDITS:,} credits")
    if micro == 0 and not allow_zero:
        raise InputError("the amount must be more than zero")
    return int(micro)


def format_credits(micro: int, *, places: int = 2) -> str:
    """``12_500_000`` → ``"12.50"``; shows every significant digit, and at least ``places``."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    digits = f"{frac:06d}".rstrip("0")
    digits = digits.ljust(places, "0")
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")

"""How figures are written for people and documents: amounts of money and percents of
rates, one function per format. Pure functions, no I/O (Babel's locale data is read once
and kept)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from creditpay.money import currency_exponent, minor_to_decimal

__all__ = ["money_text", "percent_string", "disclosed_percent_string"]


def money_text(amount_minor: int, currency: str, locale: str = "en") -> str:
    """An amount in minor units written for people in ``locale`` (zh-CN, en, ...): the
    locale's currency symbol, grouping and sign, with the currency's ISO 4217 decimals
    ("CN¥1,234.56", "¥1,234"). Babel holds the CLDR rules, so none are hand-written here."""
    return _formatted(amount_minor, currency, locale)


# Pure memo (kept): a function of its arguments only (no configuration in it).
@lru_cache(maxsize=8192)
def _formatted(amount_minor: int, currency: str, locale: str) -> str:
    # Remembered: a key-facts document formats the same installment amounts many times,
    # and one Babel format costs ~0.2 ms.
    loc, pattern = _currency_pattern(locale, currency_exponent(currency))
    return str(pattern.apply(minor_to_decimal(amount_minor, currency), loc, currency=currency,
                             currency_digits=False))


@lru_cache(maxsize=256)
def _currency_pattern(locale: str, exponent: int) -> tuple[Any, Any]:
    """Babel's locale and currency pattern with ``exponent`` decimals, built once per pair:
    parsing them is most of a format call, and a document formats hundreds of amounts."""
    from babel import Locale
    from babel.numbers import parse_pattern

    loc = Locale.parse(locale.replace("-", "_"))
    pattern = parse_pattern(loc.currency_formats["standard"].pattern)
    pattern.frac_prec = (exponent, exponent)
    return loc, pattern


def percent_string(rate: Decimal) -> str:
    """A rate fraction as a percent with exactly 4 decimals, rounded half-up."""
    return str((rate * 100).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def disclosed_percent_string(rate: Decimal) -> str:
    """A rate fraction as the *disclosed* annual percentage rate: rounded half-up to the
    hundredth of a percentage point, printed with 4 decimals ("9.6900").

    Why: Regulation Z's Appendix J states disclosed APRs to the hundredth of a percentage
    point (example (c)(1)(i): "9.69 %"; rounding to the hundredth stays far inside the 1/8
    point tolerance of 12 CFR 1026.22(a)(2)), and EU APRC examples are stated the same way;
    printing the solver's unrounded figure ("9.6857") would state a rate nobody discloses.
    4 decimals keep the shape of the other percents the CLI prints.
    """
    hundredths = (rate * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(hundredths.quantize(Decimal("0.0001")))

"""How figures are written for people and documents: amounts of money and percents of
rates, one function per format. Pure functions, no I/O (Babel's locale data is read once
and kept)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from creditpay.money import currency_exponent, minor_to_decimal

__all__ = ["money_text", "percent_string", "disclosed_percent_string"]


def money_text(amount_minor: int, currency: str, locale: str = "en") -> str:
    """An amount in minor units written for people in ``locale`` (zh-CN, en, ...): the
    locale's currency symbol, grouping and sign, with the currency's ISO 4217 decimals
    ("CN¥1,234.56", "¥1,234"). Babel holds the CLDR rules (symbols, signs, grouping); the
    digits of a plain pattern are written from them by :class:`_Layout`."""
    return _formatted(amount_minor, currency, locale)


# Pure memo (kept): a function of its arguments only (no configuration in it).
@lru_cache(maxsize=8192)
def _formatted(amount_minor: int, currency: str, locale: str) -> str:
    # Remembered: a key-facts document formats the same installment amounts many times.
    exponent = currency_exponent(currency)
    layout = _layout(locale, currency, exponent)
    if layout is not None and type(amount_minor) is int and abs(amount_minor) < _EXACT_BELOW:
        return layout.write(amount_minor)
    return _babel_formatted(amount_minor, currency, locale, exponent)


def _babel_formatted(amount_minor: int, currency: str, locale: str, exponent: int) -> str:
    """Babel's own formatting of the amount (the reference :class:`_Layout` is checked
    against, and the path of any pattern it does not cover)."""
    loc, pattern = _currency_pattern(locale, exponent)
    return str(pattern.apply(minor_to_decimal(amount_minor, currency), loc, currency=currency,
                             currency_digits=False))


# Babel's Decimal steps are exact below 10^25 minor units (28 digits of context); a larger
# amount is left to Babel, which rounds or refuses it as it always did.
_EXACT_BELOW = 10 ** 25


@dataclass(frozen=True, slots=True)
class _Layout:
    """The pieces of a locale's standard currency format for one currency, taken from
    Babel's CLDR data once: the affixes with the currency symbol written in, the group
    and decimal symbols and the grouping sizes.

    Why by hand: Babel's ``NumberPattern.apply`` costs ~40 µs a call (a Decimal
    normalised and quantised, the currency's plural name looked up for every call even
    when the pattern has no ``¤¤¤``, a regular expression over the result), and a quote's
    key-facts documents format a few hundred amounts, most of them new. An amount of minor
    units needs only its digits split and grouped, which :meth:`write` does with integer
    arithmetic, as ``apply`` does for a plain pattern (no scientific notation, significant
    digits, scaling, plural currency names or quotes; :func:`_layout` leaves every other
    pattern to Babel). ``tests/test_formatting.py`` checks, with Hypothesis, that it writes
    exactly what Babel writes for every amount, in the locales and currencies used."""

    positive: tuple[str, str]  # (prefix, suffix) of an amount >= 0
    negative: tuple[str, str]
    group: str
    decimal: str
    first_group: int
    other_groups: int
    min_digits: int
    exponent: int

    def write(self, amount_minor: int) -> str:
        prefix, suffix = self.negative if amount_minor < 0 else self.positive
        whole, fraction = divmod(abs(amount_minor), 10 ** self.exponent)
        digits = str(whole).rjust(self.min_digits, "0")
        size = self.first_group
        grouped = ""
        while len(digits) > size:
            grouped = self.group + digits[-size:] + grouped
            digits = digits[:-size]
            size = self.other_groups
        number = digits + grouped
        if self.exponent:
            number += self.decimal + str(fraction).rjust(self.exponent, "0")
        return prefix + number + suffix


@lru_cache(maxsize=256)
def _layout(locale: str, currency: str, exponent: int) -> _Layout | None:
    """The :class:`_Layout` of ``currency`` in ``locale``, or None when its pattern is one
    :meth:`_Layout.write` does not cover (then Babel formats every amount)."""
    from babel.numbers import get_currency_symbol

    loc, pattern = _currency_pattern(locale, exponent)
    symbols = loc.number_symbols["latn"]
    group, decimal = symbols["group"], symbols["decimal"]
    affixes = (*pattern.prefix, *pattern.suffix)
    if (pattern.exp_prec or "@" in pattern.pattern or pattern.scale
            or pattern.number_pattern == "" or pattern.frac_prec != (exponent, exponent)
            or any("'" in text or "¤¤" in text for text in (*affixes, group, decimal))):
        return None
    symbol = get_currency_symbol(currency, loc)
    if "'" in symbol:
        return None
    prefix = tuple(text.replace("¤", symbol) for text in pattern.prefix)
    suffix = tuple(text.replace("¤", symbol) for text in pattern.suffix)
    first, other = pattern.grouping
    return _Layout(positive=(prefix[0], suffix[0]), negative=(prefix[1], suffix[1]),
                   group=group, decimal=decimal, first_group=first, other_groups=other,
                   min_digits=pattern.int_prec[0], exponent=exponent)


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

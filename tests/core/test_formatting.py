"""creditpay.formatting: the one place amounts and percents are written for people."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.formatting import money_text
from creditpay.money import AMOUNT_MINOR_MAX, Money


def test_money_text_per_locale_with_iso_decimals() -> None:
    assert money_text(123456, "CNY", "zh-CN") == "¥1,234.56"
    assert money_text(123456, "CNY", "en") == "CN¥1,234.56"
    assert money_text(123456, "CNY") == "CN¥1,234.56"  # English unless told
    assert money_text(1234, "JPY", "en") == "¥1,234"
    assert money_text(1234567, "KWD", "en").endswith("1,234.567")
    assert money_text(-5, "USD", "en") == "-$0.05"


@given(st.integers(min_value=-AMOUNT_MINOR_MAX, max_value=AMOUNT_MINOR_MAX),
       st.sampled_from(["CNY", "USD", "JPY", "KWD"]), st.sampled_from(["en", "zh-CN"]))
def test_money_text_shows_the_exact_amount(amount_minor, currency, locale) -> None:
    # The digits shown are the exact major amount: no float, no rounding, nothing dropped.
    text = money_text(amount_minor, currency, locale)
    digits = "".join(ch for ch in text if ch.isdigit() or ch in ".-")
    digits = digits.strip(".")
    assert Decimal(digits) == Money(amount_minor, currency).to_decimal()


# The locales documents are written in, and others whose patterns differ (symbol after the
# number, another grouping, right-to-left marks, a separate negative pattern, a quote in the
# group symbol, which Babel keeps formatting itself).
_LOCALES = ["en", "zh-CN", "de", "fr", "hi-IN", "ar", "ja", "de-CH", "nl", "sw"]


@settings(max_examples=1000)
@given(st.integers(min_value=-(10 ** 27), max_value=10 ** 27) | st.integers(-10 ** 6, 10 ** 6),
       st.sampled_from(["CNY", "USD", "EUR", "HKD", "JPY", "KWD", "CLF", "GBP"]),
       st.sampled_from(_LOCALES))
def test_money_text_is_exactly_what_babel_writes(amount_minor, currency, locale) -> None:
    # The digits are written from Babel's CLDR data without its per-call formatting
    # (formatting._Layout); every amount must come out as Babel's own apply() writes it.
    from creditpay.formatting import _babel_formatted, _formatted
    from creditpay.money import currency_exponent

    try:
        expected = _babel_formatted(amount_minor, currency, locale,
                                    currency_exponent(currency))
    except ArithmeticError:  # Babel refuses digits beyond its context: the fast path too
        expected = None
    if expected is None:
        try:
            _formatted.__wrapped__(amount_minor, currency, locale)
        except ArithmeticError:
            return
        raise AssertionError("formatted an amount Babel refuses")
    assert _formatted.__wrapped__(amount_minor, currency, locale) == expected


def test_the_document_locales_use_the_fast_layout() -> None:
    from creditpay.formatting import _layout

    for locale in ("en", "zh-CN"):
        for currency, exponent in (("CNY", 2), ("USD", 2), ("JPY", 0), ("KWD", 3)):
            assert _layout(locale, currency, exponent) is not None
    assert _layout("de-CH", "CHF", 2) is None  # a quote in its group symbol: Babel's path

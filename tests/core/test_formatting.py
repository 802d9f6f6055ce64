"""creditpay.formatting: the one place amounts and percents are written for people."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
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

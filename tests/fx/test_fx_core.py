"""The FX math (creditpay.fx.core): property tests against exact Decimal arithmetic."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.fx import core

CURRENCIES = ["CNY", "JPY", "KWD", "USD", "KRW"]
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("500"), places=10,
                    allow_nan=False, allow_infinity=False).filter(lambda r: r > 0)
amounts = st.integers(min_value=1, max_value=10**12)
EXPONENT = {"CNY": 2, "JPY": 0, "KWD": 3, "USD": 2, "KRW": 0}


def _exact_half_up(buy_minor: int, buy: str, sell: str, rate: Decimal) -> int:
    with localcontext() as ctx:
        ctx.prec = 100
        major = Decimal(buy_minor) / Decimal(10) ** EXPONENT[buy]
        sell_major = major * rate
        return int((sell_major * Decimal(10) ** EXPONENT[sell]).quantize(
            Decimal(1), rounding=ROUND_HALF_UP))


@settings(max_examples=300, deadline=None)
@given(amounts, st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES), rates)
def test_sell_amount_is_the_exact_product_rounded_half_up(buy_minor, buy, sell, rate):
    assert core.sell_amount_minor(buy_minor, buy, sell, rate) == \
        _exact_half_up(buy_minor, buy, sell, rate)


@settings(max_examples=200, deadline=None)
@given(rates, st.integers(min_value=0, max_value=10_000))
def test_client_rate_is_mid_times_one_plus_markup(mid, bps):
    with localcontext() as ctx:
        ctx.prec = 100
        exact = mid * (1 + Decimal(bps) / 10000)
    got = core.client_rate(mid, bps)
    assert got == exact.quantize(Decimal("1E-10"), rounding=ROUND_HALF_UP)
    assert got >= mid
    assert -got.as_tuple().exponent <= 10


def test_jpy_and_kwd_round_as_iso_4217():
    # JPY has no minor unit: 100000 JPY at CNY 0.0482 per yen is CNY 4820.00.
    assert core.sell_amount_minor(100000, "JPY", "CNY", Decimal("0.0482")) == 482000
    # CNY to JPY: 12.34 CNY at 20.5 JPY per CNY is 252.97 JPY -> 253 yen (half up).
    assert core.sell_amount_minor(1234, "CNY", "JPY", Decimal("20.5")) == 253
    assert core.sell_amount_minor(1, "CNY", "JPY", Decimal("50")) == 1  # 0.5 rounds up
    assert core.sell_amount_minor(1, "CNY", "JPY", Decimal("49.9999999999")) == 0
    # KWD has three decimals: 1 KWD (1000 fils) at CNY 23.1005 is CNY 23.10 (2310.05 fen);
    # at CNY 23.105 it is 2310.5 fen, half up to 2311.
    assert core.sell_amount_minor(1000, "KWD", "CNY", Decimal("23.1005")) == 2310
    assert core.sell_amount_minor(1000, "KWD", "CNY", Decimal("23.105")) == 2311
    assert core.sell_amount_minor(1, "KWD", "CNY", Decimal("23.1")) == 2  # 2.31 fen
    # CNY 100.00 at 0.04329 KWD per CNY is 4.329 KWD: 4329 fils, exactly.
    assert core.sell_amount_minor(10000, "CNY", "KWD", Decimal("0.04329")) == 4329
    assert core.sell_amount_minor(10000, "CNY", "KWD", Decimal("0.043295")) == 4330


def test_client_rate_worked_example():
    assert core.client_rate(Decimal("0.0482"), 80) == Decimal("0.0485856000")
    assert core.client_rate(Decimal("7.1"), 0) == Decimal("7.1000000000")


@settings(max_examples=200, deadline=None)
@given(amounts, st.sampled_from(CURRENCIES), rates, st.integers(min_value=0, max_value=500))
def test_markup_is_client_minus_mid_and_never_negative(buy_minor, buy, mid, bps):
    sell = "CNY" if buy != "CNY" else "USD"
    rate = core.client_rate(mid, bps)
    sell_minor = core.sell_amount_minor(buy_minor, buy, sell, rate)
    markup = core.markup_minor(buy_amount_minor=buy_minor, buy_currency=buy,
                               sell_currency=sell, mid_rate=mid, sell_amount_minor=sell_minor)
    assert markup == sell_minor - core.sell_amount_minor(buy_minor, buy, sell, mid)
    assert markup >= 0


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**11), st.integers(min_value=1, max_value=10**7),
       st.data())
def test_refunds_of_any_parts_sum_to_the_sell_amount(sell_minor, buy_minor, data):
    cuts = sorted(data.draw(st.lists(st.integers(min_value=1, max_value=buy_minor),
                                     max_size=8, unique=True)))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, buy_minor], strict=True) if b > a]
    before = 0
    refunded = []
    for part in parts:
        got = core.refund_sell_minor(sell_amount_minor=sell_minor, buy_amount_minor=buy_minor,
                                     refunded_buy_before_minor=before, refund_buy_minor=part)
        share = Decimal(sell_minor) * part / buy_minor
        assert abs(got - share) <= 1
        refunded.append(got)
        before += part
    assert sum(refunded) == sell_minor


def test_refund_beyond_what_remains_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        core.refund_sell_minor(sell_amount_minor=1000, buy_amount_minor=100,
                               refunded_buy_before_minor=60, refund_buy_minor=41)
    assert caught.value.field == "refund_buy_minor"
    with pytest.raises(ValidationError) as caught:
        core.refund_sell_minor(sell_amount_minor=1000, buy_amount_minor=100,
                               refunded_buy_before_minor=0, refund_buy_minor=0)
    assert caught.value.field == "refund_buy_minor"


def test_floats_and_bad_rates_are_refused():
    with pytest.raises(ValidationError) as caught:
        core.client_rate(0.05, 10)  # type: ignore[arg-type]
    assert caught.value.field == "mid_rate"
    with pytest.raises(ValidationError):
        core.sell_amount_minor(100, "JPY", "CNY", Decimal(0))
    with pytest.raises(ValidationError) as caught:
        core.client_rate(Decimal("1"), -1)
    assert caught.value.field == "markup_bps"


def test_cross_and_inverse_rates():
    assert core.invert_rate(Decimal("0.05")) == Decimal("20.0000000000")
    # CNY per USD 7.1, CNY per JPY 0.0475: JPY per USD = 7.1 / 0.0475
    assert core.cross_rate(Decimal("7.1"), Decimal("0.0475")) == Decimal("149.4736842105")
    assert core.home_value_minor(-100000, "JPY", "CNY", Decimal("0.0482")) == -482000

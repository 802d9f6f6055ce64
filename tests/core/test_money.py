from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.errors import CurrencyMismatchError, ValidationError
from creditpay.money import (
    AMOUNT_MINOR_MAX,
    Money,
    Rounding,
    allocate,
    allocate_minor,
    currency_exponent,
    to_minor,
)


def test_iso_exponents():
    assert [currency_exponent(c) for c in ("CNY", "USD", "EUR", "JPY", "KWD", "BHD", "CLF")] \
        == [2, 2, 2, 0, 3, 3, 4]


def test_parse_and_format():
    assert Money.parse("12.34", "CNY") == Money(1234, "CNY")
    assert Money.parse("1000", "JPY").amount_minor == 1000
    assert Money.parse("1.234", "KWD").amount_minor == 1234
    assert Money(-5, "USD").major_str() == "-0.05"


def test_refuses_float_and_bad_input():
    with pytest.raises(ValidationError) as err:
        to_minor(0.1, "CNY")  # type: ignore[arg-type]
    assert err.value.field == "amount"
    with pytest.raises(ValidationError):
        Money.parse("12.345", "CNY")  # more decimals than the currency has
    assert Money.parse("12.345", "CNY", Rounding.HALF_UP).amount_minor == 1235
    assert Money.parse("12.345", "CNY", Rounding.HALF_EVEN).amount_minor == 1234
    assert Money.parse("-12.345", "CNY", Rounding.FLOOR).amount_minor == -1235
    with pytest.raises(ValidationError) as err:
        Money(1, "XXQ")
    assert err.value.field == "currency"
    with pytest.raises(ValidationError):
        Money(1.0, "CNY")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money(AMOUNT_MINOR_MAX + 1, "CNY")
    with pytest.raises(ValidationError):
        Money.parse("1e5", "CNY")
    with pytest.raises(CurrencyMismatchError):
        Money(1, "CNY") + Money(1, "USD")


def test_multiply_rounds_explicitly():
    assert Money(1001, "CNY").multiply(Decimal("0.005")).amount_minor == 5  # 5.005 -> 5
    assert Money(1100, "CNY").multiply(Decimal("0.005")).amount_minor == 6  # 5.5 -> 6
    assert Money(1100, "CNY").multiply(Decimal("0.005"), Rounding.HALF_EVEN).amount_minor == 6
    assert Money(1300, "CNY").multiply(Decimal("0.005"), Rounding.HALF_EVEN).amount_minor == 6
    with pytest.raises(ValidationError):
        Money(1, "CNY").multiply(0.5)  # type: ignore[arg-type]


def test_allocate_examples():
    assert allocate_minor(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate_minor(5, [0, 1]) == [0, 5]
    assert allocate_minor(-100, [1, 1, 1]) == [-34, -33, -33]
    assert [m.amount_minor for m in allocate(Money(1000, "CNY"), [Decimal("0.7"),
                                                                   Decimal("0.3")])] == [700, 300]
    with pytest.raises(ValidationError):
        allocate_minor(10, [0, 0])
    with pytest.raises(ValidationError):
        allocate_minor(10, [1, -1])


@given(st.integers(min_value=-(10**15), max_value=10**15),
       st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30)
       .filter(lambda r: sum(r) > 0))
def test_allocate_never_loses_a_minor_unit(total, ratios):
    shares = allocate_minor(total, ratios)
    assert sum(shares) == total
    weight = sum(ratios)
    for share, ratio in zip(shares, ratios, strict=True):
        exact = Decimal(total) * ratio / weight
        assert abs(Decimal(share) - exact) < 1
        if ratio == 0:
            assert share == 0


def _largest_remainder_reference(total, ratios):
    """The textbook largest-remainder split in Fractions, to check the integer version."""
    from fractions import Fraction

    if total < 0:
        return [-s for s in _largest_remainder_reference(-total, ratios)]
    values = [Fraction(r) for r in ratios]
    exact = [total * v / sum(values) for v in values]
    shares = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:total - sum(shares)]:
        shares[i] += 1
    return shares


@given(st.integers(min_value=-(10**15), max_value=10**15),
       st.lists(st.one_of(st.integers(min_value=0, max_value=10**6),
                          st.decimals(min_value=0, max_value=1000, places=4,
                                      allow_nan=False, allow_infinity=False)),
                min_size=1, max_size=12).filter(lambda r: sum(r) > 0))
def test_allocate_matches_the_fraction_reference(total, ratios):
    assert allocate_minor(total, ratios) == _largest_remainder_reference(total, ratios)


def test_allocate_refuses_non_numbers_and_non_finite_ratios():
    for bad in ("1", None, Decimal("NaN"), Decimal("Infinity"), 0.5, True):
        with pytest.raises(ValidationError) as info:
            allocate_minor(10, [1, bad])
        assert info.value.field == "ratios[1]"


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6,
                   allow_nan=False, allow_infinity=False),
       st.sampled_from(list(Rounding)))
def test_to_minor_is_within_one_unit(value, rounding):
    minor = to_minor(value, "CNY", rounding)
    assert abs(Decimal(minor) / 100 - value) < Decimal("0.01")

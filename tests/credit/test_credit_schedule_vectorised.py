import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.schedule import ScheduleTerms, build_schedule
from creditpay.credit.schedule_vectorised import rates_to_micro, vectorised_schedules
from creditpay.errors import ValidationError
from creditpay.money import Rounding

SCOPES = [("monthly", "30/360"), ("quarterly", "30/360"), ("annual", "30/360"),
          ("semimonthly", "30/360"), ("weekly", "ACT/365"), ("biweekly", "ACT/360"),
          ("daily", "ACT/365")]


def _assert_equal_to_scalar(principals, rates_micro, periods, method, frequency, day_count,
                            fees_micro, rounding):
    result = vectorised_schedules(np.array(principals), np.array(rates_micro),
                                  np.array(periods), method, frequency, day_count,
                                  np.array(fees_micro), rounding)
    for row, (principal, rate, n, fee) in enumerate(
            zip(principals, rates_micro, periods, fees_micro, strict=True)):
        scalar = build_schedule(ScheduleTerms(
            principal_minor=principal, currency="CNY",
            annual_rate=Decimal(rate) / 1_000_000, periods=n, method=method,
            start_date=dt.date(2024, 1, 31), frequency=frequency, day_count=day_count,
            fee_rate_per_period=Decimal(fee) / 1_000_000, rounding=rounding))
        assert [i.principal_minor for i in scalar.installments] == \
            result.principal_minor[row, :n].tolist()
        assert [i.interest_minor for i in scalar.installments] == \
            result.interest_minor[row, :n].tolist()
        assert [i.fee_minor for i in scalar.installments] == result.fee_minor[row, :n].tolist()
        assert [i.total_minor for i in scalar.installments] == \
            result.total_minor[row, :n].tolist()
        assert [i.balance_after_minor for i in scalar.installments] == \
            result.balance_after_minor[row, :n].tolist()
        assert not result.total_minor[row, n:].any()
        if method == "equal_installment":
            assert scalar.level_payment_minor == result.level_payment_minor[row]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10**10), st.integers(0, 1_000_000), st.integers(1, 36),
                       st.integers(0, 20_000)), min_size=1, max_size=12),
    st.sampled_from(["equal_installment", "equal_principal", "flat"]),
    st.sampled_from(SCOPES),
    st.sampled_from(list(Rounding)),
)
def test_vectorised_equals_scalar_exactly(loans, method, scope, rounding):
    principals, rates, periods, fees = (list(column) for column in zip(*loans, strict=True))
    _assert_equal_to_scalar(principals, rates, periods, method, *scope, fees, rounding)


def test_vectorised_equals_scalar_on_a_large_random_batch():
    rng = np.random.default_rng(7)
    count = 400
    principals = rng.integers(1, 10**9, size=count).tolist()
    rates = (rng.integers(0, 3_601, size=count) * 100).tolist()
    periods = rng.integers(3, 25, size=count).tolist()
    _assert_equal_to_scalar(principals, rates, periods, "equal_installment", "monthly",
                            "30/360", [0] * count, Rounding.HALF_UP)


def test_half_way_payments_use_the_exact_path():
    # 1 minor unit for one month at 600 % a year (50 % a month): the annuity is exactly 1.5,
    # which float64 cannot be trusted to land on; the exact rational path decides.
    for rounding, expected in ((Rounding.HALF_UP, 2), (Rounding.HALF_DOWN, 1),
                               (Rounding.HALF_EVEN, 2)):
        result = vectorised_schedules(np.array([1]), np.array([6_000_000]), np.array([1]),
                                      rounding=rounding)
        assert result.exact_fallbacks == 1
        assert result.level_payment_minor.tolist() == [expected]
    result = vectorised_schedules(np.array([1_000, 3]), np.array([0, 0]), np.array([8, 2]))
    assert result.level_payment_minor.tolist() == [125, 2]  # 0 %: 3/2 rounds half up
    assert result.principal_minor[1, :2].tolist() == [2, 1]


def test_reference_example():
    result = vectorised_schedules(np.array([10_000]), np.array([70_000]), np.array([6]))
    assert result.total_minor[0].tolist() == [1701] * 5 + [1700]
    assert result.interest_minor[0].tolist() == [58, 49, 39, 29, 20, 10]


def test_scope_and_input_validation():
    with pytest.raises(ValidationError) as info:
        vectorised_schedules(np.array([100]), np.array([1]), np.array([3]), "equal_installment",
                             "monthly", "ACT/365")
    assert info.value.field == "day_count"
    with pytest.raises(ValidationError) as info:
        vectorised_schedules(np.array([0]), np.array([1]), np.array([3]))
    assert info.value.field == "principal_minor"
    with pytest.raises(ValidationError) as info:
        vectorised_schedules(np.array([100]), np.array([1]), np.array([3]), "bullet")
    assert info.value.field == "method"
    with pytest.raises(ValidationError) as info:
        rates_to_micro([Decimal("0.0712345")])
    assert info.value.field == "annual_rate[0]"
    assert rates_to_micro([Decimal("0.07"), Decimal("0.123456")]).tolist() == [70_000, 123_456]

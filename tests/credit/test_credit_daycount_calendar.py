import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.calendar import (
    Frequency,
    add_months,
    due_date,
    due_dates,
    term_due_date,
)
from creditpay.credit.daycount import (
    DayCount,
    day_count_days,
    period_year_fraction,
    year_fraction,
)
from creditpay.errors import ValidationError

D = dt.date


def test_enum_values_are_the_configuration_strings():
    assert [c.value for c in DayCount] == ["ACT/365", "ACT/360", "30/360", "ACT/ACT"]


@pytest.mark.parametrize(
    ("start", "end", "convention", "expected"),
    [
        (D(2024, 1, 1), D(2024, 2, 1), "ACT/365", Fraction(31, 365)),
        (D(2024, 1, 1), D(2025, 1, 1), "ACT/365", Fraction(366, 365)),
        (D(2024, 1, 1), D(2024, 2, 1), "ACT/360", Fraction(31, 360)),
        (D(2024, 1, 1), D(2024, 2, 1), "30/360", Fraction(30, 360)),
        # bond basis month-end rules: D1 31 -> 30; D2 31 -> 30 only when D1 is 30/31
        (D(2024, 1, 31), D(2024, 3, 31), "30/360", Fraction(60, 360)),
        (D(2024, 1, 30), D(2024, 3, 31), "30/360", Fraction(60, 360)),
        (D(2024, 2, 29), D(2024, 3, 31), "30/360", Fraction(32, 360)),
        (D(2024, 1, 31), D(2024, 2, 29), "30/360", Fraction(29, 360)),
        # ACT/ACT ISDA splits at 1 January: 2023-07-01..2024-07-01
        (D(2023, 7, 1), D(2024, 7, 1), "ACT/ACT", Fraction(184, 365) + Fraction(182, 366)),
        (D(2024, 1, 1), D(2025, 1, 1), "ACT/ACT", Fraction(1)),
        (D(2024, 3, 3), D(2024, 3, 3), "ACT/ACT", Fraction(0)),
    ],
)
def test_year_fraction_known_values(start, end, convention, expected):
    assert year_fraction(start, end, convention) == expected


def test_thirty_360_days_numerator():
    assert day_count_days(D(2024, 1, 31), D(2024, 3, 31), "30/360") == 60
    assert day_count_days(D(2024, 1, 31), D(2024, 3, 31), "ACT/365") == 60
    assert day_count_days(D(2023, 12, 31), D(2024, 12, 31), DayCount.THIRTY_360) == 360


def test_regular_month_period_is_exactly_a_twelfth_under_30_360():
    # Jan 31 -> Feb 29 is 29 days by the formula, one month by construction of the schedule
    assert period_year_fraction(D(2024, 1, 31), D(2024, 2, 29), "30/360", 1) == Fraction(1, 12)
    assert period_year_fraction(D(2024, 1, 31), D(2024, 2, 29), "ACT/365", 1) == Fraction(29, 365)


def test_bad_inputs_name_the_field():
    with pytest.raises(ValidationError) as info:
        year_fraction(D(2024, 2, 1), D(2024, 1, 1), "ACT/365")
    assert info.value.field == "end"
    with pytest.raises(ValidationError) as info:
        year_fraction(D(2024, 1, 1), D(2024, 2, 1), "ACT/366")
    assert info.value.field == "day_count"


@settings(max_examples=200, deadline=None)
@given(st.dates(D(1990, 1, 1), D(2090, 1, 1)), st.integers(0, 800), st.integers(0, 800))
def test_act_act_is_additive_and_close_to_act_365(start, a, b):
    middle = start + dt.timedelta(days=a)
    end = middle + dt.timedelta(days=b)
    whole = year_fraction(start, end, "ACT/ACT")
    assert whole == year_fraction(start, middle, "ACT/ACT") + year_fraction(middle, end, "ACT/ACT")
    days = (end - start).days
    assert Fraction(days, 366) <= whole <= Fraction(days, 365)


def test_add_months_keeps_the_anchor_day():
    anchor = D(2024, 1, 31)
    assert [add_months(anchor, k) for k in range(4)] == [
        D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30)]
    assert add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    assert add_months(D(2024, 3, 31), -1) == D(2024, 2, 29)
    assert add_months(D(2024, 2, 29), 12) == D(2025, 2, 28)


def test_monthly_due_dates_never_drift():
    dates = due_dates(D(2023, 12, 31), 4, "monthly")
    assert dates == [D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30)]


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        ("weekly", [D(2024, 1, 8), D(2024, 1, 15), D(2024, 1, 22)]),
        ("biweekly", [D(2024, 1, 15), D(2024, 1, 29), D(2024, 2, 12)]),
        ("quarterly", [D(2024, 4, 1), D(2024, 7, 1), D(2024, 10, 1)]),
        ("annual", [D(2025, 1, 1), D(2026, 1, 1), D(2027, 1, 1)]),
        ("daily", [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)]),
        ("semimonthly", [D(2024, 1, 16), D(2024, 2, 1), D(2024, 2, 16)]),
    ],
)
def test_frequencies(frequency, expected):
    assert due_dates(D(2024, 1, 1), 3, frequency) == expected


def test_semimonthly_second_half_clamps_to_month_end():
    anchor = D(2024, 1, 15)
    assert [due_date(anchor, k, Frequency.SEMIMONTHLY) for k in range(5)] == [
        D(2024, 1, 15), D(2024, 1, 30), D(2024, 2, 15), D(2024, 2, 29), D(2024, 3, 15)]
    anchor = D(2024, 1, 31)
    assert [due_date(anchor, k, "semimonthly") for k in range(4)] == [
        D(2024, 1, 31), D(2024, 2, 16), D(2024, 2, 29), D(2024, 3, 16)]


def test_first_due_date_anchors_the_series():
    assert due_dates(D(2024, 1, 10), 3, "monthly", D(2024, 2, 29)) == [
        D(2024, 2, 29), D(2024, 3, 29), D(2024, 4, 29)]
    with pytest.raises(ValidationError) as info:
        due_dates(D(2024, 1, 10), 3, "monthly", D(2024, 1, 10))
    assert info.value.field == "first_due_date"


def test_term_in_days():
    assert term_due_date(D(2024, 2, 20), 14) == D(2024, 3, 5)
    with pytest.raises(ValidationError) as info:
        term_due_date(D(2024, 2, 20), 0)
    assert info.value.field == "term_days"
    with pytest.raises(ValidationError) as info:
        due_dates(D(2024, 1, 1), 0, "monthly")
    assert info.value.field == "periods"

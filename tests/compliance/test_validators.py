"""One module of input validators (platform.validators): each rule is one function, and the
modules that had their own copy now refuse bad input through it, naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.credit.schedule import Method, ScheduleTerms
from creditpay.errors import ValidationError
from creditpay.parties.devices import device_sightings
from creditpay.payments.history import customer_activity
from creditpay.platform.validators import check_date, check_language, check_minor, check_rate
from creditpay.protection.withdrawal import withdrawal_deadline
from creditpay.risk.decisions.queries import consumer_reasons

AWARE = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


@given(st.dates())
def test_check_date_takes_dates(day) -> None:
    assert check_date(day, "day") == day


@given(st.datetimes())
def test_check_date_refuses_datetimes(moment) -> None:
    with pytest.raises(ValidationError) as raised:
        check_date(moment, "day")
    assert raised.value.field == "day"


@given(st.integers(min_value=-(2**64), max_value=2**64), st.integers(0, 10))
def test_check_minor_bounds(value, minimum) -> None:
    if minimum <= value <= 2**63 - 1:
        assert check_minor(value, "amount_minor", minimum=minimum) == value
    else:
        with pytest.raises(ValidationError):
            check_minor(value, "amount_minor", minimum=minimum)


def test_bools_floats_and_other_languages_are_refused() -> None:
    for call in (lambda: check_minor(True, "x"), lambda: check_minor(1.0, "x"),
                 lambda: check_rate(0.1, "x"), lambda: check_language("fr", "x")):
        with pytest.raises(ValidationError) as raised:
            call()
        assert raised.value.field == "x"


@pytest.mark.parametrize("which", ["sightings", "activity"])
def test_naive_since_is_refused_naming_since(store, which) -> None:
    # These checked both times but named "before" for a naive "since" (own copy of the rule).
    read = device_sightings if which == "sightings" else customer_activity
    naive = dt.datetime(2025, 2, 1)
    with store.engine.connect() as conn:
        with pytest.raises(ValidationError) as raised:
            read(conn, "cus_1", before=AWARE, since=naive)
        assert raised.value.field == "since"
        with pytest.raises(ValidationError) as raised:
            read(conn, "cus_1", before=naive)
        assert raised.value.field == "before"


def test_callers_refuse_through_the_shared_rules() -> None:
    with pytest.raises(ValidationError) as raised:
        consumer_reasons([], "fr")
    assert raised.value.field == "lang"
    with pytest.raises(ValidationError) as raised:
        ScheduleTerms(principal_minor=0, currency="CNY", annual_rate=0, periods=3,
                      method=Method.EQUAL_INSTALLMENT, start_date=dt.date(2025, 1, 1))
    assert raised.value.field == "principal_minor"
    with pytest.raises(ValidationError) as raised:
        withdrawal_deadline(AWARE)
    assert raised.value.field == "origination_date"

"""The pure bureau mapper (creditpay.reporting.bureau_mapper): for any month-end account
state, the PBOC and Metro 2 status codes agree with the status and days past due, no amount
is negative, the past-due amount never exceeds the balance, a closed account has a closure
date and owes nothing, lines report their limit and plans and loans their principal lent."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from creditpay.credit.bureau_source import MonthEndAccount
from creditpay.reporting.bureau_mapper import (
    METRO2_STATUS,
    PAYMENT_RATING,
    PBOC_STATUS,
    remaining_term_months,
    to_record,
)
from creditpay.risk.bureau import RECORD_FIELDS

MONTH, MONTH_END = "2025-04", dt.date(2025, 4, 30)
amounts = st.integers(-1_000, 10_000_000)  # negatives: the mapper never passes one on


@st.composite
def accounts(draw: st.DrawFn) -> MonthEndAccount:
    kind = draw(st.sampled_from(("line", "plan", "loan")))
    status = draw(st.sampled_from(("active", "closed", "written_off")))
    written_off = draw(st.integers(0, 5_000_000)) if status == "written_off" else 0
    return MonthEndAccount(
        account_id=f"a{draw(st.integers(1, 99))}", kind=kind, customer_id="c1",
        currency="CNY", product_code="huabei", status=status,
        opened_on=draw(st.dates(dt.date(2020, 1, 1), MONTH_END)),
        dpd=draw(st.integers(0, 800)), principal_minor=draw(amounts),
        interest_due_minor=draw(amounts), fee_due_minor=draw(amounts),
        penalty_due_minor=draw(amounts), written_off_minor=written_off,
        recovered_minor=draw(st.integers(0, written_off + 10)),
        written_off_on=MONTH_END if status == "written_off" else None,
        principal_original_minor=draw(st.integers(0, 10_000_000)),
        limit_minor=draw(st.one_of(st.none(), st.integers(0, 10_000_000))),
        last_due_date=draw(st.one_of(st.none(), st.dates(dt.date(2024, 1, 1),
                                                         dt.date(2028, 12, 31)))),
        closed_on=draw(st.one_of(st.none(), st.dates(dt.date(2025, 4, 1), MONTH_END)))
        if status == "closed" else None,
        past_due_minor=draw(st.one_of(st.none(), amounts)),
        open_at_previous_month_end=draw(st.booleans()))


@given(accounts())
def test_record_is_consistent_with_status_and_dpd(account: MonthEndAccount) -> None:
    record = to_record(account, MONTH, MONTH_END)
    for name in RECORD_FIELDS:
        value = getattr(record, name)
        if name.endswith("_minor") or name in ("dpd", "months_past_due",
                                                "remaining_term_months"):
            assert isinstance(value, int) and value >= 0, (name, value)
    assert record.amount_past_due_minor <= record.balance_minor
    assert record.pboc_account_status in PBOC_STATUS
    assert record.metro2_status in METRO2_STATUS
    assert record.payment_rating in PAYMENT_RATING
    assert record.month == MONTH and record.account_id == account.account_id
    if account.status == "closed":
        assert record.closed_on and dt.date.fromisoformat(record.closed_on) <= MONTH_END
        assert (record.pboc_account_status, record.metro2_status) == ("3", "13")
        assert record.balance_minor == record.amount_past_due_minor == 0
        assert record.scheduled_payment_minor == 0
    else:
        assert record.closed_on == ""
    if account.status == "written_off":
        assert (record.pboc_account_status, record.metro2_status,
                record.payment_rating, record.five_class) == ("4", "97", "L", "5")
        assert record.balance_minor == max(0, account.written_off_minor
                                           - account.recovered_minor)
        assert record.charge_off_minor == account.written_off_minor
    if account.status == "active":
        assert record.dpd == account.dpd
        assert record.pboc_account_status == ("2" if account.dpd > 0 else "1")
        assert record.months_past_due == -(-account.dpd // 30)
        delinquent = account.dpd >= 30
        assert (record.metro2_status != "11") == delinquent
        assert (record.payment_rating != "0") == delinquent
        if account.dpd == 0:
            assert record.amount_past_due_minor == 0
            assert record.five_class == "1"
    if account.kind == "line":
        assert record.account_type == "R1" and record.portfolio_type == "R"
        assert record.credit_limit_minor == max(0, account.limit_minor or 0)
        assert record.original_amount_minor == 0 and record.remaining_term_months == 0
    else:
        assert record.account_type == "D1" and record.portfolio_type == "I"
        assert record.original_amount_minor == record.credit_limit_minor \
            == account.principal_original_minor


@given(accounts())
def test_the_worse_the_delinquency_the_worse_the_codes(account: MonthEndAccount) -> None:
    from dataclasses import replace

    if account.status != "active":
        return
    order = list(PAYMENT_RATING)
    worse = replace(account, dpd=account.dpd + 30)
    assert order.index(to_record(worse, MONTH, MONTH_END).payment_rating) >= \
        order.index(to_record(account, MONTH, MONTH_END).payment_rating)
    assert to_record(worse, MONTH, MONTH_END).five_class >= \
        to_record(account, MONTH, MONTH_END).five_class


def test_metro2_bands_and_remaining_term() -> None:
    base = MonthEndAccount(
        account_id="a", kind="loan", customer_id="c", currency="CNY", product_code="p",
        status="active", opened_on=dt.date(2025, 1, 1), dpd=0, principal_minor=90_000,
        interest_due_minor=0, fee_due_minor=0, penalty_due_minor=0, written_off_minor=0,
        recovered_minor=0, written_off_on=None, principal_original_minor=120_000,
        limit_minor=None, last_due_date=dt.date(2025, 7, 1), closed_on=None,
        past_due_minor=0, open_at_previous_month_end=True)
    from dataclasses import replace

    codes = {dpd: to_record(replace(base, dpd=dpd, past_due_minor=10_000), MONTH, MONTH_END)
             for dpd in (29, 30, 60, 90, 120, 150, 180)}
    assert [r.metro2_status for r in codes.values()] == ["11", "71", "78", "80", "82", "83",
                                                         "84"]
    assert [r.payment_rating for r in codes.values()] == ["0", "1", "2", "3", "4", "5", "6"]
    assert codes[60].amount_past_due_minor == 10_000 and codes[60].months_past_due == 2
    record = to_record(base, MONTH, MONTH_END)
    assert record.remaining_term_months == 3  # May, June, July
    assert record.scheduled_payment_minor == 30_000
    assert remaining_term_months(MONTH_END, dt.date(2025, 4, 30)) == 0
    assert remaining_term_months(MONTH_END, None) == 0

"""Reports for any past closed business date (issue #16), on both stores: the daily and
monthly regulatory reports and the provision run of a date D, made later (after payments,
complaints handled, further closes of business), equal the ones made on D; dates not
closed, or closed before day-end positions were kept, are refused naming ``date``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select

from creditpay.credit import service as S
from creditpay.credit.day_end import live_positions, stored_positions
from creditpay.credit.tables import credit_accounts, credit_day_end_positions
from creditpay.errors import StateError
from creditpay.protection.complaints import (
    acknowledge_complaint,
    complaint_stats,
    open_complaint,
    resolve_complaint,
)
from creditpay.reporting import provisions as P
from creditpay.reporting import regulatory as R
from tests.catalogues import CATALOGUE
from tests.compliance.test_compliance_provisions import build_portfolio, build_wallet
from tests.credit.servicing_helpers import CNY, close_days, close_until

D = dt.date
KEY = b"k" * 32


def _sections(report: R.RegulatoryReport) -> dict[str, tuple]:
    return {s.name: (s.columns, s.rows) for s in report.sections}


def test_past_reports_equal_the_reports_made_that_day(uow, clock):
    build_portfolio(uow, clock, D(2025, 4, 15))
    with uow.begin() as tx:
        complaint = open_complaint(tx, customer_id="c1", subject_type="account",
                                   subject_id="loan-c1", category="collections_conduct",
                                   channel="app", request_id="cmp-past")
    close_days(uow, clock, 1)  # 2025-04-15 closed; the complaint is open
    day = D(2025, 4, 15)
    with uow.connect() as conn:
        daily_then = R.daily_report(conn, day, pseudonym_key=KEY)
        march_then = R.monthly_report(conn, 2025, 3, pseudonym_key=KEY)
        provisions_then = P.compute_provisions(conn, day).as_dict(accounts=True)
        # the stored positions of the day are its live state right after its close
        assert stored_positions(conn, day) == live_positions(conn)
    assert dict(daily_then.section("complaints").rows)["by_status.open"] == 1

    # Everything that can move afterwards does: a repayment, the complaint handled,
    # a second loan, more closes of business (dpd, accrual, billing).
    with uow.begin() as tx:
        S.repay(tx, repayment_id="rep-past", customer_id="c1", currency=CNY,
                amount_minor=40_000, source_account_id=build_wallet(tx, "c1"),
                target="loan-c1", catalogue=CATALOGUE)
    clock.advance(hours=2)
    with uow.begin() as tx:
        acknowledge_complaint(tx, complaint.id, "staff-1")
        resolve_complaint(tx, complaint.id, "staff-1", "upheld")
    close_until(uow, clock, D(2025, 5, 20))
    with uow.connect() as conn:
        moved = {p.account_id: p for p in live_positions(conn)}
        then = {p.account_id: p for p in stored_positions(conn, day) or []}
        assert moved["loan-c1"] != then["loan-c1"]  # the live state did move
        daily_later = R.daily_report(conn, day, pseudonym_key=KEY)
        march_later = R.monthly_report(conn, 2025, 3, pseudonym_key=KEY)
        provisions_later = P.compute_provisions(conn, day).as_dict(accounts=True)
        april = R.monthly_report(conn, 2025, 4, pseudonym_key=KEY)
        today = R.daily_report(conn, D(2025, 5, 19), pseudonym_key=KEY)
    assert _sections(daily_later) == _sections(daily_then)
    assert _sections(march_later) == _sections(march_then)
    assert provisions_later == provisions_then
    assert april.snapshot_date == D(2025, 4, 30)
    assert dict(today.section("complaints").rows)["total"] == 0  # opened on 04-15 only
    assert _sections(today) != _sections(daily_then)


def test_dates_without_positions_are_refused(uow, clock):
    build_portfolio(uow, clock, D(2025, 3, 20))
    with uow.connect() as conn:
        with pytest.raises(StateError) as err:
            R.daily_report(conn, D(2025, 3, 20), pseudonym_key=KEY)  # not closed yet
        assert err.value.field == "date"
        with pytest.raises(StateError) as err:
            P.compute_provisions(conn, D(2025, 3, 25))
        assert err.value.field == "date"
    # Dates closed before day-end positions were kept (as after the upgrade) have none:
    # the last closed date still reports from the live state, earlier ones cannot.
    with uow.begin() as tx:
        tx.conn.execute(delete(credit_day_end_positions))
    with uow.connect() as conn:
        last = R.daily_report(conn, D(2025, 3, 19), pseudonym_key=KEY)
        assert len(last.section("loan_level").rows) == conn.execute(
            select(func.count()).select_from(credit_accounts)).scalar_one()
        with pytest.raises(StateError) as err:
            R.daily_report(conn, D(2025, 3, 18), pseudonym_key=KEY)
        assert err.value.field == "date" and "no day-end positions" in str(err.value)


def test_close_of_business_stores_positions_once(uow, clock):
    build_portfolio(uow, clock, D(2025, 3, 5))
    with uow.connect() as conn:
        per_date = dict(conn.execute(
            select(credit_day_end_positions.c.business_date, func.count())
            .group_by(credit_day_end_positions.c.business_date)).all())
        accounts = conn.execute(select(func.count()).select_from(credit_accounts)
                                ).scalar_one()
    assert per_date == {D(2025, 3, day): accounts for day in range(1, 5)}


def test_provisions_are_posted_for_the_last_closed_date_only(uow, clock):
    build_portfolio(uow, clock, D(2025, 4, 3))
    with pytest.raises(StateError) as err, uow.begin() as tx:
        P.post_provisions(tx, D(2025, 4, 1))
    assert err.value.field == "date"
    with uow.begin() as tx:
        _, postings = P.post_provisions(tx, D(2025, 4, 2))
    # the refused date moved nothing: the last date's posting is the first one
    assert postings and not postings[0].replayed
    assert postings[0].allowance_before_minor == 0


def test_complaint_statistics_as_of_a_past_time(uow, clock):
    with uow.begin() as tx:
        first = open_complaint(tx, customer_id="c1", subject_type="account",
                               subject_id="a1", category="collections_conduct",
                               channel="app", request_id="cmp-a")
    opened = clock.now()
    clock.advance(hours=1)
    with uow.connect() as conn:
        then = complaint_stats(conn, clock.now(), opened_from=opened,
                               opened_to=clock.now()).as_dict()
    moment = clock.now()
    clock.advance(days=20)  # past both SLA timers, then handled
    with uow.begin() as tx:
        acknowledge_complaint(tx, first.id, "staff-1")
        resolve_complaint(tx, first.id, "staff-1", "upheld")
    with uow.connect() as conn:
        later = complaint_stats(conn, moment, opened_from=opened, opened_to=moment).as_dict()
        now = complaint_stats(conn, clock.now(), opened_from=opened,
                              opened_to=moment).as_dict()
    assert later == then
    assert then["by_status"]["open"] == 1 and then["resolve_decided"] == 0
    assert now["by_status"]["resolved"] == 1 and now["resolve_breached"] == 1


def _reference_positions(conn) -> list:
    """The positions computed in Python from the book's rows, as the reports did before
    the set-based statement (the servicing's own rounding, plans.accrued_minor)."""
    from decimal import Decimal

    from creditpay.credit.day_end import Position
    from creditpay.credit.plans import accrued_minor
    from creditpay.credit.queries import book_rows
    from creditpay.ledger.queries import posted_net_credits

    book = book_rows(conn)
    available = posted_net_credits(conn, (ln.available_account_id
                                          for ln in book.lines.values()))
    out = []
    for row in book.accounts:
        live = row["status"] == "active"
        interest_due, fee_due = book.open_due.get(int(row["seq"]), (0, 0))
        line = book.lines.get(row["account_id"])
        undrawn = max(0, available.get(line.available_account_id, 0)) if (
            row["kind"] == "line" and live and line is not None
            and line.status == "active") else 0
        out.append(Position(
            row["account_id"], row["kind"], row["customer_id"], row["currency"],
            row["product_code"], int(row["product_version"]), row["status"],
            row["opened_on"], int(row["dpd"]), row["bucket"],
            (row["principal_unbilled_minor"] + row["principal_billed_minor"]
             + row["principal_past_due_minor"]) if live else 0,
            interest_due if live else 0,
            (fee_due + row["late_fee_unpaid_minor"]) if live else 0,
            row["penalty_unpaid_minor"] if live else 0,
            (accrued_minor(row, "interest") + accrued_minor(row, "penalty")) if live else 0,
            int(row["written_off_minor"]), int(row["recovered_minor"]),
            row["written_off_on"], Decimal(int(row["interest_rate_micro"])) / 1_000_000,
            row["line_id"], undrawn, book.last_due.get(int(row["seq"]))))
    return out


@pytest.mark.parametrize("until", [D(2025, 3, 12), D(2025, 9, 6)])
def test_the_set_based_positions_equal_the_book_computed_in_python(uow, clock, until):
    build_portfolio(uow, clock, until)  # September: c1 written off, others delinquent
    with uow.connect() as conn:
        positions = live_positions(conn)
        reference = _reference_positions(conn)
        assert len(positions) == conn.execute(
            select(func.count()).select_from(credit_accounts)).scalar_one()
    assert positions == reference
    assert any(p.accrued_minor > 0 for p in positions)
    assert any(p.kind == "line" and p.undrawn_minor > 0 for p in positions)
    if until.month == 3:  # c1's loan was due 03-08 and is unpaid
        assert any(p.interest_due_minor > 0 for p in positions)
    else:
        assert any(p.status == "written_off" for p in positions)

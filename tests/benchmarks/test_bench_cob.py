"""The close-of-business benchmark's seeding (SQLite, a throw-away file): the array date
arithmetic agrees with the calendar's, the seeded books balance and match the credit rows,
and the measured run uses the store's durable settings, not the seeding's. No timing is
asserted."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.benchmarks import cob as B
from creditpay.clock import SimulatedClock
from creditpay.credit import products as P
from creditpay.credit.calendar import add_months
from creditpay.credit.cob_vectorised import day_number
from creditpay.credit.tables import credit_accounts, credit_installments, credit_lines
from creditpay.db.engine import driver_connection, make_engine
from creditpay.ledger.tables import ledger_accounts

_EPOCH = dt.date(1970, 1, 1)


def _next_due(opened: dt.date, today: dt.date) -> dt.date:
    """The seeder's rule, one account at a time with the calendar (the loop it replaced)."""
    months = 1
    due = add_months(opened, months)
    while due < today:
        months += 1
        due = add_months(opened, months)
    return due


@settings(max_examples=300, deadline=None)
@given(today=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)),
       ages=st.lists(st.integers(min_value=1, max_value=800), min_size=1, max_size=40))
def test_next_due_days_are_the_calendar_anniversaries(today, ages):
    opened = [today - dt.timedelta(days=age) for age in ages]
    first, second = B.next_due_days(np.asarray([day_number(d) for d in opened]),
                                    day_number(today))
    for day, due, after in zip(opened, first.tolist(), second.tolist(), strict=True):
        expected = _next_due(day, today)
        assert _EPOCH + dt.timedelta(days=due) == expected, (day, today)
        assert _EPOCH + dt.timedelta(days=after) == add_months(expected, 1, day.day)


def test_month_ends_clamp_and_keep_the_anchor():
    # Opened on the 31st: the anniversaries are the last day of short months, the 31st after.
    first, second = B.next_due_days(np.asarray([day_number(dt.date(2024, 1, 31))]),
                                    day_number(dt.date(2024, 2, 10)))
    assert _EPOCH + dt.timedelta(days=int(first[0])) == dt.date(2024, 2, 29)
    assert _EPOCH + dt.timedelta(days=int(second[0])) == dt.date(2024, 3, 31)


def test_seeded_books_balance_and_match_the_credit_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'cob.db'}"
    clock = SimulatedClock(dt.datetime.combine(B.BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
    seeded = B.seed_database(url, 1_500, clock, catalogue=P.load_catalogue())
    assert seeded["accounts"] == 1_500 and seeded["lines"] == 600
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert L.verify_ledger(conn).ok
            assert driver_connection(conn).execute("PRAGMA synchronous").fetchone()[0] == 2
            ca, ci = credit_accounts.c, credit_installments.c
            assert conn.execute(select(func.count()).select_from(credit_accounts)
                                ).scalar_one() == 1_500
            # Each customer's principal receivable holds the principal of all its accounts.
            owed = dict(conn.execute(select(ca.principal_account_id, func.sum(
                ca.principal_unbilled_minor + ca.principal_billed_minor
                + ca.principal_past_due_minor)).group_by(ca.principal_account_id)).all())
            balances = L.get_accounts(conn, owed)
            assert {i: balances[i].balance_minor for i in owed} == owed
            # A plan's or loan's open installments carry exactly its principal.
            items = dict(conn.execute(select(ci.account_seq, func.sum(ci.principal_minor))
                                      .group_by(ci.account_seq)).all())
            for seq, kind, principal in conn.execute(select(
                    ca.seq, ca.kind, ca.principal_unbilled_minor + ca.principal_billed_minor
                    + ca.principal_past_due_minor)):
                if kind != "line":
                    assert items.get(seq, 0) == principal, seq
            # The line's limit less what its plans and revolving balance use is available.
            lines = conn.execute(select(credit_lines.c.available_account_id,
                                        credit_lines.c.limit_minor)).all()
            available = L.get_accounts(conn, [a for a, _ in lines])
            used = dict(conn.execute(select(ca.line_available_account_id, func.sum(
                ca.principal_original_minor)).where(ca.kind != "loan").group_by(
                ca.line_available_account_id)).all())
            for account_id, limit in lines:
                assert available[account_id].balance_minor == limit - used.get(account_id, 0)
            assert conn.execute(select(func.count()).select_from(ledger_accounts)
                                ).scalar_one() >= seeded["ledger_accounts"]
    finally:
        engine.dispose()


def test_the_benchmark_runs_on_the_durable_settings():
    figures = B.run_benchmark(accounts=600, chunk_size=250)
    assert figures["run_synchronous"] == "FULL"
    assert figures["ledger_verified"] is True
    assert figures["report"]["accounts"] == 600 and figures["report"]["chunks"] == 3

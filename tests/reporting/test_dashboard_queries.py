"""The dashboard's fast query paths against a straightforward recomputation (issue #16).

The book, grade and fraud queries read covering indexes in a particular order, one grade or
one month at a time, and fold groups in Python. Here random books, decisions, screenings and
labels are written to the real tables (both stores), read back row by row with a plain
SELECT, and every figure is recomputed in Python from those rows: the fast paths must give
exactly the same answer. A second test checks on SQLite that the queries read the indexes
they were built for (no table scan, no sort of every row): the reason they are fast."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, insert, select

from creditpay.credit import portfolio_queries as cq
from creditpay.credit.tables import credit_accounts
from creditpay.reporting import dashboard as D
from creditpay.risk.decisions.tables import (
    credit_decisions,
    credit_policies,
    credit_referral_reviews,
)
from creditpay.risk.fraud import portfolio_queries as fq
from creditpay.risk.fraud.tables import fraud_labels, fraud_screenings

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
PRODUCTS = ("huabei", "jiebei")
CURRENCIES = ("CNY", "USD")
BUCKETS = ("M0", "M1", "M2", "M3", "M6+")
DAY0 = dt.date(2024, 11, 1)

accounts_st = st.lists(st.fixed_dictionaries({
    "customer": st.integers(0, 6), "product": st.sampled_from(PRODUCTS),
    "currency": st.sampled_from(CURRENCIES),
    "status": st.sampled_from(("active", "active", "closed", "written_off")),
    "dpd": st.integers(0, 200), "bucket": st.sampled_from(BUCKETS),
    "opened": st.integers(0, 240), "amounts": st.lists(st.integers(0, 10**9), min_size=5,
                                                       max_size=5),
    "written_off_on": st.none() | st.integers(0, 240)}), max_size=14)
decisions_st = st.lists(st.fixed_dictionaries({
    "customer": st.integers(0, 6), "product": st.sampled_from(PRODUCTS),
    "currency": st.sampled_from(CURRENCIES), "grade": st.sampled_from((None, "A", "B", "C")),
    "outcome": st.sampled_from(("approve", "decline", "refer")),
    "review": st.sampled_from((None, "approve", "decline")),
    "minute": st.integers(0, 240 * 1440)}), max_size=16)
events_st = st.lists(st.fixed_dictionaries({
    "currency": st.sampled_from(CURRENCIES),
    "decision": st.sampled_from(("approve", "decline", "review", "challenge")),
    "amount": st.none() | st.integers(0, 10**9), "minute": st.integers(0, 240 * 1440),
    "label": st.sampled_from((None, "chargeback", "analyst_verdict", "consumer_report")),
    "is_fraud": st.booleans()}), max_size=12)
day_st = st.none() | st.integers(0, 240).map(lambda n: DAY0 + dt.timedelta(days=n))


def _at(minute: int) -> dt.datetime:
    return dt.datetime.combine(DAY0, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=minute)


def _write(conn: Any, accounts: list[Any], decisions: list[Any], events: list[Any]) -> None:
    for table in (credit_referral_reviews, credit_decisions, credit_accounts, fraud_labels,
                  fraud_screenings):
        conn.execute(delete(table))
    if conn.execute(select(credit_policies.c.content_hash)).first() is None:
        conn.execute(insert(credit_policies).values(
            content_hash="h" * 64, policy_kind="application", policy_id="p", version="1",
            document={}, stored_at=NOW))
    for i, a in enumerate(accounts):
        unbilled, billed, past_due, penalty, late_fee = a["amounts"]
        conn.execute(insert(credit_accounts).values(
            account_id=f"A{i}", kind="loan", customer_id=f"c{a['customer']}",
            currency=a["currency"], product_code=a["product"], product_version=1,
            status=a["status"], opened_on=DAY0 + dt.timedelta(days=a["opened"]),
            principal_original_minor=unbilled + billed + past_due, interest_rate_micro=0,
            penalty_rate_micro=0, year_basis_days=365, interest_base=0, grace_days=0,
            late_fee_minor=0, write_off_dpd=180, principal_unbilled_minor=unbilled,
            principal_billed_minor=billed, principal_past_due_minor=past_due,
            penalty_unpaid_minor=penalty, late_fee_unpaid_minor=late_fee,
            interest_accrual_num=0, penalty_accrual_num=0, interest_posted_minor=0,
            penalty_posted_minor=0, fee_posted_minor=0, dpd=a["dpd"], bucket=a["bucket"],
            written_off_minor=past_due, recovered_minor=0,
            written_off_on=(None if a["written_off_on"] is None
                            else DAY0 + dt.timedelta(days=a["written_off_on"])),
            auto_debit_enabled=False, prepayment_rule="none", fee_payer="customer",
            subsidy_fee_minor=0, principal_account_id=1, interest_account_id=1,
            fee_account_id=1, penalty_account_id=1, updated_at=NOW))
    for i, d in enumerate(decisions):
        conn.execute(insert(credit_decisions).values(
            id=f"d{i}", application_id=f"app{i}", customer_id=f"c{d['customer']}",
            product_code=d["product"], decided_at=_at(d["minute"]), outcome=d["outcome"],
            grade=d["grade"], currency=d["currency"], model_name="m", model_version=1,
            model_role="champion", policy_id="p", policy_version="1", policy_hash="h" * 64,
            request_sha256="", inputs={}, features={}, model_output={}, policy_output={},
            reasons=[]))
        if d["outcome"] == "refer" and d["review"] is not None:
            conn.execute(insert(credit_referral_reviews).values(
                decision_id=f"d{i}", verdict=d["review"], reviewer_id="op", reviewed_at=NOW))
    for i, e in enumerate(events):
        conn.execute(insert(fraud_screenings).values(
            subject_type="payment", subject_id=f"p{i}", customer_id="c1", device_id="d",
            merchant_id="m", amount_minor=e["amount"] or 0, currency=e["currency"],
            scenario="checkout", screened_at=_at(e["minute"]), features={}, rules_hit=[],
            score=0.1, decision=e["decision"], reasons=[], model_version="v",
            features_version="v", rules_version="v", thresholds={}))
        if e["label"] is not None:
            conn.execute(insert(fraud_labels).values(
                source=e["label"], reference=f"r{i}", subject_type="payment_intent",
                subject_id=f"p{i}", transaction_at=_at(e["minute"]),
                labelled_at=_at(e["minute"] + 1440), is_fraud=e["is_fraud"],
                amount_minor=e["amount"], currency=e["currency"], recorded_by="t"))


def _in(day: dt.date, date_from: dt.date | None, date_to: dt.date | None) -> bool:
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


def _utc_day(value: dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()


def _rows(conn: Any, table: Any) -> list[Any]:
    return list(conn.execute(select(table)))


def expected_book(conn: Any, currency: str, date_from: dt.date | None,
                  date_to: dt.date | None, product: str | None) -> list[cq.BookCell]:
    cells: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0, 0, 0])
    for a in _rows(conn, credit_accounts):
        if (a.currency != currency or a.status != "active"
                or not _in(a.opened_on, date_from, date_to)
                or (product is not None and a.product_code != product)):
            continue
        principal = (a.principal_unbilled_minor + a.principal_billed_minor
                     + a.principal_past_due_minor)
        t = cells[(a.product_code, a.bucket, a.dpd >= 30)]
        t[0] += 1
        t[1] += principal + a.penalty_unpaid_minor + a.late_fee_unpaid_minor
        t[2] += principal
    return [cq.BookCell(p, b, d30, *t) for (p, b, d30), t in sorted(cells.items())]


def expected_grades(conn: Any, currency: str, date_from: dt.date | None,
                    date_to: dt.date | None, product: str | None) -> list[D.GradeRow]:
    bad = {a.customer_id for a in _rows(conn, credit_accounts)
           if a.currency == currency and (a.dpd >= 30 or a.status == "written_off")}
    verdicts = {r.decision_id: r.verdict for r in _rows(conn, credit_referral_reviews)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    approved: dict[str, set[str]] = defaultdict(set)
    for d in _rows(conn, credit_decisions):
        if (d.currency != currency or not _in(_utc_day(d.decided_at), date_from, date_to)
                or (product is not None and d.product_code != product)):
            continue
        final = d.outcome if d.outcome != "refer" else verdicts.get(d.id, "refer")
        grade = d.grade if d.grade is not None else "-"
        counts[grade][0] += 1
        counts[grade][1] += final == "approve"
        counts[grade][2] += final == "decline"
        if final == "approve" and d.grade is not None:
            approved[grade].add(d.customer_id)
    rows = []
    for grade in sorted(set(counts) | set(approved)):
        n, ok, no = counts.get(grade, [0, 0, 0])
        customers = approved.get(grade, set())
        rows.append(D.GradeRow(grade, n, ok, no, n - ok - no, D.share(ok, n), len(customers),
                               len(customers & bad), D.share(len(customers & bad),
                                                             len(customers))))
    return rows


def expected_fraud(conn: Any, currency: str, date_from: dt.date | None,
                   date_to: dt.date | None, *, screenings: bool) -> list[fq.FraudMonth]:
    months: dict[str, dict[str, int]] = {}
    fields = ("screened", "screened_minor", "declined", "declined_minor", "held",
              "held_minor", "confirmed_caught", "confirmed_caught_minor", "lost", "lost_minor")

    def add(at: dt.datetime, name: str, amount: int | None) -> None:
        row = months.setdefault(_utc_day(at).strftime("%Y-%m"), dict.fromkeys(fields, 0))
        row[name] += 1
        row[f"{name}_minor"] += amount or 0

    if screenings:
        for s in _rows(conn, fraud_screenings):
            if s.currency == currency and _in(_utc_day(s.screened_at), date_from, date_to):
                add(s.screened_at, "screened", s.amount_minor)
                if s.decision in ("decline", "review"):
                    add(s.screened_at, {"decline": "declined", "review": "held"}[s.decision],
                        s.amount_minor)
    for lab in _rows(conn, fraud_labels):
        if (lab.is_fraud and lab.currency == currency
                and _in(_utc_day(lab.labelled_at), date_from, date_to)):
            add(lab.labelled_at, "confirmed_caught" if lab.source == "analyst_verdict"
                else "lost", lab.amount_minor)
    return [fq.FraudMonth(month=m, **v) for m, v in sorted(months.items())]


def expected_write_offs(conn: Any, currency: str, date_from: dt.date | None,
                        date_to: dt.date | None,
                        product: str | None) -> list[cq.WriteOffMonth]:
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for a in _rows(conn, credit_accounts):
        if (a.currency == currency and a.written_off_on is not None
                and _in(a.written_off_on, date_from, date_to)
                and (product is None or a.product_code == product)):
            t = months[a.written_off_on.strftime("%Y-%m")]
            t[0] += 1
            t[1] += a.written_off_minor
            t[2] += a.recovered_minor
    return [cq.WriteOffMonth(m, *t) for m, t in sorted(months.items())]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accounts_st, decisions_st, events_st, day_st, day_st,
       st.sampled_from((None, *PRODUCTS)), st.sampled_from(CURRENCIES))
def test_fast_paths_equal_a_recomputation(store: Any, accounts: list[Any],
                                          decisions: list[Any], events: list[Any],
                                          day_a: dt.date | None, day_b: dt.date | None,
                                          product: str | None, currency: str) -> None:
    if day_a is not None and day_b is not None and day_a > day_b:
        day_a, day_b = day_b, day_a
    with store.engine.begin() as conn:
        _write(conn, accounts, decisions, events)
    scope = {"date_from": day_a, "date_to": day_b}
    with store.engine.connect() as conn:
        assert cq.book_cells(conn, currency=currency, opened_from=day_a, opened_to=day_b,
                             product=product) == expected_book(conn, currency, day_a, day_b,
                                                               product)
        assert D.grades(conn, **scope, product=product, currency=currency) == \
            expected_grades(conn, currency, day_a, day_b, product)
        assert fq.fraud_by_month(conn, currency=currency, day_from=day_a, day_to=day_b) == \
            expected_fraud(conn, currency, day_a, day_b, screenings=True)
        assert fq.fraud_losses_by_month(conn, currency=currency, day_from=day_a,
                                        day_to=day_b) == \
            expected_fraud(conn, currency, day_a, day_b, screenings=False)
        assert cq.write_offs_by_month(conn, currency=currency, day_from=day_a, day_to=day_b,
                                      product=product) == \
            expected_write_offs(conn, currency, day_a, day_b, product)


def test_a_customer_approved_twice_in_a_grade_counts_once(store: Any) -> None:
    """c0 is approved by the engine and on review in grade A, and bad: one customer, one
    bad; c1 approved only on review in A; c2 approved in A and in B counts in each."""
    decisions = [
        {"customer": 0, "product": "huabei", "currency": "CNY", "grade": "A",
         "outcome": "approve", "review": None, "minute": 10},
        {"customer": 0, "product": "huabei", "currency": "CNY", "grade": "A",
         "outcome": "refer", "review": "approve", "minute": 20},
        {"customer": 1, "product": "huabei", "currency": "CNY", "grade": "A",
         "outcome": "refer", "review": "approve", "minute": 30},
        {"customer": 2, "product": "huabei", "currency": "CNY", "grade": "A",
         "outcome": "approve", "review": None, "minute": 40},
        {"customer": 2, "product": "huabei", "currency": "CNY", "grade": "B",
         "outcome": "approve", "review": None, "minute": 50}]
    accounts = [{"customer": 0, "product": "huabei", "currency": "CNY", "status": "active",
                 "dpd": 30, "bucket": "M2", "opened": 0, "amounts": [1, 0, 0, 0, 0],
                 "written_off_on": None}]
    with store.engine.begin() as conn:
        _write(conn, accounts, decisions, [])
    with store.engine.connect() as conn:
        assert [(g.grade, g.decisions, g.approved, g.approved_customers, g.bad_customers)
                for g in D.grades(conn)] == [("A", 4, 4, 3, 1), ("B", 1, 1, 1, 0)]


# What each view must not do over a large table: read it whole (``SCAN <table>``), sort
# its rows (``USE TEMP B-TREE``) or read decisions' rows through the decided_at index; the
# small tables (reviews, labels, month-end cells) may.
_LARGE = ("credit_accounts", "credit_decisions", "fraud_screenings")
# SQLite plans by the statistics ANALYZE wrote: these are those of the 1,000,000-account
# benchmark database (creditpay bench console), so the plans below are the plans there.
_MILLION_STATS = (
    ("credit_accounts", "ix_credit_accounts_book",
     "1000000 1000000 500000 166667 25642 1202 2 2 2 2 2 1"),
    # (customer_id, currency, status) since migration 0047_demo_scale_indexes.
    ("credit_accounts", "ix_credit_accounts_customer", "1000000 3 3 2"),
    ("credit_accounts", "ix_credit_accounts_line", "1000000 3"),
    ("credit_accounts", "ix_credit_accounts_bad", "79942 79942 1 1 1"),
    ("credit_accounts", "ix_credit_accounts_written_off", "5000 5000 5000 1667 1 1"),
    ("credit_decisions", "ix_credit_decisions_grade", "1000000 1000000 200000 66667 2 1 1"),
    ("credit_decisions", "ix_credit_decisions_decided_at", "1000000 1"),
    ("credit_decisions", "ix_credit_decisions_customer", "1000000 3 1 1 1 1 1"),
    ("fraud_screenings", "ix_fraud_screenings_time", "1000000 1 1 1 1"),
    ("fraud_labels", "ix_fraud_labels_since", "2000 1 1"),
    ("credit_referral_reviews", "sqlite_autoindex_credit_referral_reviews_1", "9974 1"))


def test_views_read_their_indexes_without_scanning_or_sorting(store: Any) -> None:
    if store.engine.dialect.name != "sqlite":
        return  # EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by its own statistics
    accounts = [{"customer": i % 5, "product": PRODUCTS[i % 2], "currency": "CNY",
                 "status": ("active", "written_off")[i % 7 == 0], "dpd": i * 7 % 120,
                 "bucket": BUCKETS[i % 5], "opened": i, "amounts": [i, 1, 2, 3, 4],
                 "written_off_on": i if i % 7 == 0 else None} for i in range(60)]
    decisions = [{"customer": i % 9, "product": PRODUCTS[i % 2], "currency": "CNY",
                  "grade": (None, "A", "B", "C")[i % 4],
                  "outcome": ("approve", "decline", "refer")[i % 3],
                  "review": ("approve", "decline", None)[i % 3 == 2 and i % 2],
                  "minute": i * 997} for i in range(80)]
    events = [{"currency": "CNY", "decision": ("approve", "decline", "review")[i % 3],
               "amount": i, "minute": i * 4001, "label": (None, "chargeback")[i % 9 == 0],
               "is_fraud": True} for i in range(80)]
    with store.engine.begin() as conn:
        _write(conn, accounts, decisions, events)
        conn.exec_driver_sql("ANALYZE")
        for table, index, stat in _MILLION_STATS:
            conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = ? AND idx = ?",
                                 (table, index))
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
                                 (table, index, stat))
    store.engine.dispose()  # new connections load the statistics
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.engine.connect() as conn:
            for name in ("receivables", "dpd30", "buckets", "grades", "fraud",
                         "revenue_losses"):
                statements.clear()
                D.run_view(conn, name, date_from=DAY0, date_to=dt.date(2025, 6, 30))
                for sql, parameters in list(statements):
                    plan = [row[3] for row in conn.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {sql}", parameters)]
                    for line in plan:
                        for table in _LARGE:
                            assert f"SCAN {table}" not in line, (name, sql, plan)
                        assert "ix_credit_decisions_decided_at" not in line, (name, sql, plan)
                    # Sorting is fine over the reviews or the bad customers' rows: few.
                    if any(table in sql for table in _LARGE) \
                            and "credit_referral_reviews" not in sql \
                            and not any("ix_credit_accounts_bad" in line for line in plan):
                        assert not any("TEMP B-TREE" in line for line in plan), (name, sql,
                                                                                plan)
                if name == "revenue_losses":
                    assert not any("fraud_screenings" in sql for sql, _ in statements)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)

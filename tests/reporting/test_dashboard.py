"""The portfolio dashboard's views on a small hand-built book, on both stores (issue #16).

Expected figures are worked out by hand from the rows inserted here (the arithmetic is
written out in the test, never taken from the SQL under test)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, update

from creditpay.credit.portfolio_queries import record_month_end
from creditpay.credit.tables import (
    credit_accounts,
    credit_month_end_cells,
    credit_month_end_states,
)
from creditpay.errors import ValidationError
from creditpay.reporting import dashboard as D
from creditpay.risk.decisions.tables import (
    credit_decisions,
    credit_policies,
    credit_referral_reviews,
)
from creditpay.risk.fraud.tables import fraud_labels, fraud_screenings

NOW = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
JAN, FEB = dt.date(2025, 1, 31), dt.date(2025, 2, 28)
_seq = iter(range(1, 10_000_000))


def q(numerator: int, denominator: int) -> Decimal:
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"),
                                                                rounding=ROUND_HALF_EVEN)


def account(conn: Any, account_id: str, *, customer: str, product: str, opened: dt.date,
            original: int, currency: str = "CNY", **state: Any) -> None:
    n = next(_seq)
    row: dict[str, Any] = dict(
        account_id=account_id, kind="loan", customer_id=customer, currency=currency,
        product_code=product, product_version=1, status="active", opened_on=opened,
        principal_original_minor=original, interest_rate_micro=0, penalty_rate_micro=0,
        year_basis_days=365, interest_base=0, grace_days=0, late_fee_minor=0,
        write_off_dpd=180, principal_unbilled_minor=0, principal_billed_minor=0,
        principal_past_due_minor=0, penalty_unpaid_minor=0, late_fee_unpaid_minor=0,
        interest_accrual_num=0, penalty_accrual_num=0, interest_posted_minor=0,
        penalty_posted_minor=0, fee_posted_minor=0, dpd=0, bucket="M0",
        written_off_minor=0, recovered_minor=0, auto_debit_enabled=False,
        prepayment_rule="none", fee_payer="customer", subsidy_fee_minor=0,
        principal_account_id=n, interest_account_id=n, fee_account_id=n,
        penalty_account_id=n, updated_at=NOW)
    row.update(state)
    conn.execute(insert(credit_accounts).values(**row))


def set_state(conn: Any, account_id: str, **state: Any) -> None:
    conn.execute(update(credit_accounts).where(credit_accounts.c.account_id == account_id)
                 .values(**state))


def decision(conn: Any, ident: str, customer: str, grade: str | None, outcome: str,
             day: int, review: str | None = None) -> None:
    conn.execute(insert(credit_decisions).values(
        id=ident, application_id=f"app_{ident}", customer_id=customer, product_code="huabei",
        decided_at=dt.datetime(2025, 1, day, 12, tzinfo=dt.UTC), outcome=outcome,
        grade=grade, currency="CNY", model_name="m", model_version=1, model_role="champion",
        policy_id="p", policy_version="1", policy_hash="h" * 64, request_sha256="",
        inputs={}, features={}, model_output={}, policy_output={}, reasons=[]))
    if review:
        conn.execute(insert(credit_referral_reviews).values(
            decision_id=ident, verdict=review, reviewer_id="op", reviewed_at=NOW))


def screening(conn: Any, ident: str, when: dt.datetime, decision_: str, amount: int) -> None:
    conn.execute(insert(fraud_screenings).values(
        subject_type="payment", subject_id=ident, customer_id="c1", device_id="d",
        merchant_id="m", amount_minor=amount, currency="CNY", scenario="checkout",
        screened_at=when, features={}, rules_hit=[], score=0.1, decision=decision_,
        reasons=[], model_version="v", features_version="v", rules_version="v",
        thresholds={}))


def label(conn: Any, ref: str, source: str, when: dt.datetime, amount: int,
          is_fraud: bool = True) -> None:
    conn.execute(insert(fraud_labels).values(
        source=source, reference=ref, subject_type="payment_intent", subject_id=ref,
        transaction_at=when, labelled_at=when, is_fraud=is_fraud, amount_minor=amount,
        currency="CNY", recorded_by="t"))


def build_book(conn: Any) -> None:
    """January: A1 current, A2 1-29 dpd, A4 90+ dpd, A6 1-29 dpd; recorded at Jan 31.
    February: A2 rolls to 45 dpd, A6 cures, A4 is written off, A3 opens; recorded Feb 28."""
    account(conn, "A1", customer="c1", product="huabei", opened=dt.date(2025, 1, 10),
            original=10_000, principal_unbilled_minor=10_000, interest_posted_minor=100)
    account(conn, "A2", customer="c2", product="huabei", opened=dt.date(2025, 1, 20),
            original=5_000, principal_past_due_minor=3_000, principal_billed_minor=1_000,
            dpd=15, bucket="M1", interest_posted_minor=50)
    account(conn, "A4", customer="c4", product="jiebei", opened=dt.date(2024, 12, 1),
            original=6_000, principal_past_due_minor=5_000, dpd=100, bucket="M3")
    account(conn, "A6", customer="c6", product="huabei", opened=dt.date(2025, 1, 5),
            original=8_000, principal_past_due_minor=6_000, dpd=20, bucket="M1")
    account(conn, "X1", customer="cx", product="huabei", opened=dt.date(2025, 1, 5),
            original=9_999, currency="USD", principal_unbilled_minor=9_999)
    assert record_month_end(conn, JAN) > 0
    set_state(conn, "A1", interest_posted_minor=150)
    set_state(conn, "A2", dpd=45, bucket="M2", penalty_unpaid_minor=100,
              late_fee_unpaid_minor=50, interest_posted_minor=80)
    set_state(conn, "A4", status="written_off", principal_past_due_minor=0,
              written_off_minor=5_000, written_off_on=dt.date(2025, 2, 20), dpd=0)
    set_state(conn, "A6", dpd=0, bucket="M0", principal_past_due_minor=0,
              principal_unbilled_minor=5_000)
    account(conn, "A3", customer="c3", product="jiebei", opened=dt.date(2025, 2, 5),
            original=20_000, principal_unbilled_minor=20_000, dpd=10, bucket="M1",
            interest_posted_minor=20)
    assert record_month_end(conn, FEB) > 0
    assert record_month_end(conn, FEB) == 0  # idempotent


RANGE = {"date_from": dt.date(2024, 1, 1), "date_to": dt.date(2025, 3, 31)}


@pytest.fixture
def book(store: Any) -> Any:
    with store.engine.begin() as conn:
        build_book(conn)
    return store.engine


def test_book_views(book: Any) -> None:
    with book.connect() as conn:
        # huabei: A1 10,000 + A2 (3,000 + 1,000 + 100 + 50) + A6 5,000; jiebei: A3 20,000.
        assert D.receivables_by_product(conn, **RANGE) == [
            D.ProductReceivable("huabei", 3, 19_150, 19_000, q(19_150, 39_150)),
            D.ProductReceivable("jiebei", 1, 20_000, 20_000, q(20_000, 39_150))]
        assert D.dpd30_share(conn, **RANGE) == [
            D.Dpd30Share("huabei", 19_150, 4_150, q(4_150, 19_150)),
            D.Dpd30Share("jiebei", 20_000, 0, q(0, 1)),
            D.Dpd30Share(D.ALL, 39_150, 4_150, q(4_150, 39_150))]
        assert D.delinquency_buckets(conn, **RANGE) == [
            D.BucketRow("M0", 2, 15_000, q(15_000, 39_150), q(2, 4)),
            D.BucketRow("M1", 1, 20_000, q(20_000, 39_150), q(1, 4)),
            D.BucketRow("M2", 1, 4_150, q(4_150, 39_150), q(1, 4))]
        # Filters: a product; accounts opened from Jan 15 (A2 and A3).
        assert [(r.product_code, r.receivable_share) for r in D.receivables_by_product(
            conn, **RANGE, product="jiebei")] == [("jiebei", Decimal("1.000000"))]
        assert [r.receivable_minor for r in D.receivables_by_product(
            conn, date_from=dt.date(2025, 1, 15), date_to=dt.date(2025, 3, 1))] == [
            4_150, 20_000]
        assert D.receivables_by_product(conn, **RANGE, currency="USD")[0].receivable_minor \
            == 9_999


def test_roll_rates_and_vintages(book: Any) -> None:
    with book.connect() as conn:
        feb = {"date_from": dt.date(2025, 2, 1), "date_to": FEB}
        rolls = {(r.from_state, r.to_state): (r.from_balance_minor, r.roll_share)
                 for r in D.roll_rates(conn, **feb)}
        # M1 at Jan 31: A2 4,000 -> M2, A6 6,000 -> M0; M0: A1; M3: A4 -> written off.
        assert rolls == {("M0", "M0"): (10_000, q(1, 1)), ("M1", "M0"): (6_000, q(6, 10)),
                         ("M1", "M2"): (4_000, q(4, 10)), ("M3", "WO"): (5_000, q(1, 1))}
        vint = {(v.vintage, v.month_end): v for v in D.vintage_curves(conn, **RANGE)}
        jan_feb = vint[("2025-01", FEB)]
        assert (jan_feb.months_on_book, jan_feb.original_minor,
                jan_feb.dpd30_receivable_minor, jan_feb.dpd30_share) == (
            1, 23_000, 4_150, q(4_150, 23_000))
        dec_feb = vint[("2024-12", FEB)]
        assert (dec_feb.months_on_book, dec_feb.written_off_share, dec_feb.bad_share) == (
            2, q(5_000, 6_000), q(5_000, 6_000))
        assert vint[("2024-12", JAN)].dpd30_share == q(5_000, 6_000)
        assert ("2025-02", JAN) not in vint  # A3 opened after Jan 31
        assert [r.from_state for r in D.roll_rates(conn, **feb, product="jiebei")] == ["M3"]


def test_grades_fraud_revenue(book: Any) -> None:
    with book.begin() as conn:
        conn.execute(insert(credit_policies).values(
            content_hash="h" * 64, policy_kind="application", policy_id="p", version="1",
            document={}, stored_at=NOW))
        decision(conn, "d1", "c1", "A", "approve", 3)
        decision(conn, "d6", "c6", "A", "approve", 4)
        decision(conn, "d10", "c10", "A", "refer", 5, review="approve")
        decision(conn, "d2", "c2", "B", "approve", 6)
        decision(conn, "d4", "c4", "B", "approve", 7)
        decision(conn, "d11", "c11", "B", "refer", 8)
        decision(conn, "d9", "c9", "C", "decline", 9)
        decision(conn, "d0", "c0", None, "decline", 9)
        feb = dt.datetime(2025, 2, 10, tzinfo=dt.UTC)
        screening(conn, "p1", feb, "approve", 1_000)
        screening(conn, "p2", feb, "decline", 2_000)
        screening(conn, "p3", feb, "review", 3_000)
        label(conn, "p3", "analyst_verdict", feb, 3_000)
        label(conn, "cb1", "chargeback", dt.datetime(2025, 3, 3, tzinfo=dt.UTC), 500)
        label(conn, "r1", "consumer_report", feb, 700, is_fraud=False)
    with book.connect() as conn:
        assert D.grades(conn, **RANGE) == [
            D.GradeRow("-", 1, 0, 1, 0, q(0, 1), 0, 0, q(0, 1)),
            # A: c1, c6 approved, c10 approved on review; nobody 30+ dpd (A6 cured).
            D.GradeRow("A", 3, 3, 0, 0, q(1, 1), 3, 0, q(0, 1)),
            # B: c2 (45 dpd) and c4 (written off) bad; c11 still referred.
            D.GradeRow("B", 3, 2, 0, 1, q(2, 3), 2, 2, q(1, 1)),
            D.GradeRow("C", 1, 0, 1, 0, q(0, 1), 0, 0, q(0, 1))]
        assert [g.decisions for g in D.grades(conn, date_from=dt.date(2025, 1, 6),
                                              date_to=dt.date(2025, 1, 7))] == [2]
        assert D.fraud(conn, **RANGE) == [
            D.FraudRow("2025-02", 3, 6_000, 2, 5_000, 2, 5_000, 0, 0, 1, 1, q(1, 1)),
            D.FraudRow("2025-03", 0, 0, 1, 500, 0, 0, 1, 500, 0, 0, q(0, 1))]
        with pytest.raises(ValidationError) as refused:
            D.fraud(conn, **RANGE, product="huabei")
        assert refused.value.field == "product"
        # No March row: its only fraud label is a chargeback, which the merchant bears.
        assert D.revenue_losses(conn, **RANGE) == [
            D.RevenueLossRow("2025-01", None, None, None, 0, None, 0, 0, 0),
            # interest: Feb 31 totals 150 + 80 + 20 - Jan's 100 + 50.
            D.RevenueLossRow("2025-02", 100, 0, 0, 0, 100, 5_000, 0, 5_000)]
        by_product = D.revenue_losses(conn, **RANGE, product="jiebei")
        assert [(r.month, r.interest_minor, r.write_off_minor, r.fraud_loss_minor)
                for r in by_product] == [("2025-01", None, 0, None),
                                         ("2025-02", 20, 5_000, None)]


def test_empty_database_and_bad_input(store: Any) -> None:
    with store.engine.connect() as conn:
        for name in D.VIEWS:
            rows = D.run_view(conn, name, **RANGE)
            expected = [D.Dpd30Share(D.ALL, 0, 0, q(0, 1))] if name == "dpd30" else []
            assert list(rows) == expected, name
        with pytest.raises(ValidationError) as bad:
            D.run_view(conn, "nope")
        assert bad.value.field == "view"
        with pytest.raises(ValidationError) as backwards:
            D.run_view(conn, "receivables", date_from=dt.date(2025, 2, 1),
                       date_to=dt.date(2025, 1, 1))
        assert backwards.value.field == "from"


def test_month_end_rules(store: Any) -> None:
    with store.engine.begin() as conn:
        account(conn, "B1", customer="b", product="huabei", opened=dt.date(2025, 1, 1),
                original=1, principal_unbilled_minor=1)
        with pytest.raises(ValidationError) as not_end:
            record_month_end(conn, dt.date(2025, 1, 30))
        assert not_end.value.field == "month_end"
        record_month_end(conn, FEB)
        with pytest.raises(ValidationError):
            record_month_end(conn, JAN)


def test_csv_round_trip(book: Any) -> None:
    with book.connect() as conn:
        for name in ("receivables", "roll_rates", "vintages", "revenue_losses"):
            rows = D.run_view(conn, name, **RANGE)
            parsed = list(csv.DictReader(io.StringIO(D.to_csv(name, rows))))
            assert len(parsed) == len(rows) > 0
            for line, row in zip(parsed, rows, strict=True):
                assert line == {k: "" if v is None else str(v)
                                for k, v in D.row_dict(row).items()}


ACTIVE = ("M0", "M1", "M2", "M3", "M4", "M5", "M6+")


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(ACTIVE), st.sampled_from((*ACTIVE, "WO")),
                          st.integers(1, 10**9), st.integers(0, 10**9)),
                min_size=1, max_size=12))
def test_roll_rate_rows_and_bucket_shares_sum_to_one(store: Any, moves: list[Any]) -> None:
    with store.engine.begin() as conn:
        for table in (credit_month_end_cells, credit_month_end_states, credit_accounts):
            conn.execute(delete(table))
        for i, (before, _, balance, _) in enumerate(moves):
            account(conn, f"H{i}", customer=f"h{i}", product="huabei",
                    opened=dt.date(2025, 1, 1), original=balance,
                    principal_unbilled_minor=balance, bucket=before)
        record_month_end(conn, JAN)
        for i, (_, after, _, balance) in enumerate(moves):
            if after == "WO":
                set_state(conn, f"H{i}", status="written_off", principal_unbilled_minor=0,
                          written_off_minor=balance)
            else:
                set_state(conn, f"H{i}", bucket=after, principal_unbilled_minor=balance)
        record_month_end(conn, FEB)
    with store.engine.connect() as conn:
        rows = D.roll_rates(conn, date_from=FEB, date_to=FEB)
        for source in {m[0] for m in moves}:
            shares = [r.roll_share for r in rows if r.from_state == source]
            # Each share is rounded to 6 places: the sum is 1 within half a unit each.
            assert abs(sum(shares) - 1) <= Decimal("0.0000005") * len(shares)
        buckets = D.delinquency_buckets(conn)
        if any(r.receivable_minor for r in buckets):
            assert abs(sum(r.receivable_share for r in buckets) - 1) <= \
                Decimal("0.0000005") * len(buckets)


def test_the_demo_reports_the_consoles_roll_rates_month_by_month(book: Any) -> None:
    """The demo's monthly matrix (creditpay.sim.book_charts) is the console's roll_rates
    view for that month, states M4..M6+ pooled: same cells, same balances, same shares."""
    from creditpay.credit.portfolio_queries import month_end_cells
    from creditpay.sim.book_charts import (
        ROLL_FROM_STATES,
        ROLL_STATES,
        roll_rate_matrices,
        roll_state,
    )

    with book.connect() as conn:
        matrices = {m["month_end"]: m for m in roll_rate_matrices(
            month_end_cells(conn, currency="CNY"))}
        console = D.roll_rates(conn, date_from=dt.date(2025, 2, 1), date_to=FEB)
    february = matrices[FEB.isoformat()]
    pooled: dict[tuple[str, str], int] = {}
    for r in console:
        key = (roll_state(r.from_state), roll_state(r.to_state))
        pooled[key] = pooled.get(key, 0) + r.from_balance_minor
    for i, source in enumerate(ROLL_FROM_STATES):
        for j, target in enumerate(ROLL_STATES):
            assert february["balance_minor"][i][j] == pooled.get((source, target), 0)
    for r in console:
        if r.from_state in ("M0", "M1", "M2", "M3"):
            i, j = ROLL_FROM_STATES.index(roll_state(r.from_state)), ROLL_STATES.index(
                roll_state(r.to_state))
            assert Decimal(str(february["balance_share"][i][j])) == r.roll_share

"""The console's platform P&L, the pay-later line's vintages and the charts' horizon
warnings (issue #18 item 4), on both stores.

Expected figures are worked out by hand from the rows and transfers made here (the
arithmetic is written out in the test, never taken from the code under test)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.credit.portfolio_queries import record_month_end
from creditpay.credit.schedule import round_fraction
from creditpay.credit.tables import (
    credit_conversions,
    credit_day_end_positions,
    credit_funding_flows,
    credit_purchases,
    credit_refunds,
    credit_statements,
)
from creditpay.db.uow import UnitOfWork
from creditpay.errors import ValidationError
from creditpay.ledger.chart import ensure_platform_accounts, platform_key
from creditpay.ledger.model import AccountSpec, NormalSide
from creditpay.ledger.queries import platform_movements_by_month
from creditpay.reporting import dashboard as D
from creditpay.reporting import pnl as P
from creditpay.risk.fraud.tables import fraud_labels

from .test_dashboard import FEB, JAN, account, label, q, set_state

UTC = dt.UTC


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


# ------------------------------------------------------------------ line vintages

def purchase(conn: Any, ident: str, account_id: str, amount: int, when: dt.datetime,
             funding: str = "line") -> None:
    conn.execute(insert(credit_purchases).values(
        purchase_id=ident, request_hash="h", authorisation_id=f"au-{ident}",
        customer_id="cl", currency="CNY", funding=funding, account_id=account_id,
        amount_minor=amount, refunded_minor=0, merchant_payable_account_id=1,
        created_at=when))


def refund(conn: Any, ident: str, purchase_id: str, amount: int, when: dt.datetime) -> None:
    conn.execute(insert(credit_refunds).values(
        refund_id=ident, request_hash="h", purchase_id=purchase_id, amount_minor=amount,
        result={}, created_at=when))


def conversion(conn: Any, ident: str, account_seq: int, amount: int,
               when: dt.datetime) -> None:
    statement_id = f"st-{ident}"
    conn.execute(insert(credit_statements).values(
        statement_id=statement_id, account_seq=account_seq, statement_date=when.date(),
        due_date=when.date() + dt.timedelta(days=20), opening_balance_minor=0,
        new_principal_minor=amount, interest_minor=0, penalty_minor=0, fee_minor=0,
        closing_balance_minor=amount, minimum_payment_minor=0, installment_number=0,
        converted_minor=amount, created_at=when))
    conn.execute(insert(credit_conversions).values(
        conversion_id=ident, request_hash="h", statement_id=statement_id,
        plan_account_id="P-conv", amount_minor=amount, periods=3, created_at=when))


def _seq_of(conn: Any, account_id: str) -> int:
    from sqlalchemy import select

    from creditpay.credit.tables import credit_accounts
    return int(conn.execute(select(credit_accounts.c.seq).where(
        credit_accounts.c.account_id == account_id)).scalar_one())


def test_a_line_accounts_vintage_counts_its_draws(store: Any) -> None:
    """A line opens with principal_original 0 and lends draw by draw: its vintage's amount
    lent is its draws less refunds and conversions up to each month end, and a line never
    drawn is not among the accounts lent something."""
    jan_day = dt.date(2025, 1, 10)
    with store.engine.begin() as conn:
        account(conn, "L1", customer="cl", product="huabei", opened=jan_day, original=0,
                kind="line", principal_billed_minor=0, principal_past_due_minor=4_000,
                dpd=40, bucket="M2")
        account(conn, "L2", customer="cm", product="huabei", opened=jan_day, original=0,
                kind="line")  # never drawn
        account(conn, "P1", customer="cp", product="huabei", opened=jan_day,
                original=3_000, kind="plan", principal_unbilled_minor=3_000)
        purchase(conn, "u1", "L1", 5_000, at(dt.date(2025, 1, 12)))
        purchase(conn, "u2", "L1", 2_000, at(dt.date(2025, 1, 31), 23))
        purchase(conn, "u3", "L1", 9_000, at(dt.date(2025, 2, 3)))  # after Jan 31
        purchase(conn, "u4", "P1", 3_000, at(dt.date(2025, 1, 12)), funding="plan")
        refund(conn, "r1", "u1", 1_000, at(dt.date(2025, 1, 20)))
        refund(conn, "r2", "u2", 500, at(dt.date(2025, 2, 2)))  # after Jan 31
        conversion(conn, "c1", _seq_of(conn, "L1"), 1_500, at(dt.date(2025, 2, 10)))
        record_month_end(conn, JAN)
        set_state(conn, "L1", dpd=0, bucket="M0", principal_past_due_minor=0,
                  principal_unbilled_minor=1_000)
        record_month_end(conn, FEB)
    with store.engine.connect() as conn:
        line = {v.month_end: v for v in D.vintage_curves(conn, product="huabei")}
    # Jan 31: draws 5,000 + 2,000 - refund 1,000 = 6,000; plan 3,000.
    jan = line[JAN]
    assert (jan.original_minor, jan.accounts, jan.lent_accounts) == (9_000, 3, 2)
    # L1 40 dpd holds 4,000: bad share 4,000 / 9,000, one bad account of the two lent.
    assert (jan.dpd30_receivable_minor, jan.bad_share) == (4_000, q(4_000, 9_000))
    assert (jan.bad_accounts, jan.bad_accounts_share) == (1, q(1, 2))
    assert jan.bad_accounts_low is not None and jan.bad_accounts_high is not None
    assert jan.bad_accounts_low < q(1, 2) < jan.bad_accounts_high
    # Feb 28: + 9,000 drawn - 500 refunded - 1,500 converted into a plan = 13,000 on L1.
    assert line[FEB].original_minor == 13_000 + 3_000
    assert (line[FEB].bad_accounts, line[FEB].bad_share) == (0, q(0, 1))


def test_the_wilson_interval_is_scipys_and_covers_the_share() -> None:
    """The vintage interval is scipy's Wilson score interval (not a hand-made formula)."""
    from scipy.stats import binomtest

    from creditpay.reporting.horizons import wilson_interval

    ci = binomtest(3, 40).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(3, 40) == (float(ci.low), float(ci.high))
    low, high = wilson_interval(0, 5)
    assert low == 0 < high  # a width even with no bad account


# ------------------------------------------------------------------ the P&L

def position(conn: Any, day: dt.date, seq: int, principal: int, *, status: str = "active",
             currency: str = "CNY") -> None:
    conn.execute(insert(credit_day_end_positions).values(
        business_date=day, account_seq=seq, account_id=f"acc{seq}", kind="loan",
        customer_id="c", currency=currency, product_code="huabei", product_version=1,
        status=status, opened_on=dt.date(2025, 1, 1), dpd=0, bucket="M0",
        principal_minor=principal, interest_due_minor=0, fee_due_minor=0,
        penalty_due_minor=0, accrued_minor=0, written_off_minor=0, recovered_minor=0,
        written_off_on=None, interest_rate_micro=0, line_id=None, undrawn_minor=0,
        last_due_date=None))


def flow(conn: Any, kind: str, amount: int, day: dt.date, partner: str = "bank") -> None:
    conn.execute(insert(credit_funding_flows).values(
        account_id="acc1", partner_id=partner, currency="CNY", kind=kind,
        amount_minor=amount, business_date=day, created_at=at(day)))


def _post(tx: Any, ident: str, debit: int, credit: int, amount: int) -> None:
    L.create_transfer(tx, L.TransferRequest(ident, "test.pnl", debit_account_id=debit,
                                            credit_account_id=credit, amount_minor=amount))


def build_pnl(engine: Any, *, fraud: bool = True) -> None:
    """January and February 2025 of a platform: ledger movements, day-end positions,
    partner flows and (``fraud``) fraud reports, as the P&L tests work them out."""
    clock = SimulatedClock("2025-01-15T10:00:00+00:00")
    uow = UnitOfWork(engine, clock)
    with uow.begin() as tx:
        p = {code: a.id for code, a in ensure_platform_accounts(tx, "CNY").items()}
        cash = L.open_account(tx, AccountSpec("test:cash:CNY", "CNY", "cash", "test", "t",
                                              NormalSide.DEBIT)).id
        # January: income, the partners' share, a write-off, the partners' part, a recovery.
        _post(tx, "mf", cash, p["merchant_fee_income"], 300)
        _post(tx, "in", cash, p["interest_income"], 1_000)
        _post(tx, "fe", cash, p["fee_income"], 200)
        _post(tx, "pe", cash, p["penalty_income"], 50)
        _post(tx, "ps", p["partner_income_share"], cash, 400)
        _post(tx, "wo", p["write_off_expense"], cash, 2_000)
        _post(tx, "pl", cash, p["partner_loss_share"], 500)
        _post(tx, "rc", cash, p["recovery_income"], 100)
    clock.set("2025-02-10T10:00:00+00:00")
    with uow.begin() as tx:
        _post(tx, "in2", cash, p["interest_income"], 700)
        _post(tx, "fe-back", p["fee_income"], cash, 80)  # fees reversed: a negative month
        # A hold never posted counts nothing; a hold posted in part counts the part.
        L.create_transfer(tx, L.TransferRequest(
            "h1", "test.hold", kind=L.TransferKind.PENDING, debit_account_id=cash,
            credit_account_id=p["interest_income"], amount_minor=999))
        L.create_transfer(tx, L.TransferRequest(
            "h2", "test.hold", kind=L.TransferKind.PENDING, debit_account_id=cash,
            credit_account_id=p["interest_income"], amount_minor=500))
        L.create_transfer(tx, L.TransferRequest("h2-post", "test.hold",
                                                kind=L.TransferKind.POST, pending_id="h2",
                                                amount_minor=300))
    with engine.begin() as conn:
        position(conn, dt.date(2025, 1, 30), 1, 10_000_000)
        position(conn, dt.date(2025, 1, 31), 1, 12_000_000)
        position(conn, dt.date(2025, 1, 31), 2, 0, status="closed")
        position(conn, dt.date(2025, 1, 31), 3, 5_555_555, currency="USD")
        position(conn, dt.date(2025, 2, 1), 1, 11_000_000)
        flow(conn, "fund", 3_000_000, dt.date(2025, 1, 1))
        flow(conn, "principal", 1_000_000, dt.date(2025, 1, 31))
        flow(conn, "charges", 400, dt.date(2025, 1, 31))  # income, not principal
        if not fraud:
            return
        # Fraud: s1 reported (the platform bears it); s2 reported and charged back (the
        # merchant bears it); s3 reported twice (one payment).
        jan = at(dt.date(2025, 1, 20))
        label(conn, "s1", "consumer_report", jan, 700)
        label(conn, "s2", "consumer_report", jan, 900)
        label(conn, "s2", "chargeback", at(dt.date(2025, 1, 25)), 900)
        label(conn, "s3", "consumer_report", jan, 400)
        conn.execute(insert(fraud_labels).values(
            source="consumer_report", reference="s3-again", subject_type="payment_intent",
            subject_id="s3", transaction_at=jan, labelled_at=at(dt.date(2025, 1, 22)),
            is_fraud=True, amount_minor=400, currency="CNY", recorded_by="t"))


@pytest.fixture
def pnl_book(store: Any) -> Any:
    build_pnl(store.engine)
    return store.engine


def test_pnl_parts_add_up_and_equal_the_ledgers_movements(pnl_book: Any) -> None:
    with pnl_book.connect() as conn:
        rows = D.pnl(conn)
        balances = {code: L.get_account_by_key(conn, platform_key(code, "CNY")).balance_minor
                    for code in ("merchant_fee_income", "interest_income", "fee_income",
                                 "penalty_income", "partner_income_share",
                                 "write_off_expense", "partner_loss_share",
                                 "recovery_income")}
    # Own-funded principal: Jan 30 10,000,000 - 3,000,000; Jan 31 12,000,000 - 2,000,000;
    # Feb 1 11,000,000 - 2,000,000. Cost at 500 bps: 17,000,000 x 500 / 10,000 / 365 =
    # 2,328.77 -> 2,329; 9,000,000 x 500 / 3,650,000 = 1,232.88 -> 1,233.
    # Net charge-off: Jan (2,000 - 100) x 365 / 22,000,000 = 0.0315227..; Feb 0.
    assert rows == [
        D.PnlRow("2025-01", 2, 1_550, 400, 1_150, 2_329, 2_000, 500, 100, 1_400, 1_100,
                 1_150 - 2_329 - 1_400 - 1_100, 11_000_000, Decimal("0.031523"), 500),
        D.PnlRow("2025-02", 1, 920, 0, 920, 1_233, 0, 0, 0, 0, 0, 920 - 1_233,
                 11_000_000, Decimal("0.000000"), 500)]
    for r in rows:
        assert r.net_minor == (r.revenue_minor - (r.funding_cost_minor or 0)
                               - r.credit_losses_minor - r.fraud_losses_minor)
        assert r.revenue_minor == r.revenue_gross_minor - r.partner_share_minor
    # Over every month the movements are the accounts' balances.
    assert sum(r.revenue_gross_minor for r in rows) == sum(balances[c] for c in (
        "merchant_fee_income", "interest_income", "fee_income", "penalty_income"))
    assert sum(r.partner_share_minor for r in rows) == balances["partner_income_share"]
    assert sum(r.write_offs_minor for r in rows) == balances["write_off_expense"]
    assert sum(r.partner_loss_share_minor for r in rows) == balances["partner_loss_share"]
    assert sum(r.recoveries_minor for r in rows) == balances["recovery_income"]


def test_pnl_range_rate_and_refusals(pnl_book: Any) -> None:
    with pnl_book.connect() as conn:
        feb = D.run_view(conn, "pnl", date_from=dt.date(2025, 2, 1), funding_rate_bps=1_000)
        # 9,000,000 x 1,000 / 3,650,000 = 2,465.75 -> 2,466.
        assert [(r.month, r.funding_cost_minor, r.funding_rate_bps) for r in feb] == [
            ("2025-02", 2_466, 1_000)]
        # Only Jan 31 in range: no partner flow is lost before it (fund on Jan 1 counts).
        one_day = D.pnl(conn, date_from=dt.date(2025, 1, 31), date_to=dt.date(2025, 1, 31))
        assert [(r.days, r.funding_cost_minor, r.revenue_minor) for r in one_day] == [
            (1, round_fraction(P.Fraction(10_000_000 * 500, 3_650_000)), 0)]
        with pytest.raises(ValidationError) as by_product:
            D.pnl(conn, product="huabei")
        assert by_product.value.field == "product"
        for bad in (-1, 10_001, True):
            with pytest.raises(ValidationError) as rate:
                D.pnl(conn, funding_rate_bps=bad)
            assert rate.value.field == "funding_rate_bps"


def test_a_month_without_closed_dates_has_no_funding_cost_nor_net(store: Any) -> None:
    clock = SimulatedClock("2025-03-05T10:00:00+00:00")
    uow = UnitOfWork(store.engine, clock)
    with uow.begin() as tx:
        p = {code: a.id for code, a in ensure_platform_accounts(tx, "CNY").items()}
        cash = L.open_account(tx, AccountSpec("test:cash:CNY", "CNY", "cash", "test", "t",
                                              NormalSide.DEBIT)).id
        _post(tx, "in", cash, p["interest_income"], 10)
    with store.engine.connect() as conn:
        (row,) = D.pnl(conn)
    assert (row.days, row.revenue_minor, row.funding_cost_minor, row.net_minor,
            row.net_charge_off_rate) == (0, 10, None, None, None)


def test_the_funding_rate_setting_defaults_to_the_simulators() -> None:
    from creditpay.config import Settings

    assert Settings.of().funding_rate_bps == P.FUNDING_RATE_BPS_DEFAULT == 500
    with pytest.raises(ValidationError, match="FUNDING_RATE_BPS"):
        Settings.from_env("sqlite://", environ={"CREDITPAY_FUNDING_RATE_BPS": "10001"})


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**12),
       st.integers(-10**12, 10**12), st.integers(0, 10**12), st.integers(0, 10**12),
       st.integers(0, 10**12))
def test_pnl_parts_identity(gross: int, partner: int, written: int, partner_loss: int,
                            recovered: int, funding: int, fraud: int) -> None:
    parts = P.pnl_parts(revenue_gross_minor=gross, partner_income_share_minor=partner,
                        write_offs_minor=written, partner_loss_share_minor=partner_loss,
                        recoveries_minor=recovered, funding_cost_minor=funding,
                        fraud_losses_minor=fraud)
    assert parts["net_minor"] == (parts["revenue_minor"] - parts["funding_cost_minor"]
                                  - parts["credit_losses_minor"] - parts["fraud_losses_minor"])
    assert parts["revenue_minor"] == gross - partner
    assert parts["credit_losses_minor"] == written - partner_loss - recovered


# ------------------------------------------------------------------ revenue_losses

def test_revenue_losses_is_net_of_the_partners_share_and_of_chargebacks(store: Any) -> None:
    with store.engine.begin() as conn:
        account(conn, "A1", customer="c1", product="huabei", opened=dt.date(2025, 1, 10),
                original=10_000, principal_unbilled_minor=10_000, interest_posted_minor=100)
        record_month_end(conn, JAN)
        set_state(conn, "A1", interest_posted_minor=600)
        record_month_end(conn, FEB)
        conn.execute(insert(credit_funding_flows).values(
            account_id="A1", partner_id="bank", currency="CNY", kind="charges",
            amount_minor=300, business_date=dt.date(2025, 2, 20), created_at=at(FEB)))
        conn.execute(insert(credit_funding_flows).values(
            account_id="A1", partner_id="bank", currency="CNY", kind="clawback",
            amount_minor=40, business_date=dt.date(2025, 2, 21), created_at=at(FEB)))
        feb = at(dt.date(2025, 2, 10))
        label(conn, "k1", "consumer_report", feb, 700)
        label(conn, "k2", "consumer_report", feb, 900)
        label(conn, "k2", "chargeback", feb, 900)  # the same payment, charged back
    with store.engine.connect() as conn:
        rows = {r.month: r for r in D.revenue_losses(conn)}
        huabei = {r.month: r for r in D.revenue_losses(conn, product="huabei")}
        other = {r.month: r for r in D.revenue_losses(conn, product="jiebei")}
    # Feb: interest 600 - 100 = 500, partners' share 300 - 40 = 260: revenue 240.
    assert (rows["2025-02"].interest_minor, rows["2025-02"].partner_share_minor,
            rows["2025-02"].revenue_minor) == (500, 260, 240)
    assert huabei["2025-02"].revenue_minor == 240
    assert "2025-02" not in other or other["2025-02"].partner_share_minor == 0
    # k2 was charged back (the merchant bears it): only k1's 700 is the platform's loss.
    assert (rows["2025-02"].fraud_loss_minor, rows["2025-02"].losses_minor) == (700, 700)


# ------------------------------------------------------------------ horizon warnings

def test_warnings_on_a_short_history_and_none_once_it_is_long_enough(store: Any) -> None:
    with store.engine.begin() as conn:
        account(conn, "W1", customer="w1", product="huabei", opened=dt.date(2025, 1, 5),
                original=1_000, principal_past_due_minor=1_000, dpd=40, bucket="M2")
        record_month_end(conn, JAN)
        position(conn, JAN, 1, 1_000)
    with store.engine.connect() as conn:
        def charts(name: str) -> list[str]:
            rows = D.run_view(conn, name)
            return [w["chart"] for w in D.view_warnings(conn, name, rows)]
        assert charts("roll_rates") == ["roll_rate_matrix"]  # one month end
        assert charts("vintages") == ["vintages"]  # 0 months on book
        assert charts("buckets") == ["delinquency"]  # past due since Jan 31
        assert charts("receivables") == []
        (w,) = D.view_warnings(conn, "vintages", D.run_view(conn, "vintages"))
        assert "3 months on book" in w["rule"] and w["message"]
    with store.engine.begin() as conn:
        for month_end in (FEB, dt.date(2025, 3, 31), dt.date(2025, 4, 30),
                          dt.date(2025, 5, 31)):
            record_month_end(conn, month_end)
        position(conn, dt.date(2025, 5, 31), 1, 1_000)
    with store.engine.connect() as conn:
        for name in ("roll_rates", "vintages", "buckets"):
            assert D.view_warnings(conn, name, D.run_view(conn, name)) == [], name


def test_grades_warn_while_most_approvals_are_too_recent(store: Any) -> None:
    from creditpay.risk.decisions.tables import credit_policies

    from .test_dashboard import NOW, decision

    with store.engine.begin() as conn:
        conn.execute(insert(credit_policies).values(
            content_hash="h" * 64, policy_kind="application", policy_id="p", version="1",
            document={}, stored_at=NOW))
        for i, day in enumerate((3, 4, 6, 7)):
            decision(conn, f"d{i}", f"c{i}", "A", "approve", day)
        position(conn, dt.date(2025, 2, 1), 1, 1_000)  # last close: Feb 1
    with store.engine.connect() as conn:
        (w,) = D.view_warnings(conn, "grades", D.run_view(conn, "grades"))
        assert w["chart"] == "grade_outcomes" and w["message"].startswith("4 of 4 approvals")
    with store.engine.begin() as conn:
        position(conn, dt.date(2025, 3, 20), 1, 1_000)  # 72 days after the last approval
    with store.engine.connect() as conn:
        assert D.view_warnings(conn, "grades", D.run_view(conn, "grades")) == []


def test_the_command_line_prints_the_pnl_and_its_warnings(store: Any) -> None:
    import json

    from typer.testing import CliRunner

    from creditpay.cli import app

    build_pnl(store.engine)
    runner = CliRunner()
    shown = runner.invoke(app, ["reports", "dashboard", "pnl", "--db", store.url,
                                "--from", "2025-02-01", "--funding-rate-bps", "1000"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert [(r["month"], r["funding_cost_minor"], r["net_minor"]) for r in body["rows"]] == [
        ("2025-02", 2_466, 920 - 2_466)]
    assert body["warnings"] == []
    by_setting = runner.invoke(app, ["reports", "dashboard", "pnl", "--db", store.url,
                                     "--from", "2025-02-01"],
                               env={"CREDITPAY_FUNDING_RATE_BPS": "1000"})
    assert [r["funding_cost_minor"] for r in json.loads(by_setting.output)["rows"]] == [2_466]
    as_csv = runner.invoke(app, ["reports", "dashboard", "pnl", "--db", store.url, "--csv"])
    assert as_csv.exit_code == 0 and as_csv.output.startswith("month,days,")
    refused = runner.invoke(app, ["reports", "dashboard", "pnl", "--db", store.url,
                                  "--product", "huabei"])
    assert refused.exit_code != 0 and "product" in refused.output
    rate = runner.invoke(app, ["reports", "dashboard", "pnl", "--db", store.url,
                               "--funding-rate-bps", "20000"])
    assert rate.exit_code != 0 and "funding_rate_bps" in rate.output
    with store.engine.begin() as conn:
        account(conn, "V1", customer="v1", product="huabei", opened=dt.date(2025, 1, 5),
                original=1_000, principal_unbilled_minor=1_000)
        record_month_end(conn, JAN)
    vintages = runner.invoke(app, ["reports", "dashboard", "vintages", "--db", store.url])
    assert [w["chart"] for w in json.loads(vintages.output)["warnings"]] == ["vintages"]


_CODES = ("merchant_fee_income", "interest_income", "fee_income", "penalty_income",
          "partner_income_share", "write_off_expense", "partner_loss_share", "recovery_income")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 120), st.sampled_from(_CODES),
                          st.integers(1, 10**12), st.booleans()), min_size=1, max_size=15))
def test_the_months_movements_add_up_to_the_ledgers_balances(store: Any, moves: list[Any]
                                                              ) -> None:
    """Whatever the transfers and their days, each platform account's monthly movements
    add up to its balance, and the P&L's columns to the accounts' balances."""
    import uuid

    clock = SimulatedClock("2025-01-01T10:00:00+00:00")
    uow = UnitOfWork(store.engine, clock)
    with uow.begin() as tx:
        p = {code: a.id for code, a in ensure_platform_accounts(tx, "CNY").items()}
        cash = L.open_account(tx, AccountSpec("test:cash:CNY", "CNY", "cash", "test", "t",
                                              NormalSide.DEBIT)).id
    for day, code, amount, into in sorted(moves, key=lambda m: m[0]):
        clock.set(dt.datetime(2025, 1, 1, 10, tzinfo=UTC) + dt.timedelta(days=day))
        with uow.begin() as tx:
            debit, credit = (cash, p[code]) if into else (p[code], cash)
            _post(tx, uuid.uuid4().hex, debit, credit, amount)
    with store.engine.connect() as conn:
        moved = platform_movements_by_month(conn, codes=_CODES, currency="CNY")
        rows = D.pnl(conn)
        balance = {code: L.get_account_by_key(conn, platform_key(code, "CNY"))
                   for code in _CODES}
    for code in _CODES:
        assert sum(m.credits_minor - m.debits_minor for m in moved if m.code == code) == \
            balance[code].credits_posted - balance[code].debits_posted, code
    income = sum(balance[c].credits_posted - balance[c].debits_posted for c in _CODES[:4])
    assert sum(r.revenue_gross_minor for r in rows) == income
    assert sum(r.write_offs_minor for r in rows) == (balance["write_off_expense"].debits_posted
                                                     - balance["write_off_expense"]
                                                     .credits_posted)
    for r in rows:
        assert r.revenue_minor == r.revenue_gross_minor - r.partner_share_minor
        assert r.credit_losses_minor == (r.write_offs_minor - r.partner_loss_share_minor
                                         - r.recoveries_minor)

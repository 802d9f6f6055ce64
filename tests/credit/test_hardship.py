"""Hardship arrangements on both stores (docs/hardship.md): options and their disclosed cost
equal the exact schedule math (the real ``creditpay schedule`` command), servicing bills what
an option disclosed, auto-approval and referral, collections suspended, the close of business
ending arrangements, bureau marking, and bad input changing nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from creditpay.credit import hardship as H
from creditpay.credit import service as S
from creditpay.credit.hardship_tables import (
    credit_hardship_arrangements,
    credit_hardship_requests,
)
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.money import Money
from creditpay.protection import hardship as PH
from creditpay.protection.collections_rules import run_collections
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import (
    CNY,
    account,
    assert_books,
    close_days,
    close_until,
    items,
    new_customer,
    repay,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def _loan(uow, customer_id="c1", loan_id="loan-1", principal_minor=1_200_000, periods=12):
    who = new_customer(uow, customer_id, limit_minor=5_000_000, wallet_minor=5_000_000)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=customer_id, currency=CNY,
                             principal_minor=principal_minor, product_code="jiebei",
                             periods=periods, method="equal_installment",
                             wallet_account_id=who.wallet_id, catalogue=CATALOGUE)
    return who


def _shown(uow, customer_id, account_id, reason="job_loss", language="en"):
    with uow.connect() as conn:
        return PH.show_hardship_options(conn, customer_id=customer_id, account_id=account_id,
                                        reason=reason, language=language,
                                        today=uow.clock.today(), catalogue=CATALOGUE)


def _option(shown, kind, cycles):
    return next(o for o in shown.options
                if o.figures["kind"] == kind and o.figures["cycles"] == cycles)


def _request(uow, customer_id, account_id, option, reason="job_loss", request_id="hr-1",
             digest=None):
    with uow.begin() as tx:
        return PH.request_hardship(
            tx, request_id=request_id, customer_id=customer_id, account_id=account_id,
            reason=reason, option_id=option.figures["option_id"],
            key_facts_hash=digest or option.key_facts_sha256, catalogue=CATALOGUE)


def _cli_schedule(principal_minor, rate, periods, start, day_count="ACT/365"):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-m", "creditpay.cli", "schedule",
         "--principal", Money(principal_minor, CNY).major_str(), "--annual-rate", rate,
         "--periods", str(periods), "--start", start.isoformat(), "--day-count", day_count,
         "--json"], capture_output=True, text=True, env=env, check=True, timeout=60)
    return json.loads(out.stdout)


def _minor(text):
    return Money.parse(text, CNY).amount_minor


def test_reamortisation_matches_creditpay_schedule_and_servicing_bills_it(uow, clock):
    _loan(uow)
    start = clock.today()
    shown = _shown(uow, "c1", "loan-1")
    option = _option(shown, "reamortisation", 3)
    figures = option.figures
    # The real CLI, the same principal, rate, term and start date: every installment and
    # total to the minor unit, and the APR.
    cli = _cli_schedule(1_200_000, "0.1825", 12 + 3, start)
    rows = [{"number": r["number"], "due_date": r["due_date"],
             "principal_minor": _minor(r["principal"]), "interest_minor": _minor(r["interest"]),
             "fee_minor": _minor(r["fee"]), "total_minor": _minor(r["total"]),
             "balance_after_minor": _minor(r["balance_after"])} for r in cli["installments"]]
    assert figures["schedule"] == rows
    assert figures["new_total_minor"] == _minor(cli["totals"]["total"])
    assert figures["total_interest_minor"] == _minor(cli["totals"]["interest"])
    assert figures["apr_percent"] == cli["apr_percent"]
    before = items(uow, "loan-1")
    current_total = sum(i["principal_minor"] + i["interest_minor"] + i["fee_minor"]
                        for i in before)
    assert figures["current_total_minor"] == current_total
    assert figures["extra_cost_minor"] == _minor(cli["totals"]["total"]) - current_total > 0
    # The document discloses those figures: the accepted bytes hash to the shown hash.
    document = PH.render_key_facts({**figures, "issued_on": start.isoformat()}, "en")
    assert hashlib.sha256(document).hexdigest() == option.key_facts_sha256
    assert b"Collections contact about this account is suspended" in document
    assert shown.decision_if_requested == "approved"

    result = _request(uow, "c1", "loan-1", option)
    assert result.status == "approved" and result.arrangement_id == "hr-1"
    after = items(uow, "loan-1")
    assert [i["status"] for i in after[:12]] == ["cancelled"] * 12
    new = [i for i in after if i["status"] == "scheduled"]
    assert [(i["due_date"].isoformat(), i["principal_minor"], i["interest_minor"])
            for i in new] == [(r["due_date"], r["principal_minor"], r["interest_minor"])
                              for r in rows]
    assert account(uow, "loan-1")["principal_unbilled_minor"] == 1_200_000
    with uow.connect() as conn:
        assert H.under_arrangement(conn, "loan-1")
    assert_books(uow, "c1")
    # Servicing bills the first new installment as disclosed, to the minor unit.
    close_until(uow, clock, new[0]["due_date"])
    billed = [i for i in items(uow, "loan-1") if i["number"] == new[0]["number"]][0]
    assert billed["status"] == "billed"
    assert billed["interest_minor"] == rows[0]["interest_minor"]
    assert billed["principal_minor"] == rows[0]["principal_minor"]
    assert_books(uow, "c1")


def test_holiday_defers_and_interest_runs_on_as_disclosed(uow, clock):
    _loan(uow)
    close_days(uow, clock, 5)  # five days accrued before the request
    option = _option(_shown(uow, "c1", "loan-1"), "payment_holiday", 2)
    figures = option.figures
    first_old = items(uow, "loan-1")[0]["due_date"]
    assert figures["first_due_date"] == dt.date(first_old.year, first_old.month + 2,
                                                first_old.day).isoformat()
    assert figures["installments"] == 12 and figures["extra_cost_minor"] > 0
    assert figures["holiday_interest"] == "accrues" and figures["bureau_code"] == "CP"
    _request(uow, "c1", "loan-1", option)
    first_new = dt.date.fromisoformat(figures["first_due_date"])
    close_until(uow, clock, first_new)
    billed = [i for i in items(uow, "loan-1") if i["status"] == "billed"]
    assert len(billed) == 1  # nothing fell due during the holiday
    assert billed[0]["interest_minor"] == figures["schedule"][0]["interest_minor"]
    acct = account(uow, "loan-1")
    assert acct["dpd"] == 0 and acct["oldest_past_due_date"] is None
    # The bureau file of the month marks the arrangement (forbearance), the account current.
    from creditpay.credit.bureau_source import month_end_accounts
    from creditpay.reporting.bureau_mapper import to_record

    with uow.connect() as conn:
        march = {a.account_id: a for a in month_end_accounts(conn, dt.date(2025, 3, 31))}
    record = to_record(march["loan-1"], "2025-03", dt.date(2025, 3, 31))
    assert (record.special_comment, record.metro2_status, record.pboc_account_status,
            record.dpd) == ("CP", "11", "1", 0)
    assert record.content()["special_comment"] == "CP"
    plain = to_record(march["loan-1"].__class__(**{
        **{n: getattr(march["loan-1"], n) for n in march["loan-1"].__slots__},
        "hardship_kind": None}), "2025-03", dt.date(2025, 3, 31))
    assert plain.special_comment == "" and "special_comment" not in plain.content()
    assert_books(uow, "c1")


def test_referral_then_operator_approval_and_decline(uow, clock):
    _loan(uow)
    _loan(uow, "c2", "loan-2")
    shown = _shown(uow, "c1", "loan-1", reason="other")
    assert shown.decision_if_requested == "referred"
    option = _option(shown, "reduced_rate", 0)
    assert Decimal(option.figures["annual_rate_percent"]) == Decimal("7.3")
    assert option.figures["extra_cost_minor"] < 0  # a saving, disclosed as one
    referred = _request(uow, "c1", "loan-1", option, reason="other")
    assert referred.status == "referred" and referred.arrangement_id is None
    assert items(uow, "loan-1")[0]["status"] == "scheduled"  # nothing changed yet
    with pytest.raises(StateError) as pending:
        _shown(uow, "c1", "loan-1")
    assert pending.value.extra["rule"] == "hardship.pending"
    with uow.connect() as conn:
        queue = H.list_requests(conn, status="referred")
    assert [r["request_id"] for r in queue] == ["hr-1"]
    with uow.begin() as tx:
        approved = H.resolve_request(tx, request_id="hr-1", decision="approve",
                                     operator_id="op-1", note=None, catalogue=CATALOGUE)
    assert approved.status == "approved"
    assert account(uow, "loan-1")["interest_rate_micro"] == 73_000
    with uow.begin() as tx, pytest.raises(StateError):
        H.resolve_request(tx, request_id="hr-1", decision="decline", operator_id="op-1",
                          note=None, catalogue=CATALOGUE)
    other = _option(_shown(uow, "c2", "loan-2", reason="family"), "reamortisation", 6)
    _request(uow, "c2", "loan-2", other, reason="family", request_id="hr-2")
    with uow.begin() as tx:
        declined = H.resolve_request(tx, request_id="hr-2", decision="decline",
                                     operator_id="op-1", note=None, catalogue=CATALOGUE)
    assert declined.status == "declined"
    assert all(i["status"] == "scheduled" for i in items(uow, "loan-2"))
    assert_books(uow, "c1")


def test_bad_input_and_another_customers_account_change_nothing(uow, clock):
    _loan(uow)
    _loan(uow, "c2", "loan-2")
    with pytest.raises(NotFoundError) as missing:
        _shown(uow, "c2", "loan-1")
    assert missing.value.field == "account_id"
    with pytest.raises(ValidationError) as reason:
        _shown(uow, "c1", "loan-1", reason="bored")
    assert reason.value.field == "reason"
    option = _option(_shown(uow, "c1", "loan-1"), "payment_holiday", 1)
    with pytest.raises(ValidationError) as digest:
        _request(uow, "c1", "loan-1", option, digest="0" * 64)
    assert digest.value.field == "key_facts_hash"
    with pytest.raises(NotFoundError):
        _request(uow, "c2", "loan-1", option)
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(
            credit_hardship_requests)).scalar_one() == 0
    assert all(i["status"] == "scheduled" for i in items(uow, "loan-1"))
    # The other language's document is accepted too (the consumer may read either).
    zh = option.key_facts_sha256_by_language["zh-CN"]
    assert _request(uow, "c1", "loan-1", option, digest=zh).language == "zh-CN"
    # One arrangement at a time: no more options while it runs.
    with pytest.raises(StateError) as active:
        _shown(uow, "c1", "loan-1")
    assert active.value.extra["rule"] == "hardship.active"


def test_collections_suspended_and_arrangement_ends_broken(uow, clock):
    _loan(uow, "c1", "loan-1", principal_minor=300_000, periods=3)
    _loan(uow, "c2", "loan-2", principal_minor=300_000, periods=3)
    first_due = items(uow, "loan-1")[0]["due_date"]
    close_until(uow, clock, first_due + dt.timedelta(days=6))  # both 5 days past due
    assert account(uow, "loan-1")["dpd"] == 5
    option = _option(_shown(uow, "c1", "loan-1"), "reamortisation", 3)
    assert _request(uow, "c1", "loan-1", option).status == "approved"  # dpd 5 <= 30
    report = run_collections(uow, clock.today())
    assert report.paused_by_hardship == 1 and report.cases_opened == 1  # loan-2 only
    with uow.connect() as conn:
        arrangement = conn.execute(select(credit_hardship_arrangements)).mappings().one()
    first_new = next(i for i in items(uow, "loan-1")
                     if i["number"] == arrangement["first_number"])
    # Unpaid 15 days after its due date: still running; the 16th day ends it broken.
    close_until(uow, clock, first_new["due_date"] + dt.timedelta(days=15))
    assert close_days(uow, clock, 1)[0].hardship_broken == 0
    assert close_days(uow, clock, 1)[0].hardship_broken == 1
    with uow.connect() as conn:
        assert not H.under_arrangement(conn, "loan-1")
        row = conn.execute(select(credit_hardship_arrangements)).mappings().one()
    assert row["status"] == "broken" and row["ended_on"] == clock.today() - dt.timedelta(1)
    assert close_days(uow, clock, 1)[0].hardship_broken == 0  # idempotent
    assert_books(uow, "c1")


def test_arrangement_completes_when_repaid(uow, clock):
    who = _loan(uow, "c1", "loan-1", principal_minor=300_000, periods=3)
    option = _option(_shown(uow, "c1", "loan-1"), "payment_holiday", 1)
    _request(uow, "c1", "loan-1", option)
    started = clock.today()
    assert close_days(uow, clock, 1)[0].hardship_completed == 0
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, "loan-1")
    repay(uow, who, "rp-1", owed, target="loan-1")
    assert account(uow, "loan-1")["status"] == "closed"
    assert close_days(uow, clock, 1)[0].hardship_completed == 1
    with uow.connect() as conn:
        # Running at the end of the day it started; not at the end of the day it ended.
        assert H.arrangements_at(conn, started) == {"loan-1": "payment_holiday"}
        assert H.arrangements_at(conn, clock.today() - dt.timedelta(days=1)) == {}
    assert_books(uow, "c1")


def test_waived_holiday_on_a_plan_and_a_fee_priced_plan(uow, clock):
    from tests.credit.servicing_helpers import buy

    who = new_customer(uow, "c1", limit_minor=5_000_000, wallet_minor=5_000_000)
    _, plan = buy(uow, who, "p-apr", 300_000, funding="plan", product_code="apr_plan",
                  periods=3)
    _, fees = buy(uow, who, "p-fee", 300_000, funding="plan", product_code="baitiao",
                  periods=3)
    close_days(uow, clock, 3)
    # A fee-priced plan: the holiday moves installments and their fees, and costs nothing.
    fee_option = _option(_shown(uow, "c1", fees.account_id), "payment_holiday", 1)
    assert fee_option.figures["extra_cost_minor"] == 0
    assert fee_option.figures["holiday_interest"] == "none"
    assert not any(o.figures["kind"] == "reduced_rate"
                   for o in _shown(uow, "c1", fees.account_id).options)
    _request(uow, "c1", fees.account_id, fee_option, request_id="hr-fee")
    # apr_plan waives a holiday's interest: the rate is 0 until the holiday ends.
    option = _option(_shown(uow, "c1", plan.account_id), "payment_holiday", 2)
    figures = option.figures
    assert figures["holiday_interest"] == "waived" and figures["rate_restored_on"]
    _request(uow, "c1", plan.account_id, option, request_id="hr-apr")
    assert account(uow, plan.account_id)["interest_rate_micro"] == 0
    restore_on = dt.date.fromisoformat(figures["rate_restored_on"])
    close_until(uow, clock, restore_on - dt.timedelta(days=1))
    assert close_days(uow, clock, 1)[0].hardship_rates_restored == 1
    assert account(uow, plan.account_id)["interest_rate_micro"] == 150_000
    first_new = dt.date.fromisoformat(figures["first_due_date"])
    close_until(uow, clock, first_new)
    billed = [i for i in items(uow, plan.account_id) if i["status"] == "billed"]
    assert [(i["interest_minor"], i["principal_minor"]) for i in billed] == [
        (figures["schedule"][0]["interest_minor"], figures["schedule"][0]["principal_minor"])]
    fee_billed = [i for i in items(uow, fees.account_id) if i["status"] in ("billed", "paid",
                                                                            "past_due")]
    assert fee_billed and all(i["fee_minor"] == fee_option.figures["schedule"][0]["fee_minor"]
                              for i in fee_billed[-1:])
    assert_books(uow, "c1")


def test_the_hardship_options_command_prints_the_same_options(store, uow, clock):
    _loan(uow)
    with uow.connect() as conn:
        view = H.options_for(conn, customer_id="c1", account_id="loan-1",
                             today=clock.today(), catalogue=CATALOGUE)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-m", "creditpay.cli", "hardship", "options", "--db", store.url,
         "--account", "loan-1", "--json"], capture_output=True, text=True, env=env,
        check=True, timeout=60)
    printed = json.loads(out.stdout)
    assert printed["options"] == [view.figures(o) for o in view.options]
    missing = subprocess.run(
        [sys.executable, "-m", "creditpay.cli", "hardship", "options", "--db", store.url,
         "--account", "nobody", "--json"], capture_output=True, text=True, env=env,
        timeout=60)
    assert missing.returncode == 2 and missing.stdout == "" and "--account" in missing.stderr

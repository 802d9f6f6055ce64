"""Auto-debit needs a live auto-debit consent (switching on, and again at every close of
business); repayments and each close of business leave audit records. Both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.schedule import build_schedule
from creditpay.db.tables import outbox_events
from creditpay.errors import ConsentRequiredError
from creditpay.platform.tables import audit_records
from creditpay.protection.auto_debit import set_auto_debit_with_consent
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents
from creditpay.protection.consent import Purpose, revoke_consent
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, account, close_until, grant_auto_debit, new_customer

D = dt.date


def _loan(uow, who, loan_id="loan-a"):
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id, currency=CNY,
                             principal_minor=600_000, product_code="jiebei", periods=6,
                             method="equal_principal", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    product = CATALOGUE.get("jiebei")
    schedule = build_schedule(P.loan_terms(product, 6, "equal_principal", 600_000,
                                           D(2025, 3, 1)))
    return [i.due_date for i in schedule.installments]


def _audit(uow, action):
    with uow.connect() as conn:
        return conn.execute(select(audit_records).where(audit_records.c.action == action)
                            .order_by(audit_records.c.id)).mappings().all()


def _switch_on(uow, who, reference):
    # Consumer protection checks the consent, then credit switches (credit reads no consent).
    with uow.begin() as tx:
        return set_auto_debit_with_consent(tx, account_id="loan-a", enabled=True,
                                           wallet_account_id=who.wallet_id,
                                           consent_reference=reference)


@pytest.mark.parametrize("case", ["made_up", "other_customer", "wrong_purpose", "revoked"])
def test_switching_on_needs_a_live_auto_debit_consent_of_the_customer(uow, case):
    who = new_customer(uow)
    new_customer(uow, "c2")
    _loan(uow, who)
    with uow.begin() as tx:
        own = grant_auto_debit(tx, "c1")
        other = grant_auto_debit(tx, "c2")
    if case == "made_up":
        reference = "consent-1"
    elif case == "other_customer":
        reference = other
    elif case == "wrong_purpose":
        from tests.risk.decisions.conftest import grant

        with uow.begin() as tx:
            reference = grant(tx, "c1", "marketing")
    else:
        reference = own
        with uow.begin() as tx:
            revoke_consent(tx, customer_id="c1", purpose=Purpose.AUTO_DEBIT, channel="app")
    with pytest.raises(ConsentRequiredError) as refused:
        _switch_on(uow, who, reference)
    assert refused.value.field == "consent_reference"
    loan = account(uow, "loan-a")
    assert not loan["auto_debit_enabled"] and loan["auto_debit_consent_ref"] is None


def test_cob_skips_and_switches_off_auto_debit_whose_consent_was_revoked(uow, clock):
    who = new_customer(uow)
    new_customer(uow, "c2")
    dues = _loan(uow, who)
    with uow.begin() as tx:
        reference = grant_auto_debit(tx, "c1")
    view = _switch_on(uow, who, reference)
    assert view is not None and account(uow, "loan-a")["auto_debit_enabled"]
    close_until(uow, clock, dues[0])
    # An unrelated customer's revocation changes nothing; the borrower's own does.
    with uow.begin() as tx:
        grant_auto_debit(tx, "c2")
        revoke_consent(tx, customer_id="c2", purpose=Purpose.AUTO_DEBIT, channel="app")
        revoke_consent(tx, customer_id="c1", purpose=Purpose.AUTO_DEBIT, channel="app")
    (report,) = close_until(uow, clock, dues[0] + dt.timedelta(days=1))
    assert report.auto_debits == 0 and report.auto_debits_stopped_no_consent == 1
    loan = account(uow, "loan-a")
    assert not loan["auto_debit_enabled"] and loan["auto_debit_account_id"] is None
    assert loan["principal_past_due_minor"] > 0  # not debited: left for the customer / collections
    with uow.connect() as conn:
        events = conn.execute(select(outbox_events.c.payload).where(
            outbox_events.c.topic == "credit.auto_debit.changed")
            .order_by(outbox_events.c.id)).scalars().all()
    assert events[-1]["enabled"] is False and events[-1]["reason"] == "consent.revoked"
    (summary,) = [r for r in _audit(uow, "credit.cob.completed")
                  if r["subject_id"] == dues[0].isoformat()]
    assert summary["payload"]["auto_debits_stopped_no_consent"] == 1


def test_cob_debits_while_the_consent_is_in_force(uow, clock):
    who = new_customer(uow)
    dues = _loan(uow, who)
    with uow.begin() as tx:
        reference = grant_auto_debit(tx, "c1")
    _switch_on(uow, who, reference)
    close_until(uow, clock, dues[0])
    (report,) = close_until(uow, clock, dues[0] + dt.timedelta(days=1))
    assert report.auto_debits == 1 and report.auto_debits_stopped_no_consent == 0
    assert account(uow, "loan-a")["auto_debit_enabled"]


def test_one_cob_audit_record_per_business_date_with_totals(uow, clock):
    who = new_customer(uow)
    dues = _loan(uow, who)
    with uow.begin() as tx:
        _switch_on_tx = S.set_auto_debit(tx, account_id="loan-a", enabled=True,
                                         wallet_account_id=who.wallet_id,
                                         consent_reference=grant_auto_debit(tx, "c1"))
    assert _switch_on_tx is not None
    reports = close_until(uow, clock, dues[0] + dt.timedelta(days=1))
    records = _audit(uow, "credit.cob.completed")
    assert [r["subject_id"] for r in records] == [r.business_date for r in reports]
    assert all(r["actor_type"] == "system" for r in records)
    last = records[-1]["payload"]
    assert last["auto_debits"] == 1 and last["auto_debit_minor"] == reports[-1].auto_debit_minor
    assert last["accounts"] == reports[-1].accounts and "seconds" not in last
    # A date run again is a no-op: no second record.
    from creditpay.credit.cob import run_close_of_business

    assert run_close_of_business(uow, dues[0], audit_checkpointer=None,
                                 auto_debit_consents=ReferencedAutoDebitConsents(),
                                 catalogue=CATALOGUE).already_done
    assert len(_audit(uow, "credit.cob.completed")) == len(reports)


def test_each_repayment_leaves_one_audit_record_with_amounts_and_account_ids(uow, clock):
    who = new_customer(uow)
    _loan(uow, who)
    with uow.begin() as tx:
        result = S.repay(tx, repayment_id="r-1", customer_id="c1", currency=CNY,
                         amount_minor=50_000, source_account_id=who.wallet_id,
                         target="loan-a", catalogue=CATALOGUE)
    with uow.begin() as tx:  # an idempotent retry: no second record
        S.repay(tx, repayment_id="r-1", customer_id="c1", currency=CNY, amount_minor=50_000,
                source_account_id=who.wallet_id, target="loan-a", catalogue=CATALOGUE)
    (record,) = _audit(uow, "credit.repayment")
    assert (record["actor_type"], record["actor_id"]) == ("customer", "c1")
    assert record["subject_id"] == "r-1"
    payload = record["payload"]
    assert payload["amount_minor"] == 50_000 and payload["currency"] == CNY
    assert payload["principal_minor"] == result.principal_minor
    assert [a["account_id"] for a in payload["accounts"]] == ["loan-a"]


def test_a_refund_leaves_one_audit_record(uow, clock):
    from .servicing_helpers import buy

    who = new_customer(uow, "rf1")
    _, purchase = buy(uow, who, "p-rf1", 60_000, funding="plan", product_code="baitiao",
                      periods=3)
    with uow.begin() as tx:
        S.refund_purchase(tx, refund_id="rf-1", purchase_id=purchase.purchase_id,
                          amount_minor=20_000, catalogue=CATALOGUE)
    with uow.begin() as tx:  # a replay returns the first result and records nothing more
        S.refund_purchase(tx, refund_id="rf-1", purchase_id=purchase.purchase_id,
                          amount_minor=20_000, catalogue=CATALOGUE)
    with uow.connect() as conn:
        rows = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "credit.refund")).scalars().all()
        assert len(rows) == 1 and rows[0]["amount_minor"] == 20_000

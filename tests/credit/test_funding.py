"""Partner funding end to end on both stores (issue #17): a joint cash loan and a joint plan
are routed to partners that decide on consented data only, every flow is split between the
funders in the ledger, settlement nets it, and reconciliation finds nothing wrong. Bad
arrangements are refused naming the field and change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from creditpay.credit import catalogue_versions
from creditpay.credit import funding as F
from creditpay.credit import service as S
from creditpay.credit.tables import (
    credit_accounts,
    credit_funding_arrangements,
    credit_funding_decisions,
    credit_funding_shares,
)
from creditpay.errors import StateError, ValidationError
from creditpay.parties import partners as PL
from creditpay.platform.tables import audit_records
from creditpay.protection import consent
from creditpay.reporting.data_sharing import share_with_partner
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, close_days, new_customer, payoff, repay

PURPOSE = consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
CAPS = CATALOGUE.caps("CN")


def _terms(rate_bps: int = 600, **changes) -> dict:
    terms = {"funding_rate_bps": rate_bps, "service_fee_bps": 400,
             "exposure_cap_minor": 50_000_000, "per_borrower_cap_minor": 5_000_000,
             "appetite": {"grades": ["A", "B", "C"], "max_pd": "0.08"},
             "data_fields": ["payments_count_90d"],
             "policy": {"max_pd": "0.08", "kyc_required": False}}
    terms.update(changes)
    return terms


def _partner(uow, name: str, **terms) -> str:
    with uow.begin() as tx:
        return PL.onboard_partner(tx, "op_test", name=name, licence_type="bank",
                                  licence_number=f"L-{name}", currency=CNY,
                                  terms=_terms(**terms))["partner_id"]


def _consent(uow, customer_id: str, partner_id: str) -> None:
    with uow.connect() as conn:
        name = PL.get_partner(conn, partner_id).name
    text = consent.consent_text(PURPOSE, "en", partner_name=name)
    with uow.begin() as tx:
        consent.grant_consent(tx, customer_id=customer_id, purpose=PURPOSE, language="en",
                              text_version=text.version, text_sha256=text.sha256,
                              channel="app", partner_id=partner_id, partner_name=name)


def _funding(grade: str = "B", pd: str = "0.03") -> F.Funding:
    def share(tx, customer_id, partner_id, fields):
        return share_with_partner(tx, customer_id, partner_id, fields)

    return F.Funding(share_data=share, borrower_risk=lambda conn, cid: (grade, Decimal(pd)))


def _arrange(uow, code: str, partners: list[dict], **kwargs) -> dict:
    with uow.begin() as tx:
        return F.set_arrangement(tx, "op_test", product=CATALOGUE.get(code),
                                 partners=partners, caps=CAPS, **kwargs)


def _catalogue(uow):
    """The catalogue in force: the packaged one with the arrangements stored (a serving
    process holds it and refreshes it: Services.refresh_catalogue)."""
    with uow.connect() as conn:
        return catalogue_versions.current(conn, CATALOGUE)[0]


def _loan(uow, who, loan_id: str, amount: int, funding: F.Funding, code: str = "jiebei",
          periods: int = 3, method: str = "equal_installment"):
    catalogue = _catalogue(uow)
    with uow.begin() as tx:
        return S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id,
                                    currency=CNY, principal_minor=amount, product_code=code,
                                    periods=periods, method=method,
                                    wallet_account_id=who.wallet_id, catalogue=catalogue,
                                    funding=funding)


def _shares(uow, account_id: str) -> dict[str, dict]:
    with uow.connect() as conn:
        return {r["funder_id"]: dict(r) for r in conn.execute(select(
            credit_funding_shares).where(credit_funding_shares.c.account_id == account_id)
        ).mappings()}


def _reconcile(uow, day=None) -> dict:
    with uow.begin() as tx:
        return F.reconcile(tx, day)


def test_joint_loan_split_settled_and_reconciled(uow, clock):
    who = new_customer(uow, limit_minor=5_000_000)
    cheap = _partner(uow, "Cheap Bank", rate_bps=500)
    dear = _partner(uow, "Dear Finance", rate_bps=800)
    for pid in (cheap, dear):
        _consent(uow, who.customer_id, pid)
    _arrange(uow, "jiebei", [{"partner_id": dear}, {"partner_id": cheap}],
             arrangement_type="joint", platform_share_bps=3000)
    _loan(uow, who, "loan1", 100_001, _funding())
    shares = _shares(uow, "loan1")
    # The cheapest partner takes the whole partners' part; the platform keeps >= 30 %.
    assert set(shares) == {cheap, "platform"}
    assert shares[cheap]["funded_minor"] == 100_001 * 7000 // 10000
    assert shares["platform"]["funded_minor"] == 100_001 - shares[cheap]["funded_minor"]
    assert shares["platform"]["funded_minor"] * 10000 >= 3000 * 100_001
    # Repay part, age, repay the rest: every flow split and posted.
    repay(uow, who, "r1", 20_000, target="loan1")
    close_days(uow, clock, 40)
    repay(uow, who, "r2", payoff(uow, "loan1"), target="loan1")
    report = _reconcile(uow)
    assert report["ok"], report
    shares = _shares(uow, "loan1")
    assert shares[cheap]["outstanding_minor"] == shares["platform"]["outstanding_minor"] == 0
    # The partner earned interest at its own rate, no more than its share of what was paid.
    assert 0 < shares[cheap]["income_paid_minor"] <= shares["platform"]["income_paid_minor"] * 3
    with uow.begin() as tx:
        settled = F.settle(tx, clock.today())
    assert [s["partner_id"] for s in settled] == [cheap]
    s = settled[0]
    assert s["net_minor"] == s["principal_minor"] + s["income_minor"] - s["funding_minor"]
    assert s["principal_minor"] == shares[cheap]["funded_minor"]
    assert _reconcile(uow, clock.today())["ok"]
    with uow.begin() as tx:  # idempotent
        assert F.settle(tx, clock.today()) == settled
    with uow.connect() as conn:
        report = F.partners_report(conn)["partners"]
        # The borrower is told who lent, partner first, the platform last.
        assert F.funders_of_customer(conn, who.customer_id, platform_name="creditpay") == {
            "loan1": [{"name": "Cheap Bank", "partner_id": cheap, "share_bps": 7000},
                      {"name": "creditpay", "partner_id": None, "share_bps": 3000}]}
    row = next(r for r in report if r["partner_id"] == cheap)
    assert (row["funded_minor"], row["outstanding_minor"], row["platform_share_min_bps"]) == (
        shares[cheap]["funded_minor"], 0, 3000)


def test_no_consent_no_data_and_fallback(uow):
    who = new_customer(uow, limit_minor=5_000_000)
    partner = _partner(uow, "Bank A")
    _arrange(uow, "jiebei", [{"partner_id": partner}], arrangement_type="joint",
             fallback="own")
    _loan(uow, who, "loan_own", 50_000, _funding())
    assert _shares(uow, "loan_own") == {}  # the platform funds it alone: nothing to split
    repay(uow, who, "own-r1", 10_000, target="loan_own")
    assert _reconcile(uow)["ok"]
    with uow.connect() as conn:
        shared = conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "data.shared_with_partner")).scalar_one()
        outcome = conn.execute(select(credit_funding_decisions.c.reasons)).scalar_one()
    assert shared == 0 and outcome == ["no_consent"]
    # Decline fallback: refused naming funding, nothing created.
    _arrange(uow, "jiebei", [{"partner_id": partner}], arrangement_type="facilitation",
             fallback="decline")
    with pytest.raises(StateError) as refused:
        _loan(uow, who, "loan_refused", 50_000, _funding())
    assert refused.value.field == "funding"
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(credit_accounts).where(
            credit_accounts.c.account_id == "loan_refused")).scalar_one() == 0


def test_partner_declines_by_its_own_policy(uow):
    who = new_customer(uow, limit_minor=5_000_000)
    strict = _partner(uow, "Strict Bank", rate_bps=400,
                      policy={"max_pd": "0.01", "kyc_required": False})
    easy = _partner(uow, "Easy Finance", rate_bps=900)
    for pid in (strict, easy):
        _consent(uow, who.customer_id, pid)
    _arrange(uow, "jiebei", [{"partner_id": strict}, {"partner_id": easy}],
             arrangement_type="facilitation", fallback="decline")
    _loan(uow, who, "loan_f", 80_000, _funding(pd="0.03"))
    shares = _shares(uow, "loan_f")
    assert set(shares) == {easy, "platform"} and shares[easy]["funded_minor"] == 80_000
    with uow.connect() as conn:
        answers = {r.partner_id: (r.outcome, r.reasons) for r in conn.execute(
            select(credit_funding_decisions))}
    assert answers[strict] == ("declined", ["pd_above_partner_policy"])
    assert answers[easy][0] == "approved"


def test_joint_plan_refund_unwinds_exactly(uow, clock):
    who = new_customer(uow, limit_minor=5_000_000)
    partner = _partner(uow, "Plan Bank")
    _consent(uow, who.customer_id, partner)
    _arrange(uow, "baitiao", [{"partner_id": partner, "share_bps": 6000}],
             arrangement_type="joint", platform_share_bps=4000)
    catalogue = _catalogue(uow)
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id=who.customer_id, amount_minor=99_999,
                                currency=CNY, catalogue=catalogue)
        offer = next(o for o in offers if o.funding == "plan" and o.periods == 3
                     and o.product_code == "baitiao")
        S.authorise_purchase(tx, authorisation_id="auth_p1", customer_id=who.customer_id,
                             amount_minor=99_999, currency=CNY, offer_id=offer.offer_id,
                             reference="p1", catalogue=catalogue)
        purchase = S.capture_purchase(tx, authorisation_id="auth_p1", capture_id="p1",
                                      amount_minor=99_999,
                                      merchant_payable_account_id=who.merchant_id,
                                      catalogue=catalogue, funding=_funding())
    funded = _shares(uow, purchase.account_id)
    assert funded[partner]["funded_minor"] == 99_999 * 6000 // 10000
    with uow.begin() as tx:
        S.refund_purchase(tx, refund_id="rf1", purchase_id="p1", amount_minor=99_999,
                          catalogue=CATALOGUE)
    assert _reconcile(uow)["ok"]
    after = _shares(uow, purchase.account_id)
    assert after[partner]["outstanding_minor"] == after["platform"]["outstanding_minor"] == 0


def test_bad_arrangements_refused_naming_the_field(uow):
    partner = _partner(uow, "Bank Z")
    cases = [
        (dict(arrangement_type="joint", platform_share_bps=2999,
              partners=[{"partner_id": partner}]), "platform_share_bps"),
        (dict(arrangement_type="joint", platform_share_bps=3000,
              partners=[{"partner_id": partner, "share_bps": 6000}]), "partners"),
        (dict(arrangement_type="joint", partners=[{"partner_id": "ptn_nobody"}]), "partners"),
        (dict(arrangement_type="lend", partners=[{"partner_id": partner}]),
         "arrangement_type"),
        (dict(arrangement_type="joint", partners=[{"partner_id": partner}],
              guarantee_bps=10001), "guarantee_bps"),
    ]
    for kwargs, field in cases:
        partners = kwargs.pop("partners")
        with pytest.raises(ValidationError) as refused:
            _arrange(uow, "jiebei", partners, **kwargs)
        assert refused.value.field == field, (kwargs, refused.value)
    with pytest.raises(ValidationError) as refused:
        _arrange(uow, "baitiao_free", [{"partner_id": partner}], arrangement_type="joint")
    assert refused.value.field == "product_code"
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(
            credit_funding_arrangements)).scalar_one() == 0
    with pytest.raises(ValidationError) as refused, uow.begin() as tx:
        PL.onboard_partner(tx, "op", name="X", licence_type="bank", licence_number="1",
                           currency=CNY, terms=_terms(funding_rate_bps=-1))
    assert refused.value.field == "funding_rate_bps"


def test_partner_limit_caps_the_waterfall(uow):
    who = new_customer(uow, limit_minor=9_000_000)
    small = _partner(uow, "Small Bank", rate_bps=300, exposure_cap_minor=100_000,
                     per_borrower_cap_minor=100_000)
    big = _partner(uow, "Big Bank", rate_bps=700)
    for pid in (small, big):
        _consent(uow, who.customer_id, pid)
    _arrange(uow, "jiebei", [{"partner_id": small}, {"partner_id": big}],
             arrangement_type="facilitation", fallback="decline")
    _loan(uow, who, "l1", 300_000, _funding())
    shares = _shares(uow, "l1")
    assert (shares[small]["funded_minor"], shares[big]["funded_minor"]) == (100_000, 200_000)
    _loan(uow, who, "l2", 50_000, _funding())
    assert set(_shares(uow, "l2")) == {big, "platform"}  # small has no room left
    assert _reconcile(uow)["ok"]


def _cash(uow, transfer_id: str, code: str, *, to_wallet_of=None, from_wallet_of=None,
          amount_minor: int) -> None:
    """Move cash between a customer's wallet and the platform's bank account."""
    from creditpay import ledger as L
    from creditpay.ledger.chart import ensure_platform_accounts

    with uow.begin() as tx:
        bank = ensure_platform_accounts(tx, CNY)["bank_settlement"].id
        debit = from_wallet_of.wallet_id if from_wallet_of else bank
        credit = to_wallet_of.wallet_id if to_wallet_of else bank
        L.create_transfer(tx, L.TransferRequest(transfer_id, code, debit_account_id=debit,
                                                credit_account_id=credit,
                                                amount_minor=amount_minor))


def guaranteed_bad_loan(uow, partner_name: str):
    """A customer's joint jiebei bullet loan "bad" of 100,000 (platform 50 %, 20 % first-loss
    guarantee for the partner), the money spent so that nothing is ever repaid; returns
    (customer, partner id)."""
    who = new_customer(uow, limit_minor=5_000_000, wallet_minor=0)
    partner = _partner(uow, partner_name)
    _consent(uow, who.customer_id, partner)
    _arrange(uow, "jiebei", [{"partner_id": partner}], arrangement_type="joint",
             platform_share_bps=5000, guarantee_bps=2000)
    _loan(uow, who, "bad", 100_000, _funding(), periods=7, method="bullet")
    _cash(uow, "spend", "wallet.withdraw", from_wallet_of=who, amount_minor=100_000)
    return who, partner


def close_until_written_off(uow, clock, account_id: str) -> dt.date:
    """Close days, ten at a time, until the account is written off; returns the last
    business date closed before the batch that wrote it off."""
    while True:
        before = clock.today() - dt.timedelta(days=1)
        close_days(uow, clock, 10)
        with uow.connect() as conn:
            status = conn.execute(select(credit_accounts.c.status).where(
                credit_accounts.c.account_id == account_id)).scalar_one()
        if status == "written_off":
            return before
        assert clock.today() < dt.date(2026, 3, 1)


def test_write_off_guarantee_and_recovery(uow, clock):
    who, partner = guaranteed_bad_loan(uow, "Guarded Bank")
    close_until_written_off(uow, clock, "bad")
    assert _reconcile(uow)["ok"]
    shares = _shares(uow, "bad")
    p = shares[partner]
    assert p["written_off_minor"] == 50_000
    assert p["guaranteed_minor"] == 50_000 * 2000 // 10000  # cover: 20 % of its principal
    assert p["loss_minor"] == 50_000 - p["guaranteed_minor"]
    # A recovery is shared by unrecovered loss (the platform carries what it guaranteed).
    _cash(uow, "found", "wallet.topup", to_wallet_of=who, amount_minor=30_000)
    repay(uow, who, "rec1", 30_000, target="bad")
    assert _reconcile(uow)["ok"]
    after = _shares(uow, "bad")
    recovered = after[partner]["recovered_minor"] + after["platform"]["recovered_minor"]
    assert recovered == 30_000 and after[partner]["recovered_minor"] > 0


def test_a_transfer_committed_behind_the_cursor_is_followed_once(uow, clock, store):
    """PostgreSQL draws journal seqs before commit: a repayment can become visible after the
    follower moved past its seq. The follower re-reads a window behind its cursor and skips
    what it already split, so such a transfer is split once, and nothing twice."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: seqs commit in order")
    who = new_customer(uow, limit_minor=5_000_000)
    partner = _partner(uow, "Late Bank")
    _consent(uow, who.customer_id, partner)
    _arrange(uow, "jiebei", [{"partner_id": partner}], arrangement_type="joint")
    _loan(uow, who, "late", 100_000, _funding())
    repay(uow, who, "late-r1", 10_000, target="late")
    with uow.begin() as tx:
        F.follow_ledger(tx)
    repay(uow, who, "late-r2", 10_000, target="late")
    # As if late-r2 had committed after the follower read past it: the cursor is ahead.
    from creditpay.credit.tables import credit_funding_cursor

    with uow.begin() as tx:
        tx.conn.execute(credit_funding_cursor.update().values(
            last_seq=credit_funding_cursor.c.last_seq + 1_000))
    for _ in range(2):
        assert _reconcile(uow)["ok"]
    shares = _shares(uow, "late")
    assert shares[partner]["outstanding_minor"] + shares["platform"]["outstanding_minor"] == \
        100_000 - 20_000

"""Partner limits hold under concurrent originations (issue #17), on both stores: threads,
each with its own unit of work and connection, take cash loans that together ask a partner
for more than its exposure cap. The partner's outstanding never exceeds the cap, the cap is
used up (not under-used), its position equals the sum of its loan shares and its ledger
account, and the funding reconciles."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from creditpay.credit import funding as F
from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.tables import credit_funding_positions, credit_funding_shares
from creditpay.db.uow import UnitOfWork
from creditpay.errors import DomainError
from creditpay.ledger.verify import verify_ledger
from creditpay.parties import partners as PL
from creditpay.protection import consent
from creditpay.reporting.data_sharing import share_with_partner
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, new_customer

PURPOSE = consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
CAPS = CATALOGUE.caps("CN")
THREADS = 8
LOAN_MINOR = 300_000
CAP_MINOR = 1_000_000  # 8 loans x 300,000 ask for 2,400,000 of partner funding


def _funding() -> F.Funding:
    return F.Funding(share_data=lambda tx, cid, pid, fields: share_with_partner(
        tx, cid, pid, fields), borrower_risk=lambda conn, cid: ("B", Decimal("0.03")))


def _setup(uow: UnitOfWork, fallback: str) -> tuple[str, list]:
    """One partner with a CAP_MINOR exposure cap funding 100 % of jiebei loans (the
    platform funds what it cannot, or the loan is refused), and THREADS customers who
    consented to share their data with it."""
    with uow.begin() as tx:
        partner = PL.onboard_partner(tx, "op_test", name="Capped Bank", licence_type="bank",
                                     licence_number="L-capped", currency=CNY, terms={
                                         "funding_rate_bps": 600, "service_fee_bps": 300,
                                         "exposure_cap_minor": CAP_MINOR,
                                         "per_borrower_cap_minor": CAP_MINOR,
                                         "data_fields": ["payments_count_90d"],
                                         "policy": {"max_pd": "0.5", "kyc_required": False}},
                                     )["partner_id"]
        F.set_arrangement(tx, "op_test", product=CATALOGUE.get("jiebei"),
                          arrangement_type="facilitation", partners=[{"partner_id": partner}],
                          fallback=fallback, caps=CAPS)
    customers = [new_customer(uow, f"cc{n}", limit_minor=2_000_000) for n in range(THREADS)]
    text = consent.consent_text(PURPOSE, "en", partner_name="Capped Bank")
    with uow.begin() as tx:
        for who in customers:
            consent.grant_consent(tx, customer_id=who.customer_id, purpose=PURPOSE,
                                  language="en", text_version=text.version,
                                  text_sha256=text.sha256, channel="app",
                                  partner_id=partner, partner_name="Capped Bank")
    return partner, customers


def _originate_concurrently(store, clock, customers: list, first: int = 0) -> list[str]:
    """One loan per customer from ``first`` on, each thread on its own unit of work
    (its own engine connection), started together; the outcomes."""
    catalogue = _arranged(UnitOfWork(store.engine, clock), CATALOGUE)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(customers) - first)

    def originate(who) -> None:
        worker = UnitOfWork(store.engine, clock)
        start.wait()
        try:
            worker.run(lambda tx: S.disburse_cash_loan(
                tx, loan_id=f"loan-{who.customer_id}", customer_id=who.customer_id,
                currency=CNY, principal_minor=LOAN_MINOR, product_code="jiebei", periods=3,
                method="equal_installment", wallet_account_id=who.wallet_id,
                catalogue=catalogue, funding=_funding()))
            outcome = "funded"
        except DomainError as refused:
            outcome = f"refused:{refused.field}"
        except Exception as error:  # noqa: BLE001 - any other failure is reported as such
            outcome = f"error:{type(error).__name__}:{str(error).splitlines()[0][:160]}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=originate, args=(who,)) for who in customers[first:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _check_partner(uow, partner: str) -> int:
    """The partner's outstanding (its position), after checking it against its shares,
    its ledger account (reconcile) and the cap."""
    with uow.connect() as conn:
        position = conn.execute(select(credit_funding_positions.c.outstanding_minor).where(
            credit_funding_positions.c.partner_id == partner)).scalar_one()
        shares = conn.execute(select(func.coalesce(func.sum(
            credit_funding_shares.c.outstanding_minor), 0)).where(
            credit_funding_shares.c.funder_id == partner)).scalar_one()
        assert verify_ledger(conn).ok
    assert position == shares <= CAP_MINOR
    with uow.begin() as tx:
        report = F.reconcile(tx)
    assert report["ok"], report["details"]
    return int(position)


# On PostgreSQL, Funding.route's _lock_positions reads which partners have a position row,
# inserts the missing ones with a plain INSERT, then locks them: two first originations for
# a partner both see its row missing, and the second INSERT fails on the primary key.

def _warm_up(request, store, clock, customers: list, warm: bool) -> int:
    """``warm``: one loan first, alone, so the partner's position row exists before the
    race; else the race includes the partner's first loans. Returns the first customer
    left for the race."""
    if not warm:
        return 0
    assert _originate_concurrently(store, clock, customers[:1]) == ["funded"]
    return 1


WARM = pytest.mark.parametrize("warm", [True, False], ids=["position_exists", "first_loans"])


@WARM
def test_concurrent_loans_never_exceed_the_partner_cap(request, uow, store, clock, warm):
    """fallback own: the platform funds what the partner has no room for."""
    partner, customers = _setup(uow, "own")
    first = _warm_up(request, store, clock, customers, warm)
    outcomes = _originate_concurrently(store, clock, customers, first)
    assert outcomes == ["funded"] * (THREADS - first), outcomes
    assert _check_partner(uow, partner) == CAP_MINOR  # used up, never exceeded
    with uow.connect() as conn:
        funded = conn.execute(select(credit_funding_shares.c.funded_minor).where(
            credit_funding_shares.c.funder_id == partner)).scalars().all()
    assert sum(funded) == CAP_MINOR and all(0 < f <= LOAN_MINOR for f in funded)


@WARM
def test_concurrent_loans_refused_beyond_the_cap(request, uow, store, clock, warm):
    """fallback decline: a loan the partner cannot fund whole is refused naming funding."""
    partner, customers = _setup(uow, "decline")
    first = _warm_up(request, store, clock, customers, warm)
    outcomes = _originate_concurrently(store, clock, customers, first)
    funded = outcomes.count("funded") + first
    assert funded == CAP_MINOR // LOAN_MINOR, outcomes
    assert outcomes.count("refused:funding") == THREADS - funded, outcomes
    assert _check_partner(uow, partner) == funded * LOAN_MINOR


# The jurisdiction's cap on what partner lenders together fund of one borrower, set below
# the borrower's credit so that it binds (in CN's packaged caps both are 200,000.00 CNY).
BORROWER_CAP_MINOR = 100_000
LOW_BORROWER_CAP = P.Catalogue(CATALOGUE.all(), {"CN": CAPS.model_copy(
    update={"partner_funded_borrower_max_minor": BORROWER_CAP_MINOR})})

def test_partners_together_stay_under_the_borrower_cap(uow):
    """Two partners, each with room for the whole loan, and a borrower-wide cap of
    BORROWER_CAP_MINOR: the partners together fund at most that (the platform the rest)."""
    partners = []
    with uow.begin() as tx:
        for name, rate in (("Cap A", 500), ("Cap B", 700)):
            partners.append(PL.onboard_partner(
                tx, "op_test", name=name, licence_type="bank", licence_number=f"L-{name}",
                currency=CNY, terms={
                    "funding_rate_bps": rate, "service_fee_bps": 300,
                    "exposure_cap_minor": 10_000_000, "per_borrower_cap_minor": 1_000_000,
                    "data_fields": ["payments_count_90d"],
                    "policy": {"max_pd": "0.5", "kyc_required": False}})["partner_id"])
        F.set_arrangement(tx, "op_test", product=LOW_BORROWER_CAP.get("jiebei"),
                          arrangement_type="facilitation",
                          partners=[{"partner_id": pid} for pid in partners],
                          fallback="own", caps=LOW_BORROWER_CAP.caps("CN"))
    who = new_customer(uow, "cb1", limit_minor=2_000_000, catalogue=LOW_BORROWER_CAP)
    with uow.begin() as tx:
        for pid in partners:
            name = consent.registered_partner_name(tx.conn, pid)
            text = consent.consent_text(PURPOSE, "en", partner_name=name)
            consent.grant_consent(tx, customer_id=who.customer_id, purpose=PURPOSE,
                                  language="en", text_version=text.version,
                                  text_sha256=text.sha256, channel="app",
                                  partner_id=pid, partner_name=name)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="cb-loan", customer_id=who.customer_id,
                             currency=CNY, principal_minor=150_000, product_code="jiebei",
                             periods=3, method="equal_installment",
                             wallet_account_id=who.wallet_id,
                             catalogue=_arranged(uow, LOW_BORROWER_CAP), funding=_funding())
    with uow.connect() as conn:
        funded = dict(conn.execute(select(credit_funding_shares.c.funder_id,
                                          credit_funding_shares.c.funded_minor).where(
            credit_funding_shares.c.account_id == "cb-loan")).all())
    assert sum(funded.values()) == 150_000
    assert sum(v for k, v in funded.items() if k != "platform") <= BORROWER_CAP_MINOR, funded


def _arranged(uow, catalogue):
    """``catalogue`` with the funding arrangements stored now (as a serving process's
    catalogue carries them once refreshed)."""
    from creditpay.credit.funding import arrangements_in_force

    with uow.connect() as conn:
        return catalogue.with_arrangements(arrangements_in_force(conn))

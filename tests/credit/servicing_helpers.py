"""Helpers for the servicing tests: a customer with a line, a funded wallet and a merchant,
days closed one after another, and the state-versus-ledger reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.credit import service as S
from creditpay.credit.cob import run_close_of_business
from creditpay.credit.pauses import disputed_minor
from creditpay.credit.products import Catalogue
from creditpay.credit.tables import credit_accounts, credit_installments
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.chart import ensure_platform_accounts, party_key, platform_key
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents
from tests.catalogues import CATALOGUE

CNY = "CNY"


@dataclass
class Customer:
    customer_id: str
    line_id: str
    wallet_id: int
    merchant_id: int


def new_customer(uow: UnitOfWork, customer_id: str = "c1", *, limit_minor: int = 1_000_000,
                 product_code: str = "huabei", wallet_minor: int = 2_000_000,
                 catalogue: Catalogue = CATALOGUE) -> Customer:
    with uow.begin() as tx:
        line = S.open_credit_line(tx, line_id=f"line_{customer_id}", customer_id=customer_id,
                                  currency=CNY, limit_minor=limit_minor,
                                  product_code=product_code, catalogue=catalogue)
        platform = ensure_platform_accounts(tx, CNY)
        wallet = L.open_account(tx, L.AccountSpec(
            party_key("wallet", customer_id, CNY), CNY, "wallet", "customer", customer_id,
            L.NormalSide.CREDIT, debits_must_not_exceed_credits=True))
        merchant = L.open_account(tx, L.AccountSpec(
            party_key("merchant_payable", "m1", CNY), CNY, "merchant_payable", "merchant",
            "m1", L.NormalSide.CREDIT))
        if wallet_minor:
            L.create_transfer(tx, L.TransferRequest(
                f"topup:{customer_id}", "wallet.topup",
                debit_account_id=platform["bank_settlement"].id,
                credit_account_id=wallet.id, amount_minor=wallet_minor))
    return Customer(customer_id, line.line_id, wallet.id, merchant.id)


def grant_auto_debit(tx, customer_id: str) -> str:
    """Record the customer's auto-debit consent; returns its reference ``consent:<id>``."""
    from creditpay.protection.consent import Purpose, consent_text, grant_consent
    from creditpay.protection.consent_refs import reference_of

    text = consent_text(Purpose.AUTO_DEBIT, "zh-CN")
    return reference_of(grant_consent(tx, customer_id=customer_id, purpose=Purpose.AUTO_DEBIT,
                                      language="zh-CN", text_version=text.version,
                                      text_sha256=text.sha256, channel="app"))


def buy(uow: UnitOfWork, who: Customer, purchase_id: str, amount_minor: int, *,
        funding: str = "line", product_code: str | None = None, periods: int = 1,
        catalogue: Catalogue = CATALOGUE):
    """Quote, pick the offer explicitly, authorise and capture."""
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id=who.customer_id, amount_minor=amount_minor,
                                currency=CNY, catalogue=catalogue)
        offer = next(o for o in offers if o.funding == funding and o.periods == periods and
                     (product_code is None or o.product_code == product_code))
        S.authorise_purchase(tx, authorisation_id=f"auth_{purchase_id}",
                             customer_id=who.customer_id, amount_minor=amount_minor,
                             currency=CNY, offer_id=offer.offer_id, reference=purchase_id,
                             catalogue=catalogue)
        purchase = S.capture_purchase(tx, authorisation_id=f"auth_{purchase_id}",
                                      capture_id=purchase_id, amount_minor=amount_minor,
                                      merchant_payable_account_id=who.merchant_id,
                                      catalogue=catalogue)
    return offer, purchase


def close_days(uow: UnitOfWork, clock: SimulatedClock, days: int = 1, *,
               catalogue: Catalogue = CATALOGUE) -> list:
    """Close the current business day ``days`` times (COB of D runs just after midnight)."""
    reports = []
    for _ in range(days):
        today = clock.today()
        clock.set(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 30),
                                      tzinfo=dt.UTC))
        reports.append(run_close_of_business(uow, today, audit_checkpointer=None,
                                             auto_debit_consents=ReferencedAutoDebitConsents(),
                                             catalogue=catalogue))
        clock.set(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(9, 0),
                                      tzinfo=dt.UTC))
    return reports


def close_until(uow: UnitOfWork, clock: SimulatedClock, day: dt.date, *,
                catalogue: Catalogue = CATALOGUE) -> list:
    """Close days until the business date is ``day`` (its COB not yet run)."""
    return close_days(uow, clock, (day - clock.today()).days, catalogue=catalogue)


def account(uow: UnitOfWork, account_id: str) -> dict:
    with uow.connect() as conn:
        return dict(conn.execute(select(credit_accounts).where(
            credit_accounts.c.account_id == account_id)).mappings().one())


def items(uow: UnitOfWork, account_id: str) -> list[dict]:
    row = account(uow, account_id)
    with uow.connect() as conn:
        return [dict(r) for r in conn.execute(select(credit_installments).where(
            credit_installments.c.account_seq == row["seq"]).order_by(
            credit_installments.c.number)).mappings()]


def ledger_balance(uow: UnitOfWork, account_id: int) -> int:
    with uow.connect() as conn:
        return L.balance(conn, account_id).balance_minor


def reconcile(uow: UnitOfWork, customer_id: str) -> dict[str, tuple[int, int]]:
    """Per receivable component: (what account state says is posted and unpaid, what the
    ledger says). They must agree at every instant; accrued-but-unposted interest is in
    neither (it is only in the accrual numerators)."""
    with uow.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(credit_accounts).where(
            credit_accounts.c.customer_id == customer_id)).mappings()]
        state = {"principal": 0, "interest": 0, "fee": 0, "penalty": 0}
        for row in rows:
            if row["status"] == "written_off":
                continue
            open_items = [dict(r) for r in conn.execute(select(credit_installments).where(
                credit_installments.c.account_seq == row["seq"],
                credit_installments.c.status.in_(("billed", "past_due")))).mappings()]
            state["principal"] += (row["principal_unbilled_minor"] + row["principal_billed_minor"]
                                   + row["principal_past_due_minor"])
            # A line's disputed bucket (issue #20): held out of its balances, still in the
            # ledger's principal receivable.
            state["principal"] += disputed_minor(conn, row["account_id"])
            state["interest"] += sum(i["interest_minor"] - i["interest_paid_minor"]
                                     for i in open_items)
            state["fee"] += sum(i["fee_minor"] - i["fee_paid_minor"] for i in open_items) \
                + row["late_fee_unpaid_minor"]
            state["penalty"] += row["penalty_unpaid_minor"]
        ledger = {}
        for component in state:
            key = party_key(f"credit_{component}_receivable", customer_id, CNY)
            try:
                ledger[component] = L.get_account_by_key(conn, key).balance_minor
            except Exception:  # noqa: BLE001 - no account yet means nothing posted
                ledger[component] = 0
    return {c: (state[c], ledger[c]) for c in state}


def repay(uow: UnitOfWork, who: Customer, repayment_id: str, amount_minor: int,
          target: str | None = None, catalogue: Catalogue = CATALOGUE) -> S.RepaymentResult:
    """Repay from the customer's wallet (``target``: one account, else what is owed)."""
    with uow.begin() as tx:
        return S.repay(tx, repayment_id=repayment_id, customer_id=who.customer_id,
                       currency=CNY, amount_minor=amount_minor,
                       source_account_id=who.wallet_id, target=target, catalogue=catalogue)


def payoff(uow: UnitOfWork, account_id: str) -> int:
    with uow.connect() as conn:
        return S.payoff_amount(conn, account_id)


def statement(uow: UnitOfWork, line_id: str, day: dt.date) -> S.StatementView:
    with uow.connect() as conn:
        return S.get_statement(conn, f"{line_id}:{day.isoformat()}")


def platform_balance(uow: UnitOfWork, code: str) -> int:
    with uow.connect() as conn:
        return L.get_account_by_key(conn, platform_key(code, CNY)).balance_minor


def assert_books(uow: UnitOfWork, customer_id: str) -> None:
    """Account state equals the ledger for every receivable, and the ledger verifies."""
    from creditpay.ledger.verify import verify_ledger

    for component, (state, ledger) in reconcile(uow, customer_id).items():
        assert state == ledger, component
    with uow.connect() as conn:
        report = verify_ledger(conn)
    assert report.ok, report.problems

"""credit.bills.bills_owed (the simulator's daily look at what every owing account takes to
pay) gives, on both stores, what the per-account reads it replaces gave: the book's owing
active accounts (portfolio: billed unpaid above zero or past due) and, for each,
``load_account`` and ``amount_owed(include_unbilled=False)`` with its accrual split out."""

from __future__ import annotations

import datetime as dt

from creditpay.credit import service as S
from creditpay.credit.bills import bills_owed
from creditpay.credit.plans import accrual_denominator, load_account
from creditpay.credit.repayments import amount_owed
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, buy, close_days, new_customer


def _old_bills(conn):
    accounts, _ = S.portfolio(conn, CNY)
    out = []
    for account in accounts:
        if account.status != "active" or not (account.billed_unpaid_minor > 0
                                               or account.dpd > 0):
            continue
        loaded = load_account(conn, account.account_id)
        denominator = accrual_denominator(loaded)
        accrued = (loaded["interest_accrual_num"] // denominator
                   + loaded["penalty_accrual_num"] // denominator)
        out.append((account.account_id, account.customer_id, loaded["kind"], account.dpd,
                    amount_owed(conn, loaded, include_unbilled=False), accrued))
    return out


def test_bills_owed_equal_the_per_account_reads(uow, clock):
    who = new_customer(uow, "c1")
    other = new_customer(uow, "c2")
    buy(uow, who, "p1", 30_000)
    buy(uow, who, "p2", 120_000, funding="plan", product_code="baitiao", periods=3)
    buy(uow, other, "p3", 60_000, funding="plan", periods=6)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-a", customer_id="c2", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=7,
                             method="bullet", wallet_account_id=other.wallet_id,
                             catalogue=CATALOGUE)
    kinds, late = set(), 0
    for _ in range(8):  # statements, billed installments, a bullet loan past due
        close_days(uow, clock, 7)
        with uow.connect() as conn:
            new = [(b.account_id, b.customer_id, b.kind, b.dpd, b.owed_minor, b.accrued_minor)
                   for b in bills_owed(conn, CNY)]
            assert new == _old_bills(conn)
        kinds |= {row[2] for row in new}
        late += sum(row[3] > 0 for row in new)
    assert kinds == {"line", "plan", "loan"} and late, (kinds, late)
    assert clock.today() > dt.date(2025, 4, 1)

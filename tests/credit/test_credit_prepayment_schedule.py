"""After a prepayment the installments shown are what the close of business bills.

Property (both stores): loans of every method under both prepayment rules, at random rates,
day counts, amounts and start dates, and fee- and interest-priced plans, are prepaid on a
random day by a random amount (or only the interest accrued so far is paid ahead); the
rows shown right after (``account_installments``, and the stored rows) are then compared
with every installment the close of business bills, day by day to the end, each paid on
its due date by auto-debit: principal, interest and fee equal to the minor unit, nothing
billed that was not shown, and the account closed at the end.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    CNY,
    account,
    buy,
    close_days,
    grant_auto_debit,
    items,
    new_customer,
    reconcile,
)

LOAN_METHODS = ("equal_installment", "equal_principal", "flat", "interest_only", "bullet")
RULES = ("reduce_term", "reduce_installment")


class Products:
    """The packaged products plus the test's own cash-loan products (rate, day count and
    rule drawn by Hypothesis): each addition makes a new catalogue (``current``), which the
    test passes to the services it calls."""

    def __init__(self) -> None:
        self.current = CATALOGUE
        self._extra: list = []

    def __call__(self, product) -> None:
        self._extra.append(product)
        self.current = P.Catalogue([*CATALOGUE.all(), *self._extra],
                                   {"CN": CATALOGUE.caps("CN")})


@pytest.fixture
def catalogue() -> Products:
    return Products()


def _loan_product(code: str, rate_micro: int, day_count: str, rule: str, months: int,
                  days: int):
    return P.parse_product({
        "code": code, "version": 1, "kind": "cash_loan", "currency": CNY,
        "annual_rate": str(Decimal(rate_micro) / 1_000_000), "methods": list(LOAN_METHODS),
        "terms": [{"months": months}, {"days": days}], "day_count": day_count,
        "penalty_annual_rate": "0.1095", "prepayment_rule": rule,
        "amount_min_minor": 100, "amount_max_minor": 20_000_000})


def _auto_debit(uow, who, account_id: str) -> None:
    with uow.begin() as tx:
        S.set_auto_debit(tx, account_id=account_id, enabled=True,
                         wallet_account_id=who.wallet_id,
                         consent_reference=grant_auto_debit(tx, who.customer_id))


def _prepay(uow, who, account_id: str, percent: int, tag: str,
            catalogue: P.Catalogue = CATALOGUE) -> int:
    """Pay what is due, the interest accrued so far and ``percent`` of the principal not
    yet billed (0: only the interest accrued, paid ahead). Returns the principal prepaid."""
    row = account(uow, account_id)
    denominator = 1_000_000 * row["year_basis_days"]
    due = sum(i["principal_minor"] + i["interest_minor"] + i["fee_minor"]
              - i["principal_paid_minor"] - i["interest_paid_minor"] - i["fee_paid_minor"]
              for i in items(uow, account_id) if i["status"] in ("billed", "past_due"))
    accrued = row["interest_accrual_num"] // denominator
    principal = row["principal_unbilled_minor"] * percent // 100
    amount = due + accrued + principal
    if amount == 0:
        return 0
    with uow.begin() as tx:
        result = S.repay(tx, repayment_id=tag, customer_id=who.customer_id, currency=CNY,
                         amount_minor=amount, source_account_id=who.wallet_id,
                         target=account_id, catalogue=catalogue)
    assert result.prepayment_minor == principal
    return principal


def _shown(uow, account_id: str) -> list[tuple]:
    """The rows still to bill, as the view shows them, checked against the stored rows."""
    with uow.connect() as conn:
        view = S.account_installments(conn, account_id)
    stored = sorted((i["due_date"], i["principal_minor"], i["interest_minor"], i["fee_minor"])
                     for i in items(uow, account_id) if i["status"] == "scheduled")
    shown = [(i.due_date, i.principal_minor, i.interest_minor, i.fee_minor) for i in view
             if i.status == "scheduled"]
    assert shown == stored
    for row in view:
        assert row.total_minor == row.principal_minor + row.interest_minor + row.fee_minor
    return shown


def _prepay_all(uow, accounts, percents, tag: str, catalogue: P.Catalogue = CATALOGUE
                ) -> dict[str, list[tuple]]:
    """Prepay each account (a bullet already repaid is skipped); the rows shown after."""
    shown = {}
    for (who, account_id), percent in zip(accounts, percents, strict=True):
        if account(uow, account_id)["status"] == "active":
            _prepay(uow, who, account_id, percent, f"{account_id}-{tag}", catalogue)
        shown[account_id] = _shown(uow, account_id)
    return shown


def _billed_between(uow, account_id: str, after: dt.date, through: dt.date) -> list[tuple]:
    return [row for row in _billed_after(uow, account_id, after) if row[0] <= through]


def _billed_after(uow, account_id: str, day: dt.date) -> list[tuple]:
    return sorted((i["due_date"], i["principal_minor"], i["interest_minor"], i["fee_minor"])
                  for i in items(uow, account_id)
                  if i["status"] != "cancelled" and i["due_date"] > day)


def test_rows_shown_after_a_prepayment_are_what_is_billed(uow, clock, catalogue):
    runs = itertools.count()

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(rate_micro=st.integers(1_000, 120_000),
           day_count=st.sampled_from(["ACT/365", "ACT/360"]),
           months=st.sampled_from([2, 3]), bullet_days=st.integers(20, 60),
           amount=st.integers(10_000, 3_000_000), idle_days=st.integers(0, 25),
           prepay_after=st.integers(0, 55), second_after=st.integers(0, 30),
           percents=st.lists(st.integers(0, 99), min_size=24, max_size=24))
    def run(rate_micro, day_count, months, bullet_days, amount, idle_days, prepay_after,
            second_after, percents):
        run_id = next(runs)
        close_days(uow, clock, idle_days, catalogue=catalogue.current)
        accounts = []  # (customer, account id)
        for rule in RULES:
            code = f"t{run_id}_{rule[7]}"
            catalogue(_loan_product(code, rate_micro, day_count, rule, months, bullet_days))
            for method in LOAN_METHODS:
                who = new_customer(uow, f"r{run_id}{rule[7]}{method[:5]}",
                                   wallet_minor=20_000_000, limit_minor=20_000_000)
                loan_id = f"L{run_id}-{rule[7]}-{method}"
                with uow.begin() as tx:
                    S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id,
                                         currency=CNY, principal_minor=amount,
                                         product_code=code, method=method,
                                         periods=bullet_days if method == "bullet"
                                         else months, wallet_account_id=who.wallet_id,
                                         catalogue=catalogue.current)
                accounts.append((who, loan_id))
        for code, rule in (("baitiao", "t"), ("apr_plan", "i")):
            who = new_customer(uow, f"r{run_id}{rule}{code}", limit_minor=5_000_000,
                               wallet_minor=20_000_000)
            _, purchase = buy(uow, who, f"p{run_id}{code}", max(60_000, amount),
                              funding="plan", product_code=code, periods=3,
                              catalogue=catalogue.current)
            accounts.append((who, purchase.account_id))
        for who, account_id in accounts:
            _auto_debit(uow, who, account_id)
        close_days(uow, clock, prepay_after, catalogue=catalogue.current)
        first_day = clock.today()
        first = _prepay_all(uow, accounts, percents[:12], "prepay", catalogue.current)
        # A second prepayment later restates rows that were themselves rescheduled.
        close_days(uow, clock, second_after, catalogue=catalogue.current)
        prepay_day = clock.today()
        for _who, account_id in accounts:
            assert _billed_between(uow, account_id, first_day, prepay_day) == [
                row for row in first[account_id] if row[0] <= prepay_day], account_id
        shown = _prepay_all(uow, accounts, percents[12:], "again", catalogue.current)
        for _ in range(200):
            if all(account(uow, a)["status"] == "closed" for _, a in accounts):
                break
            close_days(uow, clock, 1, catalogue=catalogue.current)
        for who, account_id in accounts:
            row = account(uow, account_id)
            assert row["status"] == "closed", account_id
            # Everything due after the prepayment day was still to bill when it was shown.
            billed = _billed_after(uow, account_id, prepay_day)
            assert billed == shown[account_id], (account_id, billed, shown[account_id])
            for component, (state, ledger) in reconcile(uow, who.customer_id).items():
                assert state == ledger, (account_id, component)

    run()


def _loan_rows(uow, loan_id: str) -> list[tuple]:
    return [(i["due_date"], i["principal_minor"], i["interest_minor"], i["fee_minor"])
            for i in items(uow, loan_id) if i["status"] != "cancelled"]


def _disburse(uow, who, loan_id: str, product_code: str, periods: int, method: str,
              amount: int = 1_200_000, catalogue: P.Catalogue = CATALOGUE) -> None:
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id, currency=CNY,
                             principal_minor=amount, product_code=product_code,
                             periods=periods, method=method, wallet_account_id=who.wallet_id,
                             catalogue=catalogue)
    _auto_debit(uow, who, loan_id)


def _accounts_row(uow, loan_id: str) -> dict:
    with uow.connect() as conn:
        return dict(conn.execute(select(credit_accounts).where(
            credit_accounts.c.account_id == loan_id)).mappings().one())


def _close_to(uow, clock, day: dt.date, catalogue: P.Catalogue = CATALOGUE) -> None:
    close_days(uow, clock, (day - clock.today()).days, catalogue=catalogue)


def test_flat_loan_prepayment_stops_interest_on_what_is_prepaid(uow, clock):
    """Issue 13 item 10 (flat, reduce_term). 12,000.00 at 10.8 % flat over 12 months from
    2025-03-01, ACT/365; two installments paid; on 2025-05-11 the 35.50 accrued since May 1
    and 3,000.00 of principal are prepaid. From then on the interest is on 12,000.00 -
    3,000.00 = 9,000.00; the principal part 1,000.00 is kept, so 7,000.00 takes 7 more
    installments (June-December) instead of 10. Before the fix the rows showed interest 0
    and the close of business billed interest on 12,000.00."""
    who = new_customer(uow, wallet_minor=5_000_000, limit_minor=5_000_000)
    _disburse(uow, who, "flat-1", "flat_loan", 12, "flat")
    _close_to(uow, clock, dt.date(2025, 5, 11))
    # 1,200,000 x 10.8 % x 10 / 365 = 3,550.68: 3,550 paid now, 0.68 carried to June
    with uow.begin() as tx:
        result = S.repay(tx, repayment_id="pre", customer_id=who.customer_id, currency=CNY,
                         amount_minor=3_550 + 300_000, source_account_id=who.wallet_id,
                         target="flat-1", catalogue=CATALOGUE)
    assert (result.interest_minor, result.prepayment_minor) == (3_550, 300_000)
    expected = [  # 9,000.00 x 10.8 % x days / 365, June with the 50/73 carried
        (dt.date(2025, 6, 1), 100_000, 5_593, 0),  # 21 days: 5,592.33 + 0.68
        (dt.date(2025, 7, 1), 100_000, 7_989, 0),  # 30 days
        (dt.date(2025, 8, 1), 100_000, 8_255, 0),  # 31 days
        (dt.date(2025, 9, 1), 100_000, 8_255, 0),
        (dt.date(2025, 10, 1), 100_000, 7_989, 0),
        (dt.date(2025, 11, 1), 100_000, 8_255, 0),
        (dt.date(2025, 12, 1), 100_000, 7_989, 0),
    ]
    assert _shown(uow, "flat-1") == expected
    assert _accounts_row(uow, "flat-1")["principal_prepaid_minor"] == 300_000
    _close_to(uow, clock, dt.date(2025, 12, 3))
    assert account(uow, "flat-1")["status"] == "closed"
    assert _billed_after(uow, "flat-1", dt.date(2025, 5, 11)) == expected
    # Before the prepayment: 11,007 (31 days) and 10,652 (30 days) on 12,000.00.
    assert _loan_rows(uow, "flat-1")[:2] == [(dt.date(2025, 4, 1), 100_000, 11_007, 0),
                                             (dt.date(2025, 5, 1), 100_000, 10_652, 0)]


def test_equal_principal_reduce_term_keeps_the_part_and_shows_interest(uow, clock, catalogue):
    """Issue 13 item 10 (equal principal, reduce_term). 1,000.03 over 3 months: parts
    333.34, 333.34, 333.35. Prepaying 0.01 after the first keeps the part 333.34 (the old
    code kept the largest part, 333.35) and the rows show the interest billed (was 0)."""
    catalogue(_loan_product("ep_term", 182_500, "ACT/365", "reduce_term", 3, 30))
    who = new_customer(uow, wallet_minor=5_000_000, limit_minor=5_000_000)
    _disburse(uow, who, "ep-1", "ep_term", 3, "equal_principal", amount=100_003,
              catalogue=catalogue.current)
    assert [r[1] for r in _loan_rows(uow, "ep-1")] == [33_334, 33_334, 33_335]
    _close_to(uow, clock, dt.date(2025, 4, 11), catalogue.current)
    row = account(uow, "ep-1")
    accrued = row["interest_accrual_num"] // (1_000_000 * 365)
    with uow.begin() as tx:
        S.repay(tx, repayment_id="pre", customer_id=who.customer_id, currency=CNY,
                amount_minor=accrued + 1, source_account_id=who.wallet_id, target="ep-1",
                catalogue=catalogue.current)
    shown = _shown(uow, "ep-1")
    assert [r[1] for r in shown] == [33_334, 33_334]
    # Apr 1-10 on 666.69: 3.33345, 3.33 paid with the prepayment, 0.00345 carried; Apr 11-30
    # on 666.68: 6.6668; so 6.67 in May. June: 333.34 x 18.25 % x 31 / 365 = 5.17.
    assert [r[2] for r in shown] == [6_67, 5_17]
    _close_to(uow, clock, dt.date(2025, 6, 3), catalogue.current)
    assert _billed_after(uow, "ep-1", dt.date(2025, 4, 11)) == shown


def test_interest_paid_ahead_restates_the_next_installment(uow, clock):
    """Paying only the interest accrued so far (no principal) leaves the parts as they are;
    the next installment's interest is what is left to bill, not the original figure."""
    who = new_customer(uow, wallet_minor=5_000_000, limit_minor=5_000_000)
    _disburse(uow, who, "ei-1", "jiebei", 3, "equal_installment")
    before = _loan_rows(uow, "ei-1")
    _close_to(uow, clock, dt.date(2025, 4, 16))  # 15 days into the second period
    row = account(uow, "ei-1")
    accrued = row["interest_accrual_num"] // (1_000_000 * 365)
    assert accrued > 0
    with uow.begin() as tx:
        result = S.repay(tx, repayment_id="ahead", customer_id=who.customer_id,
                         currency=CNY, amount_minor=accrued, source_account_id=who.wallet_id,
                         target="ei-1", catalogue=CATALOGUE)
    assert (result.interest_minor, result.prepayment_minor) == (accrued, 0)
    shown = _shown(uow, "ei-1")
    assert [r[1] for r in shown] == [r[1] for r in before[1:]]  # principal unchanged
    assert shown[0][2] == before[1][2] - accrued  # whole units paid ahead, none lost
    assert shown[1][2] == before[2][2]
    _close_to(uow, clock, dt.date(2025, 6, 3))
    assert account(uow, "ei-1")["status"] == "closed"
    assert _billed_after(uow, "ei-1", dt.date(2025, 4, 16)) == shown

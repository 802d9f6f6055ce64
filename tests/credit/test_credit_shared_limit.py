"""One granted limit for every credit product of a customer: cash loans draw on the line's
available credit in the ledger as purchases and plans do, so their total never exceeds the
limit, in any order (example and Hypothesis sequences) and under concurrency; repaid
principal gives the limit back. On both stores."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts, credit_authorisations
from creditpay.errors import DomainError, InsufficientFundsError, LimitExceededError
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, buy, new_customer

LIMIT = 1_000_000


def _loan(uow, who, loan_id: str, principal_minor: int):
    with uow.begin() as tx:
        return S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id,
                                    currency=CNY, principal_minor=principal_minor,
                                    product_code="jiebei", periods=12,
                                    method="equal_installment", wallet_account_id=who.wallet_id,
                                    catalogue=CATALOGUE)


def _used(uow, who) -> int:
    """Principal outstanding on every open account plus open holds: what the limit bounds."""
    with uow.connect() as conn:
        principal = conn.execute(select(func.coalesce(func.sum(
            credit_accounts.c.principal_unbilled_minor + credit_accounts.c.principal_billed_minor
            + credit_accounts.c.principal_past_due_minor), 0)).where(
            credit_accounts.c.customer_id == who.customer_id,
            credit_accounts.c.status == "active")).scalar_one()
        held = conn.execute(select(func.coalesce(func.sum(
            credit_authorisations.c.held_minor - credit_authorisations.c.captured_minor), 0)
        ).where(credit_authorisations.c.customer_id == who.customer_id,
                credit_authorisations.c.status == "authorised")).scalar_one()
    return int(principal) + int(held)


def _available(uow, who) -> int:
    with uow.connect() as conn:
        line = S.line_of(conn, who.line_id)
    return line.available_minor


def test_a_loan_for_the_whole_limit_leaves_nothing_for_purchases(uow):
    who = new_customer(uow, limit_minor=LIMIT)
    _loan(uow, who, "loan-all", LIMIT)
    assert _available(uow, who) == 0
    with pytest.raises(InsufficientFundsError):
        buy(uow, who, "p-after", LIMIT)
    with pytest.raises(InsufficientFundsError):
        buy(uow, who, "p-small", 100)
    assert _used(uow, who) == LIMIT


def test_a_purchase_for_the_whole_limit_leaves_nothing_for_a_loan(uow):
    who = new_customer(uow, limit_minor=LIMIT)
    buy(uow, who, "p-all", LIMIT)
    with pytest.raises(LimitExceededError) as refused:
        _loan(uow, who, "loan-after", 50_000)
    assert refused.value.field == "principal_minor"
    assert refused.value.extra["available_minor"] == 0
    assert _used(uow, who) == LIMIT


def test_an_open_hold_and_a_plan_count_too(uow):
    who = new_customer(uow, limit_minor=LIMIT)
    buy(uow, who, "plan", 400_000, funding="plan", product_code="baitiao", periods=6)
    _hold(uow, 300_000)  # authorised, not captured: the hold takes the limit
    with pytest.raises(LimitExceededError):
        _loan(uow, who, "loan-too-big", 300_001)
    _loan(uow, who, "loan-fits", 300_000)
    assert _available(uow, who) == 0 and _used(uow, who) == LIMIT


def test_repaid_loan_principal_gives_the_limit_back(uow):
    who = new_customer(uow, limit_minor=LIMIT)
    _loan(uow, who, "loan-1", LIMIT)
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r1", customer_id="c1", currency=CNY, amount_minor=LIMIT,
                source_account_id=who.wallet_id, target="loan-1", catalogue=CATALOGUE)
    assert _available(uow, who) == LIMIT
    buy(uow, who, "p-after-repay", LIMIT)
    assert _used(uow, who) == LIMIT


def test_concurrent_loans_and_purchases_never_exceed_the_limit(uow, store):
    who = new_customer(uow, limit_minor=LIMIT)
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def loan(n: int) -> None:
        start.wait()
        try:
            uow.run(lambda tx: S.disburse_cash_loan(
                tx, loan_id=f"loan-{n}", customer_id="c1", currency=CNY,
                principal_minor=600_000, product_code="jiebei", periods=12,
                method="equal_installment", wallet_account_id=who.wallet_id, catalogue=CATALOGUE))
            outcome = "loan"
        except DomainError:
            outcome = "refused"
        with lock:
            results.append(outcome)

    def purchase(n: int) -> None:
        start.wait()
        try:
            buy(uow, who, f"p-{n}", 600_000)
            outcome = "purchase"
        except DomainError:
            outcome = "refused"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=loan if n % 2 else purchase, args=(n,))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert results.count("refused") == 7, results  # 2 x 600,000 > 1,000,000: one fits
    assert _used(uow, who) == 600_000 == LIMIT - _available(uow, who)
    with uow.connect() as conn:
        assert L.verify_ledger(conn).ok


_STEPS = st.lists(st.tuples(st.sampled_from(["loan", "line", "plan", "repay"]),
                            st.integers(min_value=1, max_value=12)), min_size=1, max_size=8)


def test_any_order_of_products_stays_within_the_limit(uow):
    runs = itertools.count()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(steps=_STEPS)
    def run(steps):
        customer = f"h{next(runs)}"  # a new customer (and line) per example
        who = new_customer(uow, customer, limit_minor=LIMIT)
        for n, (kind, tenths) in enumerate(steps):
            amount = LIMIT * tenths // 10  # from 10 % to 120 % of the limit
            tag = f"{customer}-{n}"
            try:
                if kind == "loan":
                    _loan(uow, who, tag, amount)
                elif kind == "line":
                    buy(uow, who, tag, amount)
                elif kind == "plan":
                    buy(uow, who, tag, amount, funding="plan", product_code="baitiao",
                        periods=6)
                else:
                    with uow.begin() as tx:
                        S.repay(tx, repayment_id=tag, customer_id=customer, currency=CNY,
                                amount_minor=max(1, min(amount, _used(uow, who))),
                                source_account_id=who.wallet_id, catalogue=CATALOGUE)
            except DomainError:
                pass  # refused: what matters is what was accepted
            used = _used(uow, who)
            assert used <= LIMIT, (steps[: n + 1], used)
            assert used == LIMIT - _available(uow, who)

    run()


def test_the_line_only_position_agrees_with_the_full_one(uow):
    """``borrower_position(with_accounts=False)`` (the utilisation nudge's read: the line
    alone) gives the full position's limit and use, with no exposure or plans summed."""
    with uow.begin() as tx:
        assert S.borrower_position(tx.conn, "nobody", CNY,
                                   with_accounts=False).has_line is False
    who = new_customer(uow, limit_minor=LIMIT)
    buy(uow, who, "plan", 400_000, funding="plan", product_code="baitiao", periods=6)
    _hold(uow, 300_000)
    with uow.begin() as tx:
        full = S.borrower_position(tx.conn, "c1", CNY)
        line_only = S.borrower_position(tx.conn, "c1", CNY, with_accounts=False)
    assert full.used_minor == 700_000 and full.open_plans == 1
    assert (line_only.credit_limit_minor, line_only.used_minor, line_only.has_line) == (
        full.credit_limit_minor, full.used_minor, True)
    assert (line_only.exposure_minor, line_only.open_plans) == (0, 0)


def _hold(uow, amount_minor: int, authorisation_id: str = "held") -> None:
    """Authorise (not capture) a pay-in-full purchase of ``amount_minor`` for c1."""
    with uow.begin() as tx:
        offer = next(o for o in S.quote_offers(tx, customer_id="c1", amount_minor=amount_minor,
                                               currency=CNY,
                                               catalogue=CATALOGUE) if o.funding == "line")
        S.authorise_purchase(tx, authorisation_id=authorisation_id, customer_id="c1",
                             amount_minor=amount_minor, currency=CNY, offer_id=offer.offer_id,
                             catalogue=CATALOGUE)


def test_the_checkout_s_one_read_of_the_line_gives_the_same_position(uow):
    """A checkout reads the line, its exposure and plans once (``borrower_line``) for its
    affordability check and its authorisation: the position built from that read is the
    one ``borrower_position`` reads itself, with and without a line; a read for another
    customer or currency is not used."""
    with uow.begin() as tx:
        none = S.borrower_line(tx, "nobody", CNY)
        assert none.line is None
        assert S.borrower_position(tx.conn, "nobody", CNY, line=none) == \
            S.borrower_position(tx.conn, "nobody", CNY)
    who = new_customer(uow, limit_minor=LIMIT)
    buy(uow, who, "plan", 400_000, funding="plan", product_code="baitiao", periods=6)
    _hold(uow, 300_000)
    with uow.begin() as tx:
        line = S.borrower_line(tx, "c1", CNY)
        assert line.line is not None and line.line["line_id"] == who.line_id
        assert (line.exposure_principal_minor, line.exposure_held_minor, line.open_plans) == (
            400_000, 300_000, 1)
        full = S.borrower_position(tx.conn, "c1", CNY)
        assert S.borrower_position(tx.conn, "c1", CNY, line=line) == full
        assert full.exposure_minor == 700_000 and full.open_plans == 1
        # Someone else's read is ignored (read again).
        assert S.borrower_position(tx.conn, "nobody", CNY, line=line) == \
            S.borrower_position(tx.conn, "nobody", CNY)

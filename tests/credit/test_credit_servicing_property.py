"""Property: any sequence of purchases (line and plans), repayments, refunds, cash loans
(flat-rate ones included), prepayments and close-of-business days keeps the ledger balanced,
every balance >= 0, and account state equal to the ledger, on both stores; and at every
period end (an installment billed, a statement cut) the period's accrual has been posted
in full, with the ledger's income equal to what account state says was posted."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts, credit_installments, credit_statements
from creditpay.errors import DomainError
from creditpay.ledger.chart import platform_key
from creditpay.ledger.verify import verify_ledger
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, buy, close_days, new_customer, reconcile

OPS = st.one_of(
    st.tuples(st.just("buy_line"), st.integers(100, 80_000)),
    st.tuples(st.just("buy_plan"), st.integers(56_000, 120_000),
              st.sampled_from([("baitiao", 3), ("baitiao", 6), ("apr_plan", 3),
                               ("baitiao_free", 3)])),
    st.tuples(st.just("repay"), st.integers(1, 100)),  # percent of what is owed
    st.tuples(st.just("prepay"), st.integers(1, 100)),
    st.tuples(st.just("refund"), st.integers(1, 100)),
    st.tuples(st.just("loan"), st.integers(10_000, 200_000), st.sampled_from(
        [("jiebei", 3, "equal_installment"), ("jiebei", 6, "equal_principal"),
         ("jiebei", 3, "interest_only"), ("jiebei", 7, "bullet"),
         ("flat_loan", 6, "flat")])),
    st.tuples(st.just("days"), st.integers(1, 35)),
    st.tuples(st.just("pay_bill"), st.just(0)),
)


def _check(uow, customer_id: str) -> None:
    with uow.connect() as conn:
        report = verify_ledger(conn)
        assert report.ok, report.problems
        for row in conn.execute(select(credit_accounts)).mappings():
            for name, value in row.items():
                if name.endswith("_minor") or name.endswith("_num"):
                    assert value is None or value >= 0, (name, value)
        for row in conn.execute(select(credit_installments)).mappings():
            assert row["principal_paid_minor"] <= row["principal_minor"]
    for component, (state, ledger) in reconcile(uow, customer_id).items():
        assert state == ledger, component


def _check_period_ends(uow, business_date: dt.date) -> None:
    """After the close of business of ``business_date``: every plan or loan that billed an
    installment (due the next day) and every line that cut a statement has no accrual left
    unposted (docs/servicing.md: at every period end the period's accrual is zero), and
    each income account equals the postings recorded in account state."""
    with uow.connect() as conn:
        # Billed today, or billed ahead by a repayment (and maybe paid since): either way
        # its period ended at this close of business.
        billed = set(conn.execute(select(credit_installments.c.account_seq).where(
            credit_installments.c.due_date == business_date + dt.timedelta(days=1),
            credit_installments.c.status.in_(("billed", "paid")))).scalars())
        cut = set(conn.execute(select(credit_statements.c.account_seq).where(
            credit_statements.c.statement_date == business_date)).scalars())
        rows = [dict(r) for r in conn.execute(select(credit_accounts)).mappings()]
        income = {code: L.get_account_by_key(conn, platform_key(code, CNY)).balance_minor
                  for code in ("interest_income", "penalty_income", "fee_income")}
    for row in rows:
        if row["status"] != "active":
            continue
        period_end = (row["kind"] == "line" and row["seq"] in cut) or \
            (row["kind"] != "line" and row["seq"] in billed)
        if period_end:
            # Every account in the store is checked, those of earlier examples too (they are
            # still serviced): a failure naming another customer than the example's will not
            # replay alone (Hypothesis then reports it as flaky).
            assert (row["interest_accrual_num"], row["penalty_accrual_num"]) == (0, 0), \
                (row["account_id"], row["customer_id"], business_date)
    assert income["interest_income"] == sum(r["interest_posted_minor"] for r in rows)
    assert income["penalty_income"] == sum(r["penalty_posted_minor"] for r in rows)
    # Merchant-paid plan fees are income too, recorded as the plan's subsidy.
    assert income["fee_income"] == sum(r["fee_posted_minor"] + r["subsidy_fee_minor"]
                                       for r in rows)


def _check_bill_paid(uow, customer_id: str) -> None:
    """After paying ``bill_in_full_minor``: nothing is due or past due on any account, no
    charge is unpaid, and no installment a statement shows is left unpaid."""
    with uow.connect() as conn:
        active = conn.execute(select(credit_accounts).where(
            credit_accounts.c.customer_id == customer_id,
            credit_accounts.c.status == "active")).mappings().all()
        for a in active:
            assert (a["penalty_unpaid_minor"], a["late_fee_unpaid_minor"]) == (0, 0), \
                a["account_id"]
        seqs = {a["seq"]: a["status"] for a in active}
        rows = conn.execute(select(credit_installments).where(
            credit_installments.c.account_seq.in_(sorted(seqs)))).mappings().all()
    for row in rows:
        owed = row["principal_minor"] + row["interest_minor"] + row["fee_minor"] - \
            row["principal_paid_minor"] - row["interest_paid_minor"] - row["fee_paid_minor"]
        assert not (row["status"] in ("billed", "past_due") and owed), dict(row)
        assert not (row["status"] == "scheduled" and row["statement_id"]), dict(row)


def test_random_servicing_keeps_the_books(uow, clock):
    runs = itertools.count()

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(ops=st.lists(OPS, min_size=1, max_size=14))
    def run(ops):
        run_id = next(runs)
        customer = f"h{run_id}"
        # Every other run on a revolving line: daily interest posted at each statement.
        who = new_customer(uow, customer, limit_minor=300_000, wallet_minor=5_000_000,
                           product_code="revolver" if run_id % 2 else "huabei")
        purchases: list[str] = []
        loans: list[str] = []
        ids = itertools.count()
        for op in ops:
            tag = f"{customer}-{next(ids)}"
            try:
                if op[0] == "buy_line":
                    buy(uow, who, tag, op[1])
                    purchases.append(tag)
                elif op[0] == "buy_plan":
                    code, periods = op[2]
                    buy(uow, who, tag, op[1], funding="plan", product_code=code,
                        periods=periods)
                    purchases.append(tag)
                elif op[0] in ("repay", "prepay"):
                    targets = [None] if op[0] == "repay" else loans + [who.line_id]
                    target = targets[op[1] % len(targets)]
                    with uow.connect() as conn:
                        accounts = [a for a in S.list_accounts(conn, customer)
                                    if a.status in ("active", "written_off")]
                        owed = sum(S.payoff_amount(conn, a.account_id) for a in accounts
                                   if target in (None, a.account_id))
                    amount = max(1, owed * op[1] // 100)
                    with uow.begin() as tx:
                        S.repay(tx, repayment_id=tag, customer_id=customer, currency=CNY,
                                amount_minor=amount, source_account_id=who.wallet_id,
                                target=target, catalogue=CATALOGUE)
                elif op[0] == "refund" and purchases:
                    purchase = purchases[op[1] % len(purchases)]
                    with uow.begin() as tx:
                        S.refund_purchase(tx, refund_id=tag, purchase_id=purchase,
                                          amount_minor=max(1, 100 * op[1]), catalogue=CATALOGUE)
                elif op[0] == "loan":
                    product_code, periods, method = op[2]
                    with uow.begin() as tx:
                        S.disburse_cash_loan(tx, loan_id=tag, customer_id=customer,
                                             currency=CNY, principal_minor=op[1],
                                             product_code=product_code, periods=periods,
                                             method=method, wallet_account_id=who.wallet_id,
                                             catalogue=CATALOGUE)
                    loans.append(tag)
                elif op[0] == "pay_bill":
                    # The bill in full today: everything due, and every installment the
                    # statements show, whatever its pricing, is paid by it.
                    with uow.connect() as conn:
                        due = S.bill_in_full_minor(conn, customer, CNY, clock.today(),
                                                   catalogue=CATALOGUE)
                    if due:
                        with uow.begin() as tx:
                            S.repay(tx, repayment_id=tag, customer_id=customer, currency=CNY,
                                    amount_minor=due, source_account_id=who.wallet_id,
                                    catalogue=CATALOGUE)
                        _check_bill_paid(uow, customer)
                elif op[0] == "days":
                    for _ in range(op[1]):
                        business_date = clock.today()
                        close_days(uow, clock, 1)
                        _check_period_ends(uow, business_date)
            except DomainError:
                pass  # a refusal (over limit, over-refund, more than owed) changes nothing
            _check(uow, customer)

    run()

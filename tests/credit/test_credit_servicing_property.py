"""Property: any sequence of purchases (line and plans), repayments, refunds, cash loans,
prepayments and close-of-business days keeps the ledger balanced, every balance >= 0, and
account state equal to the ledger, on both stores."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay.credit import service as S
from creditpay.credit.tables import credit_accounts, credit_installments
from creditpay.errors import DomainError
from creditpay.ledger.verify import verify_ledger

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
        [(3, "equal_installment"), (6, "equal_principal"), (3, "interest_only"),
         (7, "bullet")])),
    st.tuples(st.just("days"), st.integers(1, 35)),
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


def test_random_servicing_keeps_the_books(uow, clock):
    runs = itertools.count()

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(ops=st.lists(OPS, min_size=1, max_size=14))
    def run(ops):
        run_id = next(runs)
        customer = f"h{run_id}"
        who = new_customer(uow, customer, limit_minor=300_000, wallet_minor=5_000_000)
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
                                target=target)
                elif op[0] == "refund" and purchases:
                    purchase = purchases[op[1] % len(purchases)]
                    with uow.begin() as tx:
                        S.refund_purchase(tx, refund_id=tag, purchase_id=purchase,
                                          amount_minor=max(1, 100 * op[1]))
                elif op[0] == "loan":
                    periods, method = op[2]
                    with uow.begin() as tx:
                        S.disburse_cash_loan(tx, loan_id=tag, customer_id=customer,
                                             currency=CNY, principal_minor=op[1],
                                             product_code="jiebei", periods=periods,
                                             method=method, wallet_account_id=who.wallet_id)
                    loans.append(tag)
                elif op[0] == "days":
                    close_days(uow, clock, op[1])
            except DomainError:
                pass  # a refusal (over limit, over-refund, more than owed) changes nothing
            _check(uow, customer)

    run()

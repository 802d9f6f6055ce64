"""credit.queries for one customer (the data-subject export and erasure): lines, repayments,
affordability checks, the credit still open and the last credit activity, on both stores."""

from __future__ import annotations

from creditpay.credit import service as S
from creditpay.credit.affordability import AffordabilityResult, RuleOutcome, record_check
from creditpay.credit.queries import (
    OpenCredit,
    customer_affordability_checks,
    customer_lines,
    customer_repayments,
    last_credit_activity,
    open_credit,
)
from tests.credit.servicing_helpers import CNY, buy, new_customer, payoff, repay


def _check(tx, customer_id: str, reference: str, passed: bool) -> int:
    rules = (RuleOutcome("debt_to_income", passed, False, {"ratio": "0.3"}, "负债", "debt"),
             RuleOutcome("advisory_note", False, True, {}, "提示", "note"))
    return record_check(tx, customer_id=customer_id, reference=reference,
                        result=AffordabilityResult("new_credit", rules, 3))


def test_lines_repayments_and_affordability_checks_of_one_customer(uow, clock):
    who = new_customer(uow, "c1")
    new_customer(uow, "c2")
    buy(uow, who, "p-1", 20_000)
    clock.advance(hours=1)
    repay(uow, who, "r-1", 5_000)
    with uow.begin() as tx:
        first = _check(tx, "c1", "offer-1", True)
        second = _check(tx, "c1", "offer-2", False)
        _check(tx, "c2", "offer-3", True)
    with uow.connect() as conn:
        lines = customer_lines(conn, "c1", limit=10)
        repayments = customer_repayments(conn, "c1", limit=10)
        checks = customer_affordability_checks(conn, "c1", limit=10)
        assert customer_affordability_checks(conn, "c1", limit=1)[0].id == first
        assert customer_lines(conn, "nobody", limit=10) == []
    assert [(ln.line_id, ln.currency, ln.limit_minor, ln.status) for ln in lines] == [
        (who.line_id, CNY, 1_000_000, "active")]
    assert lines[0].created_at.tzinfo is not None and lines[0].product_version >= 1
    assert [(r.repayment_id, r.amount_minor, r.currency) for r in repayments] == [
        ("r-1", 5_000, CNY)]
    assert [(c.id, c.reference, c.passed, c.failed_rules, c.policy_version)
            for c in checks] == [(first, "offer-1", True, [], 3),
                                 (second, "offer-2", False, ["debt_to_income"], 3)]


def test_open_credit_and_last_activity(uow, clock):
    with uow.connect() as conn:
        assert open_credit(conn, "c1") == [] and last_credit_activity(conn, "c1") is None
    who = new_customer(uow, "c1")
    buy(uow, who, "p-1", 20_000)
    with uow.connect() as conn:
        found = open_credit(conn, "c1")
        started = last_credit_activity(conn, "c1")
    assert OpenCredit("line_available", who.line_id, "active", 1_000_000) in found
    owing = [o for o in found if o.kind == "account_owing"]
    assert [o.amount_minor for o in owing] == [20_000]
    assert started == clock.now()
    clock.advance(days=3)
    owed = payoff(uow, who.line_id)
    repay(uow, who, "r-all", owed)
    with uow.begin() as tx:
        S.set_credit_limit(tx, line_id=who.line_id, new_limit_minor=0, reason="closing")
    with uow.connect() as conn:
        assert open_credit(conn, "c1") == []  # nothing owed, nothing left to draw
        last = last_credit_activity(conn, "c1")
        assert open_credit(conn, "c2") == []
    assert last == clock.now() and last.tzinfo is not None

"""Reversing a write-off (issue #16, four-eyes kind write_off.reverse), on both stores.

Property (Hypothesis): whatever the customer bought and repaid before defaulting, a
write-off followed by its reversal leaves every ledger balance as it was just before the
write-off was posted (the reversal's transfers exactly undo the write-off's), the ledger
balanced, and account state equal to the ledger again (balances, open installments); the
line is unfrozen. A reversal is refused, changing nothing, for an account not written off,
one that received recoveries, or a proposal whose write-off is no longer the one in force.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.tables import (
    credit_accounts,
    credit_installments,
    credit_lines,
    credit_write_offs,
)
from creditpay.credit.write_off_reversal import (
    COMPONENTS,
    reverse_write_off,
    write_off_transfer_id,
)
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.ledger.tables import ledger_accounts as accounts
from creditpay.ledger.verify import verify_ledger
from creditpay.platform.approvals import StaleProposalError
from tests.catalogues import CATALOGUE

from .servicing_helpers import buy, close_days, new_customer, reconcile, repay

# The packaged products with the shortest write-off the products allow (30 dpd), so that a
# default is reached in a few weeks of closes of business.
FAST = P.Catalogue([p.model_copy(update={"write_off_dpd": 30}) for p in CATALOGUE.all()],
                   {"CN": CATALOGUE.caps("CN")})
DAYS_MAX = 150


def _account(uow, account_id: str) -> dict:
    with uow.connect() as conn:
        return dict(conn.execute(select(credit_accounts).where(
            credit_accounts.c.account_id == account_id)).mappings().one())


def _balances(uow) -> dict[int, tuple[int, int, int, int]]:
    with uow.connect() as conn:
        return {row.id: (row.debits_posted, row.credits_posted, row.debits_pending,
                         row.credits_pending) for row in conn.execute(select(accounts))}


def _until_written_off(uow, clock, account_id: str) -> None:
    for _ in range(DAYS_MAX):
        close_days(uow, clock, 1, catalogue=FAST)
        if _account(uow, account_id)["status"] == "written_off":
            return
    raise AssertionError(f"{account_id} was not written off in {DAYS_MAX} days")


def _write_off_deltas(uow, account_id: str) -> dict[int, int]:
    """What the write-off's transfers did to each ledger account (debit +, credit -)."""
    row = _account(uow, account_id)
    deltas: dict[int, int] = {}
    with uow.connect() as conn:
        for component in COMPONENTS:
            try:
                t = L.get_transfer(conn, write_off_transfer_id(account_id,
                                                               row["written_off_on"],
                                                               component))
            except NotFoundError:
                continue
            deltas[t.debit_account_id] = deltas.get(t.debit_account_id, 0) + t.amount_minor
            deltas[t.credit_account_id] = deltas.get(t.credit_account_id, 0) - t.amount_minor
    return deltas


def _signed(uow) -> dict[int, int]:
    """Each ledger account's debits minus credits (its balance, signed by normal side)."""
    with uow.connect() as conn:
        return {row.id: row.debits_posted - row.credits_posted
                for row in conn.execute(select(accounts))}


def _check_books(uow, customer_id: str) -> None:
    with uow.connect() as conn:
        report = verify_ledger(conn)
    assert report.ok, report.problems
    for component, (state, ledger) in reconcile(uow, customer_id).items():
        assert state == ledger, component


def _open_items(uow, account_id: str) -> list[tuple[int, str]]:
    seq = _account(uow, account_id)["seq"]
    with uow.connect() as conn:
        return [(r.id, r.status) for r in conn.execute(select(
            credit_installments.c.id, credit_installments.c.status).where(
            credit_installments.c.account_seq == seq).order_by(credit_installments.c.id))]


def _written_off(uow, customer_id: str) -> list[str]:
    with uow.connect() as conn:
        return list(conn.execute(select(credit_accounts.c.account_id).where(
            credit_accounts.c.customer_id == customer_id,
            credit_accounts.c.status == "written_off").order_by(
            credit_accounts.c.account_id)).scalars())


def _until_any_written_off(uow, clock, customer_id: str) -> list[str]:
    for _ in range(DAYS_MAX):
        close_days(uow, clock, 1, catalogue=FAST)
        found = _written_off(uow, customer_id)
        if found:
            return found
    raise AssertionError(f"nothing of {customer_id} was written off in {DAYS_MAX} days")


def test_write_off_and_reversal_leave_the_books_as_before(uow, clock):
    ids = itertools.count()

    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(line_minor=st.integers(1_000, 300_000),
           plan=st.one_of(st.none(), st.integers(60_000, 150_000)),
           repaid_percent=st.integers(0, 60))
    def example(line_minor: int, plan: int | None, repaid_percent: int) -> None:
        n = next(ids)
        who = new_customer(uow, f"wo{n}", catalogue=FAST)
        buy(uow, who, f"wo{n}-p1", line_minor, catalogue=FAST)
        if plan is not None:
            buy(uow, who, f"wo{n}-p2", plan, funding="plan", product_code="baitiao",
                periods=3, catalogue=FAST)
        close_days(uow, clock, 35, catalogue=FAST)
        if repaid_percent:
            owed = sum(reconcile(uow, who.customer_id)[c][1] for c in COMPONENTS)
            if owed * repaid_percent // 100:
                repay(uow, who, f"wo{n}-r", owed * repaid_percent // 100, catalogue=FAST)
        written_off = _until_any_written_off(uow, clock, who.customer_id)
        _check_books(uow, who.customer_id)  # written-off accounts are out of the book
        for account_id in written_off:
            row = _account(uow, account_id)
            deltas = _write_off_deltas(uow, account_id)
            assert sum(v for v in deltas.values() if v > 0) == row["written_off_minor"] > 0
            items = _open_items(uow, account_id)
            after_write_off = _signed(uow)

            result = uow.run(lambda tx, a=account_id, d=row["written_off_on"]:
                             reverse_write_off(tx, "op_test", a, reason="paid in time",
                                               expected_written_off_on=d))

            assert result["reversed_minor"] == row["written_off_minor"]
            now = _signed(uow)
            # Every ledger account is where it stood before the write-off's postings.
            assert {k: now[k] for k in after_write_off} == {
                k: after_write_off[k] - deltas.get(k, 0) for k in after_write_off}
            restored = _account(uow, account_id)
            assert (restored["status"], restored["written_off_minor"],
                    restored["written_off_on"]) == ("active", 0, None)
            assert all(status != "cancelled" for _id, status in _open_items(uow, account_id)
                       if (_id, "cancelled") in items)
            # Once reversed, the proposal's write-off is no longer there.
            with pytest.raises(StaleProposalError):
                uow.run(lambda tx, a=account_id, d=row["written_off_on"]: reverse_write_off(
                    tx, "op_test", a, reason="again", expected_written_off_on=d))
        _check_books(uow, who.customer_id)  # state equals the ledger again
        with uow.connect() as conn:
            assert conn.execute(select(credit_lines.c.status).where(
                credit_lines.c.line_id == who.line_id)).scalar_one() == "active"

    example()


def test_an_account_still_in_default_is_written_off_again_and_reversed_again(uow, clock):
    who = new_customer(uow, "wo-twice", catalogue=FAST)
    buy(uow, who, "wo-twice-p1", 80_000, catalogue=FAST)
    _until_written_off(uow, clock, who.line_id)
    first = _account(uow, who.line_id)
    uow.run(lambda tx: reverse_write_off(tx, "op_a", who.line_id, reason="first"))
    # Still 30+ days past due: the next close of business writes it off again, and that
    # write-off can be reversed in turn (a record per write-off).
    close_days(uow, clock, 1, catalogue=FAST)
    again = _account(uow, who.line_id)
    assert again["status"] == "written_off"
    assert again["written_off_minor"] >= first["written_off_minor"]
    uow.run(lambda tx: reverse_write_off(tx, "op_b", who.line_id, reason="second"))
    _check_books(uow, who.customer_id)
    with uow.connect() as conn:
        assert conn.execute(select(credit_write_offs.c.reversed_by).where(
            credit_write_offs.c.account_id == who.line_id).order_by(
            credit_write_offs.c.id)).scalars().all() == ["op_a", "op_b"]


def test_refusals_change_nothing(uow, clock):
    who = new_customer(uow, "wo-refused", catalogue=FAST)
    buy(uow, who, "wo-refused-p1", 50_000, catalogue=FAST)
    with pytest.raises(StateError) as active:
        uow.run(lambda tx: reverse_write_off(tx, "op", who.line_id, reason="x"))
    assert active.value.field == "account_id"
    with pytest.raises(NotFoundError):
        uow.run(lambda tx: reverse_write_off(tx, "op", "acct_missing", reason="x"))
    _until_written_off(uow, clock, who.line_id)
    items = _open_items(uow, who.line_id)
    with pytest.raises(ValidationError) as blank:
        uow.run(lambda tx: reverse_write_off(tx, "op", who.line_id, reason="  "))
    assert blank.value.field == "reason"
    # A recovery since the write-off: refused, nothing changes.
    repay(uow, who, "wo-refused-recovery", 1_000, catalogue=FAST)
    before = (_account(uow, who.line_id), _balances(uow), _open_items(uow, who.line_id))
    assert before[0]["recovered_minor"] == 1_000 and before[2] == items
    with pytest.raises(StateError) as recovered:
        uow.run(lambda tx: reverse_write_off(tx, "op", who.line_id, reason="x"))
    assert recovered.value.field == "account_id" and "recover" in str(recovered.value)
    assert (_account(uow, who.line_id), _balances(uow), _open_items(uow, who.line_id)) == \
        before

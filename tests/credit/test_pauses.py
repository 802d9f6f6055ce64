"""A plan paused while its purchase is disputed (issue #20), on SQLite and PostgreSQL: no
interest, fee, billing or late status while paused; on resume every unpaid installment's
due date moves by the days paused, and the plan ends exactly as an undisputed twin shifted
by those days; a consumer win is a merchant refund of that amount."""

from __future__ import annotations

import datetime as dt

import pytest

from creditpay.credit import pauses
from creditpay.credit import service as S
from creditpay.errors import StateError
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    account,
    assert_books,
    buy,
    close_days,
    items,
    new_customer,
    platform_balance,
    repay,
)

D = dt.date
PAUSED_DAYS = 10


def _pause(uow, pause_id: str, purchase_id: str, amount_minor: int) -> pauses.PauseResult:
    with uow.begin() as tx:
        return pauses.pause_purchase(tx, pause_id=pause_id, purchase_id=purchase_id,
                                     amount_minor=amount_minor, actor_id="disputes")


def _end(uow, pause_id: str, outcome: str = "resumed") -> pauses.PauseResult:
    with uow.begin() as tx:
        return pauses.end_pause(tx, pause_id=pause_id, outcome=outcome, actor_id="disputes")


def _pay_what_is_due_today(uow, clock, who, account_id: str, tag: str) -> None:
    """Pay each billed installment on its due date (never late)."""
    for item in items(uow, account_id):
        if item["status"] == "billed" and item["due_date"] == clock.today():
            due = (item["principal_minor"] + item["interest_minor"] + item["fee_minor"]
                   - item["principal_paid_minor"] - item["interest_paid_minor"]
                   - item["fee_paid_minor"])
            repay(uow, who, f"{tag}:{item['number']}", due, target=account_id)


def _summary(uow, account_id: str) -> dict:
    row = account(uow, account_id)
    return {"status": row["status"], "interest_posted": row["interest_posted_minor"],
            "fee_posted": row["fee_posted_minor"], "penalty_posted": row["penalty_posted_minor"],
            "late_fee_unpaid": row["late_fee_unpaid_minor"],
            "installments": [(i["number"], i["status"], i["principal_minor"],
                              i["interest_minor"], i["fee_minor"], i["principal_paid_minor"],
                              i["interest_paid_minor"], i["fee_paid_minor"])
                             for i in items(uow, account_id)]}


def test_a_paused_plan_resumes_exactly_as_its_twin_shifted_by_the_paused_days(uow, clock):
    clock.set("2025-03-02T10:00:00+00:00")
    disputed, twin = new_customer(uow, "c1"), new_customer(uow, "c2")
    _, a = buy(uow, disputed, "pa", 100_000, funding="plan", product_code="apr_plan", periods=3)
    _, b = buy(uow, twin, "pb", 100_000, funding="plan", product_code="apr_plan", periods=3)
    original = [i["due_date"] for i in items(uow, a.account_id)]
    close_days(uow, clock, 8)  # accrue a week first
    before = account(uow, a.account_id)
    paused = _pause(uow, "dp_1", "pa", 50_000)
    assert paused.paused and paused.paused_on == "2025-03-10"
    twin_during = []
    for _ in range(PAUSED_DAYS):
        _pay_what_is_due_today(uow, clock, twin, b.account_id, "b")
        twin_during.append(account(uow, b.account_id)["interest_accrual_num"])
        close_days(uow, clock)
    during = account(uow, a.account_id)
    # Nothing accrued, billed or aged while paused (the twin accrued every day).
    for name in ("interest_accrual_num", "penalty_accrual_num", "interest_posted_minor",
                 "fee_posted_minor", "late_fee_unpaid_minor", "dpd", "next_due_date"):
        assert during[name] == before[name], name
    assert account(uow, b.account_id)["interest_accrual_num"] > twin_during[0]
    ended = _end(uow, "dp_1")
    assert ended.days_shifted == PAUSED_DAYS and ended.outcome == "resumed"
    assert _end(uow, "dp_1") == ended  # idempotent
    shifted = [i["due_date"] for i in items(uow, a.account_id)]
    assert shifted[0] == original[0]  # the down payment was paid at checkout
    assert shifted[1:] == [d + dt.timedelta(days=PAUSED_DAYS) for d in original[1:]]
    assert account(uow, a.account_id)["next_due_date"] == \
        before["next_due_date"] + dt.timedelta(days=PAUSED_DAYS)
    # Run both to the end, each paid on its own due dates.
    for _ in range(200):
        if account(uow, a.account_id)["status"] == "closed" and \
                account(uow, b.account_id)["status"] == "closed":
            break
        _pay_what_is_due_today(uow, clock, disputed, a.account_id, "a")
        _pay_what_is_due_today(uow, clock, twin, b.account_id, "b")
        close_days(uow, clock)
    left, right = _summary(uow, a.account_id), _summary(uow, b.account_id)
    assert left == right and left["status"] == "closed"
    assert left["interest_posted"] > 0 and left["late_fee_unpaid"] == 0
    assert [i["due_date"] for i in items(uow, a.account_id)][1:] == \
        [i["due_date"] + dt.timedelta(days=PAUSED_DAYS) for i in items(uow, b.account_id)][1:]
    assert_books(uow, "c1")
    assert_books(uow, "c2")


def test_a_consumer_win_is_a_merchant_refund_of_that_amount(uow, clock):
    clock.set("2025-03-02T10:00:00+00:00")
    disputed, refunded = new_customer(uow, "c1"), new_customer(uow, "c2")
    _, a = buy(uow, disputed, "pa", 100_000, funding="plan", product_code="apr_plan", periods=3)
    _, b = buy(uow, refunded, "pb", 100_000, funding="plan", product_code="apr_plan", periods=3)
    _pause(uow, "dp_1", "pa", 40_000)
    # Decided the same day: the refund path, after the (zero-day) pause ends.
    with uow.begin() as tx:
        pauses.end_pause(tx, pause_id="dp_1", outcome="refunded", actor_id="disputes")
        won = S.refund_purchase(tx, refund_id="rf_a", purchase_id="pa", amount_minor=40_000,
                                catalogue=CATALOGUE)
    with uow.begin() as tx:
        merchant = S.refund_purchase(tx, refund_id="rf_b", purchase_id="pb",
                                     amount_minor=40_000, catalogue=CATALOGUE)
    assert {k: v for k, v in won.as_dict().items() if k not in ("refund_id", "purchase_id")} \
        == {k: v for k, v in merchant.as_dict().items()
            if k not in ("refund_id", "purchase_id")}
    assert _summary(uow, a.account_id) == _summary(uow, b.account_id)
    assert_books(uow, "c1")
    assert_books(uow, "c2")


def test_a_past_due_plan_is_not_aged_or_charged_while_paused(uow, clock):
    clock.set("2025-03-02T10:00:00+00:00")
    who = new_customer(uow, "c1")
    _, a = buy(uow, who, "pa", 100_000, funding="plan", product_code="apr_plan", periods=3)
    close_days(uow, clock, 36)  # first installment due Apr 2, unpaid: 4 days late
    late = account(uow, a.account_id)
    assert late["dpd"] == 4 and late["penalty_accrual_num"] > 0  # past the 3 grace days
    incomes = [platform_balance(uow, code) for code in ("fee_income", "penalty_income",
                                                        "interest_income")]
    _pause(uow, "dp_1", "pa", 100_000)
    close_days(uow, clock, PAUSED_DAYS // 2)
    repay(uow, who, "r1", 100, target=a.account_id)  # a repayment ages it to the pause day
    assert account(uow, a.account_id)["dpd"] == late["dpd"] + 1
    close_days(uow, clock, PAUSED_DAYS - PAUSED_DAYS // 2)
    during = account(uow, a.account_id)
    assert during["dpd"] == late["dpd"] + 1
    for name in ("bucket", "penalty_accrual_num", "interest_accrual_num",
                 "late_fee_unpaid_minor"):
        assert during[name] == late[name], name
    assert [platform_balance(uow, code) for code in ("fee_income", "penalty_income",
                                                     "interest_income")] == incomes
    _end(uow, "dp_1")
    resumed = account(uow, a.account_id)
    assert resumed["oldest_past_due_date"] == late["oldest_past_due_date"] + dt.timedelta(
        days=PAUSED_DAYS)
    close_days(uow, clock)  # the lateness goes on from where it stood: dpd 5, not 15
    assert account(uow, a.account_id)["dpd"] == 5
    assert_books(uow, "c1")


def test_a_line_purchase_is_held_not_paused_and_a_plan_only_once(uow, clock):
    clock.set("2025-03-02T10:00:00+00:00")
    who = new_customer(uow, "c1")
    buy(uow, who, "line1", 50_000, funding="line")
    with pytest.raises(ValueError):  # a line's hold needs the catalogue
        _pause(uow, "dp_line", "line1", 50_000)
    with uow.begin() as tx:
        held = pauses.pause_purchase(tx, pause_id="dp_line", purchase_id="line1",
                                     amount_minor=50_000, actor_id="disputes",
                                     catalogue=CATALOGUE)
    # The line goes on (not paused for the close of business or collections); its
    # disputed amount is held in its disputed bucket (tests/credit/test_line_disputes.py).
    assert (held.paused, held.account_kind, held.held_minor) == (True, "line", 50_000)
    _, a = buy(uow, who, "pa", 100_000, funding="plan", product_code="apr_plan", periods=3)
    assert _pause(uow, "dp_1", "pa", 1_000).paused
    assert _pause(uow, "dp_1", "pa", 1_000).paused  # a replay
    with pytest.raises(StateError) as refused:
        _pause(uow, "dp_2", "pa", 1_000)
    assert refused.value.field == "purchase_id"
    with uow.connect() as conn:
        assert pauses.paused_account_ids(conn) == {a.account_id}


def test_collections_do_not_contact_about_a_paused_plan(uow, clock):
    from sqlalchemy import select

    from creditpay.credit import collections as C
    from creditpay.credit.collections_tables import collection_cases
    from creditpay.parties.security import TokenSigner
    from creditpay.parties.service import Parties
    from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
    from creditpay.platform.vault import BlindIndexer, Vault
    from creditpay.protection.collections_rules import run_collections

    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    parties = Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))
    clock.set("2025-03-02T10:00:00+00:00")
    with uow.begin() as tx:
        customer_id = parties.register(tx, phone="+86 138-1234-5678", email=None,
                                       password_hash="$argon2id$x",
                                       device_id="device-0001")["id"]
    who = new_customer(uow, customer_id)
    _, a = buy(uow, who, "pa", 100_000, funding="plan", product_code="apr_plan", periods=3)
    close_days(uow, clock, 38)  # 6 days past the first due date
    assert account(uow, a.account_id)["dpd"] > 0
    _pause(uow, "dp_1", "pa", 100_000)

    def run():
        return run_collections(uow, clock.today(), directory=C.PartiesDirectory(parties))

    def cases():
        with uow.connect() as conn:
            return conn.execute(select(collection_cases.c.account_id)).scalars().all()

    assert run().accounts_seen == 0 and cases() == []
    _end(uow, "dp_1")
    close_days(uow, clock)
    assert run().accounts_seen == 1 and cases() == [a.account_id]

"""A purchase on the revolving line disputed (issue #20), on SQLite and PostgreSQL: while
the dispute is open its amount is held in the line's disputed bucket (no interest, not in
any minimum, never late, no collections); the merchant winning releases it as new principal
(the interest is the one of the same line where that purchase was simply absent for those
days, computed here from docs/servicing.md's rule, not by the code under test); the
consumer winning is a merchant refund of that amount made the day the dispute opened."""

from __future__ import annotations

import datetime as dt

from creditpay.api.routes_consumer_credit import statement_out
from creditpay.credit import pauses
from creditpay.credit import service as S
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    account,
    assert_books,
    buy,
    close_until,
    items,
    ledger_balance,
    new_customer,
    platform_balance,
    reconcile,
    repay,
    statement,
)

D = dt.date
RATE_MICRO = 180_000  # revolver: 18 % a year, ACT/365
DENOMINATOR = 1_000_000 * 365
A, B = 100_000, 50_000  # the purchase kept, the purchase disputed


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def interest(*periods: tuple[int, int]) -> int:
    """The interest a statement posts: (balance bearing interest, days) summed, 18 % a
    year over 365 days, rounded half up once."""
    return half_up(sum(balance * days for balance, days in periods) * RATE_MICRO, DENOMINATOR)


def _hold(uow, pause_id: str, purchase_id: str, amount_minor: int) -> pauses.PauseResult:
    with uow.begin() as tx:
        return pauses.pause_purchase(tx, pause_id=pause_id, purchase_id=purchase_id,
                                     amount_minor=amount_minor, actor_id="disputes",
                                     catalogue=CATALOGUE)


def _current(uow, line_id: str) -> None:
    line = account(uow, line_id)
    assert (line["dpd"], line["bucket"], line["late_fee_unpaid_minor"],
            line["fee_posted_minor"], line["penalty_posted_minor"],
            line["oldest_past_due_date"]) == (0, "M0", 0, 0, 0, None), line


def _disputed(uow, line_id: str) -> int:
    with uow.connect() as conn:
        return pauses.disputed_minor(conn, line_id)


def test_merchant_wins_the_line_pays_interest_as_if_the_purchase_were_absent(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "pa", A)
    buy(uow, who, "pb", B)
    close_until(uow, clock, D(2025, 3, 10))
    held = _hold(uow, "dp_b", "pb", B)
    assert (held.paused, held.account_kind, held.held_minor, held.paused_on) == (
        True, "line", B, "2025-03-10")
    assert _hold(uow, "dp_b", "pb", B) == held  # a replay
    line = account(uow, who.line_id)
    assert line["principal_unbilled_minor"] == A and _disputed(uow, who.line_id) == B
    assert_books(uow, who.customer_id)  # the receivable keeps it: state + bucket = ledger
    close_until(uow, clock, D(2025, 3, 20))
    march = statement(uow, who.line_id, D(2025, 3, 15))
    # The bill and its minimum leave the disputed purchase out; it is shown on its own.
    assert (march.new_principal_minor, march.minimum_payment_minor, march.disputed_minor) == (
        A, A // 10, B)
    shown = statement_out(march)
    assert (shown["disputed_minor"], shown["minimum_payment_minor"]) == (B, A // 10)
    close_until(uow, clock, D(2025, 4, 1))
    repay(uow, who, "r1", A // 10)  # the minimum, nothing of the disputed amount
    close_until(uow, clock, D(2025, 4, 20))
    _current(uow, who.line_id)
    april = statement(uow, who.line_id, D(2025, 4, 15))
    # 90,000 bears interest from Apr 6 (the day after the due date); the disputed 50,000
    # bears none, although its statement's due date passed unpaid.
    april_interest = interest((90_000, 10))
    assert (april.interest_minor, april.disputed_minor) == (april_interest, B)
    assert april.minimum_payment_minor == 9_000 + april_interest
    # The merchant wins on Apr 20, 41 days after the dispute opened.
    with uow.begin() as tx:
        ended = pauses.end_pause(tx, pause_id="dp_b", outcome="resumed", actor_id="disputes")
    assert (ended.resumed_on, ended.outcome, ended.days_shifted) == ("2025-04-20", "resumed", 0)
    line = account(uow, who.line_id)
    assert line["principal_unbilled_minor"] == B and _disputed(uow, who.line_id) == 0
    assert_books(uow, who.customer_id)
    repay(uow, who, "r2", 9_000 + april_interest)
    close_until(uow, clock, D(2025, 5, 20))
    _current(uow, who.line_id)
    may = statement(uow, who.line_id, D(2025, 5, 15))
    # What came back is new principal on the next statement, due on its due date: as if
    # bought on Apr 20. Apr 16-19 on 90,000, Apr 20-May 15 on 81,000.
    may_interest = interest((90_000, 4), (81_000, 26))
    assert (may.new_principal_minor, may.interest_minor, may.disputed_minor) == (
        B, may_interest, 0)
    assert may.due_date == D(2025, 6, 5)
    assert may.minimum_payment_minor == (81_000 + B) // 10 + may_interest
    close_until(uow, clock, D(2025, 6, 1))
    repay(uow, who, "r3", may.minimum_payment_minor)  # retires 13,100 of the carried 81,000
    close_until(uow, clock, D(2025, 6, 8))
    _current(uow, who.line_id)
    # Accrued exactly (no rounding before the next statement): May 16-31 on 81,000; Jun 1-5
    # on 67,900; from Jun 6, the day after its due date, the 50,000 bears interest too.
    accrued = (81_000 * 16 + 67_900 * 5 + (67_900 + B) * 2) * RATE_MICRO
    assert account(uow, who.line_id)["interest_accrual_num"] == accrued
    assert platform_balance(uow, "interest_income") == april_interest + may_interest
    assert_books(uow, who.customer_id)


def _line_summary(uow, who) -> dict:
    line = account(uow, who.line_id)
    keep = ("principal_unbilled_minor", "principal_billed_minor", "principal_past_due_minor",
            "interest_accrual_num", "interest_posted_minor", "penalty_posted_minor",
            "fee_posted_minor", "late_fee_unpaid_minor", "dpd", "bucket", "next_due_date")
    return {"line": {k: line[k] for k in keep},
            "items": [(i["number"], i["status"], i["due_date"], i["principal_minor"],
                       i["interest_minor"], i["principal_paid_minor"],
                       i["interest_paid_minor"], i["minimum_minor"])
                      for i in items(uow, who.line_id)],
            "books": reconcile(uow, who.customer_id),
            "wallet": ledger_balance(uow, who.wallet_id)}


def _statements(uow, who) -> list:
    with uow.connect() as conn:
        return [(v.statement_date, v.due_date, v.new_principal_minor, v.interest_minor,
                 v.closing_balance_minor, v.minimum_payment_minor)
                for v in S.list_statements(conn, who.line_id)]


def test_consumer_wins_it_is_a_merchant_refund_of_that_amount(uow, clock):
    disputed = new_customer(uow, "c1", product_code="revolver")
    refunded = new_customer(uow, "c2", product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    for who in (disputed, refunded):
        buy(uow, who, f"pa_{who.customer_id}", A)
        buy(uow, who, f"pb_{who.customer_id}", B)
    close_until(uow, clock, D(2025, 3, 10))
    _hold(uow, "dp_c1", "pb_c1", B)
    with uow.begin() as tx:
        twin = S.refund_purchase(tx, refund_id="rf_c2", purchase_id="pb_c2", amount_minor=B,
                                 catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 4, 1))
    for who in (disputed, refunded):
        repay(uow, who, f"r1_{who.customer_id}", A // 10)
    close_until(uow, clock, D(2025, 4, 20))
    # Decided for the consumer on Apr 20: the bucket released, then the refund path.
    with uow.begin() as tx:
        pauses.end_pause(tx, pause_id="dp_c1", outcome="refunded", actor_id="disputes")
        won = S.refund_purchase(tx, refund_id="rf_c1", purchase_id="pb_c1", amount_minor=B,
                                catalogue=CATALOGUE)
    assert {k: v for k, v in won.as_dict().items() if k not in ("refund_id", "purchase_id")} \
        == {k: v for k, v in twin.as_dict().items() if k not in ("refund_id", "purchase_id")}
    assert won.principal_reduced_minor == B and won.to_customer_minor == 0
    assert _disputed(uow, disputed.line_id) == 0
    assert _line_summary(uow, disputed) == _line_summary(uow, refunded)
    for who in (disputed, refunded):
        april = statement(uow, who.line_id, D(2025, 4, 15))
        repay(uow, who, f"r2_{who.customer_id}", april.minimum_payment_minor)
    close_until(uow, clock, D(2025, 5, 20))
    assert _line_summary(uow, disputed) == _line_summary(uow, refunded)
    assert _statements(uow, disputed) == _statements(uow, refunded)
    with uow.connect() as conn:
        lines = [S.my_credit_line(conn, who.customer_id) for who in (disputed, refunded)]
    assert lines[0].available_minor == lines[1].available_minor
    assert lines[0].exposure_minor == lines[1].exposure_minor
    for who in (disputed, refunded):
        _current(uow, who.line_id)
        assert_books(uow, who.customer_id)


def test_collections_do_not_pick_up_a_line_whose_only_overdue_amount_is_disputed(uow, clock):
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
    customers = []
    for n, phone in enumerate(("+86 138-1234-5678", "+86 138-1234-5679")):
        with uow.begin() as tx:
            customer_id = parties.register(tx, phone=phone, email=None,
                                           password_hash="$argon2id$x",
                                           device_id=f"device-000{n}")["id"]
        customers.append(new_customer(uow, customer_id, product_code="revolver"))
    disputed, twin = customers
    buy(uow, disputed, "pb", B)
    buy(uow, twin, "pt", B)
    close_until(uow, clock, D(2025, 3, 20))
    assert statement(uow, disputed.line_id, D(2025, 3, 15)).minimum_payment_minor == B // 10
    # Disputed after the bill came: its minimum goes with it. Nobody pays anything.
    _hold(uow, "dp_1", "pb", B)
    assert [i["status"] for i in items(uow, disputed.line_id)] == ["paid"]
    close_until(uow, clock, D(2025, 4, 12))
    _current(uow, disputed.line_id)
    late = account(uow, twin.line_id)
    assert late["dpd"] == 6 and late["late_fee_unpaid_minor"] > 0
    report = run_collections(uow, clock.today(), directory=C.PartiesDirectory(parties))
    with uow.connect() as conn:
        cases = conn.execute(select(collection_cases.c.account_id)).scalars().all()
    assert report.accounts_seen == 1 and cases == [twin.line_id]
    # The bill shows what the dispute took from it, and its minimum without it.
    march = statement(uow, disputed.line_id, D(2025, 3, 15))
    assert (march.disputed_minor, march.minimum_payment_minor) == (B, 0)
    assert_books(uow, disputed.customer_id)
    # The merchant wins: the amount comes back as new principal for the next bill; this
    # bill no longer shows it disputed, and what was not due then never becomes late.
    with uow.begin() as tx:
        pauses.end_pause(tx, pause_id="dp_1", outcome="resumed", actor_id="disputes")
    march = statement(uow, disputed.line_id, D(2025, 3, 15))
    assert (march.disputed_minor, march.minimum_payment_minor) == (0, 0)
    close_until(uow, clock, D(2025, 4, 16))
    april = statement(uow, disputed.line_id, D(2025, 4, 15))
    assert (april.new_principal_minor, april.interest_minor, april.due_date) == (
        B, 0, D(2025, 5, 5))
    _current(uow, disputed.line_id)
    assert_books(uow, disputed.customer_id)

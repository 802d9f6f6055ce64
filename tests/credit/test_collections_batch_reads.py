"""The collections batch's set-based reads (credit/collections.py ``_batch_reads``) give what
the per-account reads they replace gave, on both stores: the actions looked up by key, each
case's open promise, which accounts were handed over, and the settlement offers expired;
and a run never falls back to a per-account read of an action or a promise."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from creditpay.credit import collections as C
from creditpay.credit import service as S
from creditpay.credit.collections_tables import (
    collection_actions,
    collection_cases,
    collection_handovers,
    collection_promises,
    collection_settlements,
)
from creditpay.credit.hardship import accounts_under_arrangement
from creditpay.credit.pauses import paused_account_ids
from creditpay.protection.collections_rules import ContactRuleGate, run_collections
from tests.credit.servicing_helpers import close_days, close_until
from tests.credit.test_credit_collections import DUE, _debtor, _strategy
from tests.credit.test_credit_collections import parties as parties  # the fixture

STRATEGY = _strategy(dpd_actions=[
    {"code": "dpd1_sms", "dpd": 1, "kind": "contact", "channel": "sms",
     "template_code": "overdue_dpd1_sms"},
    {"code": "dpd2_settle", "dpd": 2, "kind": "settlement_offer", "channel": "sms",
     "template_code": "settlement_offer"},
    {"code": "dpd5_hand_over", "dpd": 5, "kind": "hand_over",
     "template_code": "agency_file", "agency_name": "Acme Recovery Ltd."}],
    settlement={"principal_floor_ratio": "0.9", "offer_days": 1, "offer_days_max": 30})


class _Rollback(Exception):
    pass


def _batch(conn, context):
    """The accounts run_collections works (its own selection)."""
    accounts, _ = S.portfolio(conn, "CNY")
    open_accounts = set(conn.execute(select(collection_cases.c.account_id).where(
        collection_cases.c.status == "open")).scalars())
    paused = paused_account_ids(conn)
    return [a for a in accounts if a.account_id not in paused and (
        a.account_id in open_accounts or
        (a.status == "active" and (a.dpd > 0 or C._may_get_reminder(a))))]


def _reads_and_expiry(uow, clock):
    """(what _batch_reads read and expired, what the per-account reads and per-case updates
    give) on today's state, each in a transaction rolled back."""
    context = C._Run(clock.today(), STRATEGY, C.PartiesDirectory(), ContactRuleGate(), "CNY")
    found = {}
    try:
        with uow.begin() as tx:
            batch = _batch(tx.conn, context)
            ids = [a.account_id for a in batch]
            context.under_arrangement = accounts_under_arrangement(tx.conn, ids)
            context.open_cases = C._open_cases(tx, ids)
            C._batch_reads(tx, context, batch)
            found["settlements"] = _settlements(tx.conn)
            raise _Rollback
    except _Rollback:
        pass
    old = {}
    try:
        with uow.begin() as tx:
            old["actions"] = {key: dict(row) for key in context.action_keys_read
                              if (row := tx.conn.execute(select(collection_actions).where(
                                  collection_actions.c.action_key == key)).mappings().first())}
            old["promises"] = {}
            for case_id in context.promise_cases_read:
                row = tx.conn.execute(select(collection_promises).where(
                    collection_promises.c.case_id == case_id,
                    collection_promises.c.status == "open")).mappings().first()
                if row is not None:
                    old["promises"][case_id] = dict(row)
            old["handed_over"] = set()
            for account in batch:
                if account.account_id not in context.open_cases and \
                        account.status == "active" and account.dpd > 0 and \
                        tx.conn.execute(select(collection_handovers.c.handover_id).where(
                            collection_handovers.c.account_id == account.account_id).limit(1)
                        ).first() is not None:
                    old["handed_over"].add(account.account_id)
            for account in batch:  # the per-case expiry, at each worked case's turn
                case = context.open_cases.get(account.account_id)
                if case is not None and C._works_case(context, account):
                    s = collection_settlements.c
                    tx.conn.execute(update(collection_settlements).where(
                        s.case_id == case["case_id"], s.status == "offered",
                        s.expires_on < context.day).values(status="expired"))
            old["settlements"] = _settlements(tx.conn)
            raise _Rollback
    except _Rollback:
        pass
    new = {"actions": context.actions, "promises": context.open_promises,
           "handed_over": set(context.handed_over), "settlements": found["settlements"]}
    return context, new, old


def _settlements(conn):
    return [dict(r) for r in conn.execute(select(collection_settlements).order_by(
        collection_settlements.c.settlement_id)).mappings()]


def test_batch_reads_equal_the_per_account_reads(uow, clock, parties, monkeypatch):
    _debtor(uow, parties, loans=("loan-a", "loan-b", "loan-c"))
    _debtor(uow, parties, phone="+86 139-0000-0001", loans=("loan-d",))
    close_until(uow, clock, DUE - dt.timedelta(days=3))
    # A run never reads an action or a promise on its own: the batch read them all.
    monkeypatch.setattr(C, "_ACTION_BY_KEY", None)
    monkeypatch.setattr(C, "_OPEN_PROMISE", None)
    seen = {"keys": 0, "promises": 0, "handed_over": 0, "expired": 0, "actions": 0}
    for _ in range(12):  # reminders, dpd 1..8: contacts, offers, a promise, hand-overs
        context, new, old = _reads_and_expiry(uow, clock)
        assert new == old
        seen["keys"] += len(context.action_keys_read)
        seen["actions"] += len(new["actions"])
        seen["promises"] += len(new["promises"])
        seen["handed_over"] += len(new["handed_over"])
        seen["expired"] += sum(s["status"] == "expired" for s in new["settlements"])
        run_collections(uow, clock.today(), strategy=STRATEGY,
                        directory=C.PartiesDirectory(parties))
        if clock.today() == DUE + dt.timedelta(days=2):
            with uow.connect() as conn:
                case_id = conn.execute(select(collection_cases.c.case_id).where(
                    collection_cases.c.account_id == "loan-b",
                    collection_cases.c.status == "open")).scalar_one()
            with uow.begin() as tx:
                C.record_promise(tx, case_id, 10_000, clock.today() + dt.timedelta(days=5),
                                 "agent_7", strategy=STRATEGY)
        close_days(uow, clock)
    # Every kind of read met something (the test would pass vacuously otherwise).
    assert all(seen.values()), seen

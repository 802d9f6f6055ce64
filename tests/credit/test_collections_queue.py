"""The collectors' queue read (credit/collections.py case_queue, case_file) and the contact
log (protection/collections_rules.py contact_log) on both stores, as the console shows
them: most days past due first, what is owed today, promises to pay, the contact log."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from creditpay.credit import collections as C
from creditpay.credit import service as S
from creditpay.credit.collections_tables import collection_cases
from creditpay.errors import NotFoundError, ValidationError
from creditpay.protection.collections_rules import contact_log
from tests.credit.servicing_helpers import close_until
from tests.credit.test_credit_collections import DUE, _debtor, _run, parties  # noqa: F401


def test_the_queue_is_most_overdue_first_with_what_is_owed_and_the_promise(
        uow, clock, parties):  # noqa: F811 - the imported fixture
    _debtor(uow, parties, loans=("loan-a", "loan-b"))
    close_until(uow, clock, DUE + dt.timedelta(days=2))
    _run(uow, clock, parties)
    with uow.connect() as conn:
        cases, total = C.case_queue(conn)
    assert total == 2 and {c["account_id"] for c in cases} == {"loan-a", "loan-b"}
    # One case further behind than the other: it comes first.
    with uow.begin() as tx:
        tx.conn.execute(update(collection_cases).where(
            collection_cases.c.account_id == "loan-b").values(dpd=40))
        promise = C.record_promise(tx, cases[0]["case_id"], 20_000,
                                   clock.today() + dt.timedelta(days=5), "agent_7")
    with uow.connect() as conn:
        cases, total = C.case_queue(conn)
        owed = {a: S.payoff_amount(conn, a) for a in ("loan-a", "loan-b")}
        first, _ = C.case_queue(conn, limit=1)
        assert C.case_queue(conn, status="closed") == ([], 0)
    assert [c["account_id"] for c in cases] == ["loan-b", "loan-a"] and total == 2
    assert len(first) == 1 and first[0]["account_id"] == "loan-b"
    assert {c["account_id"]: c["owed_minor"] for c in cases} == owed
    assert all(isinstance(c["owed_minor"], int) and c["owed_minor"] > 0 for c in cases)
    promised = next(c for c in cases if c["case_id"] == promise["case_id"])
    assert promised["promise"]["amount_minor"] == 20_000
    assert [c["promise"] for c in cases if c is not promised] == [None]
    with uow.connect() as conn:
        file = C.case_file(conn, promise["case_id"])
        contacts = contact_log(conn, file["account_id"])
    assert [p["promise_id"] for p in file["promises"]] == [promise["promise_id"]]
    assert file["actions"] and file["owed_minor"] == owed[file["account_id"]]
    assert contacts and all(set(c) >= {"attempted_at", "channel", "allowed", "rule"}
                            for c in contacts)
    assert [c["attempted_at"] for c in contacts] == sorted(
        (c["attempted_at"] for c in contacts), reverse=True)


@pytest.mark.parametrize(("call", "field"), [
    (lambda conn: C.case_queue(conn, status="lost"), "status"),
    (lambda conn: C.case_queue(conn, limit=0), "limit"),
    (lambda conn: C.case_queue(conn, limit=C.CASE_QUEUE_MAX + 1), "limit"),
    (lambda conn: C.case_file(conn, "x" * 40), "case_id"),
    (lambda conn: contact_log(conn, "loan-a", limit=0), "limit"),
])
def test_bad_arguments_name_the_field(uow, call, field):
    with uow.connect() as conn, pytest.raises(ValidationError) as error:
        call(conn)
    assert error.value.field == field


def test_an_unknown_case_is_not_found(uow):
    with uow.connect() as conn, pytest.raises(NotFoundError):
        C.case_file(conn, "cc_missing")

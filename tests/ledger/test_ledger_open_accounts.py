"""Opening accounts in batches (driver statements): what a batch returns and stores, on both
stores. The path was rewritten for speed (the close-of-business benchmark opens 2.4 million);
these pin what the SQLAlchemy version returned."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.errors import IdempotencyConflictError, ValidationError
from creditpay.ledger.tables import ledger_accounts

from .helpers import snapshot


def _spec(key: str, *, side: L.NormalSide = L.NormalSide.CREDIT,
          no_overdraft: bool = True) -> L.AccountSpec:
    return L.AccountSpec(key, "CNY", "wallet", "customer", key.split(":")[1], side,
                         debits_must_not_exceed_credits=no_overdraft)


def test_a_batch_of_new_and_existing_keys_returns_them_in_request_order(uow, clock):
    with uow.begin() as tx:
        first = L.open_accounts(tx, [_spec("wallet:c2:CNY"), _spec("wallet:c1:CNY")])
    clock.advance(hours=1)
    with uow.begin() as tx:
        batch = L.open_accounts(tx, [_spec("wallet:c3:CNY"), _spec("wallet:c1:CNY"),
                                     _spec("wallet:c4:CNY", side=L.NormalSide.DEBIT,
                                           no_overdraft=False), _spec("wallet:c2:CNY")])
    assert [a.key for a in batch] == ["wallet:c3:CNY", "wallet:c1:CNY", "wallet:c4:CNY",
                                      "wallet:c2:CNY"]
    assert batch[1] == first[1] and batch[3] == first[0]  # existing: as stored, unchanged
    new = batch[0]
    assert new.id not in {a.id for a in first}
    assert new.normal_side is L.NormalSide.CREDIT and new.debits_must_not_exceed_credits
    assert batch[2].normal_side is L.NormalSide.DEBIT
    assert not batch[2].debits_must_not_exceed_credits
    assert new.created_at == clock.now() and new.created_at.tzinfo is not None
    assert first[0].created_at == clock.now() - dt.timedelta(hours=1)
    with uow.connect() as conn:
        for account in batch:
            assert L.get_account(conn, account.id) == account  # what is read back later
        flags = conn.execute(select(ledger_accounts.c.key,
                                    ledger_accounts.c.debits_must_not_exceed_credits,
                                    ledger_accounts.c.credits_must_not_exceed_debits).where(
            ledger_accounts.c.key == "wallet:c4:CNY")).one()
    assert tuple(flags) == ("wallet:c4:CNY", False, False)


@pytest.mark.parametrize(("changed", "field"), [
    ({"debits_must_not_exceed_credits": False}, "accounts[1].debits_must_not_exceed_credits"),
    ({"normal_side": L.NormalSide.DEBIT}, "accounts[1].normal_side"),
    ({"code": "merchant_payable"}, "accounts[1].code"),
])
def test_an_existing_key_with_other_fields_is_refused_and_nothing_is_written(uow, changed,
                                                                           field):
    with uow.begin() as tx:
        L.open_accounts(tx, [_spec("wallet:c1:CNY")])
    before = snapshot(uow)
    spec = _spec("wallet:c1:CNY")
    other = L.AccountSpec(**{**{name: getattr(spec, name) for name in (
        "key", "currency", "code", "owner_type", "owner_id", "normal_side",
        "debits_must_not_exceed_credits", "credits_must_not_exceed_debits")}, **changed})
    with pytest.raises(IdempotencyConflictError) as err, uow.begin() as tx:
        L.open_accounts(tx, [_spec("wallet:c9:CNY"), other])
    assert err.value.field == field
    assert snapshot(uow) == before


def test_a_batch_larger_than_the_bound_or_with_a_repeated_key_is_refused(uow):
    with pytest.raises(ValidationError) as err, uow.begin() as tx:
        L.open_accounts(tx, [_spec(f"wallet:c{i}:CNY") for i in range(L.service.BATCH_SIZE_MAX + 1)])
    assert err.value.field == "accounts"
    with pytest.raises(ValidationError) as err, uow.begin() as tx:
        L.open_accounts(tx, [_spec("wallet:c1:CNY"), _spec("wallet:c1:CNY")])
    assert err.value.field == "accounts"


def test_a_full_batch_of_new_accounts_gets_distinct_ids(uow):
    specs = [_spec(f"wallet:c{i}:CNY") for i in range(L.service.BATCH_SIZE_MAX)]
    with uow.begin() as tx:
        accounts = L.open_accounts(tx, specs)
    assert [a.key for a in accounts] == [s.key for s in specs]
    assert len({a.id for a in accounts}) == L.service.BATCH_SIZE_MAX
    with uow.connect() as conn:
        assert L.get_accounts(conn, [a.id for a in accounts[::1000]]) == {
            a.id: a for a in accounts[::1000]}

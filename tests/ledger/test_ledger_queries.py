"""ledger.queries: the account listing the CLI uses instead of the table, on both stores."""

from __future__ import annotations

import pytest

from creditpay.errors import ValidationError
from creditpay.ledger.queries import list_accounts

from .helpers import open_basic


def test_accounts_in_id_order_by_owner_and_bounded(uow):
    opened = open_basic(uow)
    with uow.connect() as conn:
        every = list_accounts(conn)
        mine = list_accounts(conn, owner_id="c1")
        first_two = list_accounts(conn, limit=2)
    assert [a.id for a in every] == sorted(a.id for a in opened.values())
    assert {a.key for a in mine} == {opened["wallet"].key, opened["line"].key}
    assert first_two == every[:2]
    assert every[0].balance_minor == 0 and every[0].currency == "CNY"


@pytest.mark.parametrize("limit", [0, 10_001, True])
def test_bad_limit_is_refused_naming_the_field(uow, limit):
    with uow.connect() as conn, pytest.raises(ValidationError) as error:
        list_accounts(conn, limit=limit)
    assert error.value.field == "limit"


def test_available_of_is_the_accounts_available_minor_on_both_sides(uow):
    """The SQL expression other domains read with their own rows equals
    Account.available_minor for accounts of either normal side, with posted and pending
    amounts on both sides, and is NULL for an id with no account."""
    from sqlalchemy import literal, select

    from creditpay import ledger as L
    from creditpay.ledger.queries import available_of

    a = open_basic(uow)
    with uow.begin() as tx:
        L.create_transfers(tx, [
            L.TransferRequest("grant", "credit.limit", debit_account_id=a["limit"].id,
                              credit_account_id=a["line"].id, amount_minor=50_000),
            L.TransferRequest("fund", "topup", debit_account_id=a["cash"].id,
                              credit_account_id=a["wallet"].id, amount_minor=9_000),
            L.TransferRequest("hold", "credit.purchase_hold", kind=L.TransferKind.PENDING,
                              debit_account_id=a["line"].id, credit_account_id=a["limit"].id,
                              amount_minor=1_200, timeout_seconds=3600),
            L.TransferRequest("spend", "purchase", debit_account_id=a["wallet"].id,
                              credit_account_id=a["merchant"].id, amount_minor=700),
            L.TransferRequest("back", "refund", kind=L.TransferKind.PENDING,
                              debit_account_id=a["merchant"].id,
                              credit_account_id=a["cash"].id, amount_minor=300,
                              timeout_seconds=3600),
        ])
    with uow.connect() as conn:
        for account in a.values():
            found = conn.execute(select(available_of(literal(account.id)))).scalar_one()
            stored = L.get_account(conn, account.id)
            assert found == stored.available_minor, (account.key, stored)
        assert conn.execute(select(available_of(literal(10**9)))).scalar_one() is None

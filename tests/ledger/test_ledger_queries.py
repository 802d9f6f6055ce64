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

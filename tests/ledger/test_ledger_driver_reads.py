"""The ledger's account and transfer reads go straight to the driver: each must return
exactly what the same row read through SQLAlchemy Core returns (the column types' own
conversions: aware UTC datetimes, JSON metadata, enums), on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.errors import NotFoundError
from creditpay.ledger import service as S
from creditpay.ledger.tables import ledger_accounts, ledger_transfers

from .helpers import open_basic


def _core_accounts(conn) -> dict[int, L.Account]:
    rows = conn.execute(select(ledger_accounts)).mappings()
    return {row["id"]: S._account_from_row(row) for row in rows}


def _core_transfers(conn) -> dict[str, L.Transfer]:
    rows = conn.execute(select(ledger_transfers)).mappings()
    return {row["id"]: S._transfer_from_row(row) for row in rows}


def test_driver_reads_equal_core_reads(uow):
    accounts = open_basic(uow)
    cash, wallet, merchant = accounts["cash"].id, accounts["wallet"].id, accounts["merchant"].id
    with uow.begin() as tx:
        L.create_transfers(tx, [
            L.TransferRequest("top-up", "top_up", debit_account_id=cash,
                              credit_account_id=wallet, amount_minor=10_000,
                              reference="r1", metadata={"note": "数", "n": [1, 2.5, None]}),
            L.TransferRequest("hold", "purchase", L.TransferKind.PENDING,
                              debit_account_id=wallet, credit_account_id=merchant,
                              amount_minor=2_500, timeout_seconds=3_600),
            L.TransferRequest("hold-2", "purchase", L.TransferKind.PENDING,
                              debit_account_id=wallet, credit_account_id=merchant,
                              amount_minor=500),
        ])
        L.create_transfer(tx, L.TransferRequest("hold:post", "capture", L.TransferKind.POST,
                                                 pending_id="hold", amount_minor=2_000))
    with uow.begin() as tx:
        conn = tx.conn
        core_accounts = _core_accounts(conn)
        core_transfers = _core_transfers(conn)
        assert len(core_accounts) == 5 and len(core_transfers) == 4
        for account in core_accounts.values():
            assert account.created_at is not None and account.created_at.tzinfo is dt.UTC
            assert L.get_account(conn, account.id) == account
            assert L.get_account_by_key(conn, account.key) == account
            assert S._accounts_by_key(tx, [account.key]) == {account.key: account}
        assert L.get_accounts(conn, [*core_accounts, 10**9]) == core_accounts
        keys = [a.key for a in core_accounts.values()]
        assert S._accounts_by_key(tx, [*keys, "no-such-key"]) == {
            a.key: a for a in core_accounts.values()}
        for transfer_id, transfer in core_transfers.items():
            assert L.get_transfer(conn, transfer_id) == transfer
            assert S._load_transfers(conn, [transfer_id], lock=True) == {transfer_id: transfer}
        assert core_transfers["top-up"].metadata == {"note": "数", "n": [1, 2.5, None]}
        assert core_transfers["hold"].expires_at is not None
        assert core_transfers["hold"].hold_status == L.HoldStatus.POSTED
        for lock in (False, True):
            assert S._load_transfers(conn, [*core_transfers, "absent"], lock=lock) \
                == core_transfers
        assert L.balance(conn, wallet).balance_minor == 10_000 - 2_000
        as_of = L.balance(conn, wallet, as_of=tx.now)
        assert (as_of.debits_posted, as_of.debits_pending) == (2_000, 500)
        with pytest.raises(NotFoundError) as error:
            L.get_account(conn, 10**9)
        assert error.value.field == "account_id"
        with pytest.raises(NotFoundError) as error:
            L.get_account_by_key(conn, "no-such-key")
        assert error.value.field == "key"

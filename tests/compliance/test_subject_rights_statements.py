"""The data-subject export reads each section through its owner in a fixed number of
statements, however many rows the person has (no query per complaint, card or device), on
both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.protection.complaints import open_complaint
from creditpay.reporting import subject_rights as SR
from tests.compliance.test_compliance_subject_rights import _register


@pytest.fixture
def parties(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _export_statements(uow, store, parties, customer_id: str) -> tuple[int, dict]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        with uow.begin() as tx:
            document = SR.export_subject(tx, parties.vault, customer_id)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(statements), document


def _more(uow, parties, customer_id: str, n: int) -> None:
    with uow.begin() as tx:
        for i in range(n):
            open_complaint(tx, customer_id=customer_id, subject_type="account",
                           subject_id=f"acc-{n}-{i}", category="fees_and_charges",
                           channel="app")
            parties.add_card(tx, Principal("customer", customer_id),
                             rail_token=f"tok-{n}-{i}", brand="visa", last4="4242",
                             expiry_month=1, expiry_year=2031)


def test_export_statements_do_not_grow_with_the_rows(uow, store, parties):
    cid = _register(uow, parties)
    _more(uow, parties, cid, 1)
    _export_statements(uow, store, parties, cid)  # the vault's data key is read once
    few, small = _export_statements(uow, store, parties, cid)
    _more(uow, parties, cid, 4)
    many, large = _export_statements(uow, store, parties, cid)
    assert (len(small["complaints"]), len(large["complaints"])) == (1, 5)
    assert (len(small["cards"]), len(large["cards"])) == (1, 5)
    assert many == few

"""parties.queries (a customer's record, devices, cards for the data-subject export) and
parties.erasure (parties' own part of the erasure), on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.errors import NotFoundError
from creditpay.parties.erasure import erase_customer
from creditpay.parties.queries import (
    ERASED_PASSWORD,
    PERSONAL_DATA_FIELDS,
    customer_record,
    list_customer_cards,
    list_customer_devices,
    personal_data,
)
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.parties.tables import (
    customer_cards,
    customer_devices,
    customer_sessions,
    customers,
)
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.tombstones import tombstone
from creditpay.platform.vault import BlindIndexer, Vault


@pytest.fixture
def parties(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _customer(uow, parties, phone: str, email: str | None, *, kyc: bool,
              id_number: str = "E12345678") -> str:
    with uow.begin() as tx:
        customer_id = parties.register(tx, phone=phone, email=email,
                                       password_hash="$argon2id$x",
                                       device_id="device-0001")["id"]
    if kyc:
        with uow.begin() as tx:
            parties.verify_kyc(tx, Principal("customer", customer_id), legal_name="张三丰",
                               id_number=id_number, date_of_birth=dt.date(1990, 3, 7))
    with uow.begin() as tx:
        for n, last4 in enumerate(("4242", "1881")):
            parties.add_card(tx, Principal("customer", customer_id),
                             rail_token=f"tok_{customer_id}_{n}", brand="visa", last4=last4,
                             expiry_month=12, expiry_year=2030)
        device_id = tx.conn.execute(select(customer_devices.c.id).where(
            customer_devices.c.customer_id == customer_id)).scalar_one()
        for n, status in enumerate(("active", "rotated", "revoked")):
            tx.conn.execute(customer_sessions.insert().values(
                id=f"ses_{customer_id[-8:]}_{n}", customer_id=customer_id,
                device_id=device_id, family_id="fam", refresh_hash=f"{customer_id}-{n}",
                status=status, created_at=tx.now, expires_at=tx.now + dt.timedelta(days=30)))
    return customer_id


def test_record_personal_data_devices_and_cards(uow, parties):
    cid = _customer(uow, parties, "+86 138-1234-5678", "Alice@Example.com", kyc=True)
    bare = _customer(uow, parties, "13900001111", None, kyc=False)
    with uow.connect() as conn:
        record = customer_record(conn, cid)
        other = customer_record(conn, bare)
        assert customer_record(conn, "cus_missing") is None
        devices = list_customer_devices(conn, cid, limit=10)
        cards = list_customer_cards(conn, cid, limit=10)
        assert len(list_customer_cards(conn, cid, limit=1)) == 1
        assert list_customer_cards(conn, "cus_missing", limit=10) == []
    assert record is not None and other is not None
    assert (record.customer_id, record.status, record.erased, record.kyc_status) == (
        cid, "active", False, "verified")
    assert record.kyc_verified_at is not None and record.kyc_verified_at.tzinfo is not None
    assert list(record.personal_data_ct) == list(PERSONAL_DATA_FIELDS)
    assert personal_data(parties.vault, record) == {
        "phone": "8613812345678", "email": "alice@example.com", "legal_name": "张三丰",
        "id_number": "E12345678", "date_of_birth": "1990-03-07"}
    assert personal_data(parties.vault, other) == {
        "phone": "8613900001111", "email": None, "legal_name": None, "id_number": None,
        "date_of_birth": None}
    assert len(devices) == 1 and devices[0].created_at.tzinfo is not None
    assert sorted((c.brand, c.last4, c.status) for c in cards) == [
        ("visa", "1881", "active"), ("visa", "4242", "active")]
    assert [c.id for c in cards] == sorted(c.id for c in cards)  # one time: then by id
    assert all(not hasattr(c, "rail_token") for c in cards)


def test_erase_customer_tombstones_only_that_customer(uow, parties):
    cid = _customer(uow, parties, "+86 138-1234-5678", "Alice@Example.com", kyc=True)
    kept = _customer(uow, parties, "13900001111", "bob@example.com", kyc=True,
                     id_number="G87654321")
    with uow.begin() as tx:
        done = erase_customer(tx, cid)
    assert done.fields_erased == list(PERSONAL_DATA_FIELDS)
    assert (done.devices_erased, done.cards_erased, done.sessions_revoked) == (1, 2, 2)
    with uow.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
        assert all(getattr(row, f"{f}_ct") is None for f in PERSONAL_DATA_FIELDS)
        assert row.phone_bidx == tombstone("customers.phone_bidx", cid)
        assert row.email_bidx == tombstone("customers.email_bidx", cid)
        assert row.id_number_bidx == tombstone("customers.id_number_bidx", cid)
        assert (row.status, row.password_hash) == ("closed", ERASED_PASSWORD)
        record = customer_record(conn, cid)
        assert record is not None and record.erased
        device = conn.execute(select(customer_devices).where(
            customer_devices.c.customer_id == cid)).one()
        assert device.device_hash == tombstone("device", cid, device.id)
        assert device.label is None and device.trusted_at is None
        cards = conn.execute(select(customer_cards).where(
            customer_cards.c.customer_id == cid)).all()
        assert {(c.rail_token, c.last4, c.status) for c in cards} == {
            (tombstone("card", cid, c.id), "****", "removed") for c in cards}
        statuses = conn.execute(select(customer_sessions.c.customer_id,
                                       customer_sessions.c.status)).all()
        assert sorted(s for c, s in statuses if c == cid) == ["revoked"] * 3
        assert sorted(s for c, s in statuses if c == kept) == ["active", "revoked", "rotated"]
        untouched = customer_record(conn, kept)
        assert untouched is not None and not untouched.erased
        assert personal_data(parties.vault, untouched)["phone"] == "8613900001111"
        assert {c.status for c in list_customer_cards(conn, kept, limit=10)} == {"active"}
        # the phone and e-mail index free again
        assert parties.find_by_identifier(conn, "+86 138-1234-5678") is None
    with uow.begin() as tx:  # a repeat finds the tombstones and revokes nothing more
        again = erase_customer(tx, cid)
    assert (again.fields_erased, again.sessions_revoked) == ([], 0)
    with uow.begin() as tx, pytest.raises(NotFoundError) as missing:
        erase_customer(tx, "cus_missing")
    assert missing.value.field == "customer_id"


def test_erase_customer_without_a_login_identifier_left(uow, parties):
    # Only an e-mail: the table needs one login identifier, a phone tombstone stands in.
    with uow.begin() as tx:
        cid = parties.register(tx, phone=None, email="carol@example.com",
                               password_hash="$argon2id$x", device_id="device-0002")["id"]
    with uow.begin() as tx:
        done = erase_customer(tx, cid)
    assert done.fields_erased == ["email"]
    with uow.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
    assert row.email_bidx == tombstone("customers.email_bidx", cid)
    assert row.phone_bidx is None and row.id_number_bidx is None

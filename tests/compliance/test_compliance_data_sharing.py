"""Sharing with a partner lender (both stores): refused without a live consent for that
named partner, only the fields asked for, personal data masked, every share audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from creditpay.errors import ConsentRequiredError, ValidationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.payments.tables import payment_intents
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.tables import audit_records
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.protection import consent
from creditpay.reporting.data_sharing import share_with_partner
from tests.partners_helpers import register_partner

PURPOSE = consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
PHONE = "13812345678"


@pytest.fixture
def parties(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _customer(uow, parties) -> str:
    with uow.begin() as tx:
        view = parties.register(tx, phone=PHONE, email=None, password_hash="$argon2id$x",
                                device_id="device-0001")
    with uow.begin() as tx:
        parties.verify_kyc(tx, Principal("customer", view["id"]), legal_name="张三丰",
                           id_number="110101199003071233", date_of_birth=dt.date(1990, 3, 7))
        for k, (days_ago, captured) in enumerate(((5, 12_000), (40, 8_000), (200, 99_000))):
            tx.conn.execute(payment_intents.insert().values(
                id=f"pi_{k}", merchant_id="m1", order_id=f"o{k}", amount_minor=captured,
                currency="CNY", scenario="online", line_items=[], status="succeeded",
                customer_id=view["id"], captured_minor=captured, refunded_minor=0,
                expires_at=tx.now, created_at=tx.now - dt.timedelta(days=days_ago)))
    return view["id"]


def _grant(uow, customer_id, partner_id="bank_a", name="A Bank"):
    register_partner(uow, partner_id, name)
    text = consent.consent_text(PURPOSE, "en", partner_name=name)
    with uow.begin() as tx:
        return consent.grant_consent(tx, customer_id=customer_id, purpose=PURPOSE,
                                     language="en", text_version=text.version,
                                     text_sha256=text.sha256, channel="app",
                                     partner_id=partner_id, partner_name=name)


def _shares(uow):
    with uow.connect() as conn:
        return conn.execute(select(audit_records).where(
            audit_records.c.action == "data.shared_with_partner")).mappings().all()


def _share(uow, parties, customer_id, partner_id="bank_a", fields=("payments_count_90d",)):
    with uow.begin() as tx:
        return share_with_partner(tx, customer_id, partner_id, list(fields), parties=parties)


def test_shares_only_the_fields_asked_for_masked_and_audited(uow, parties):
    cid = _customer(uow, parties)
    record = _grant(uow, cid)
    shared = _share(uow, parties, cid, fields=("phone_masked", "id_number_masked",
                                               "payments_count_90d",
                                               "payments_amount_minor_90d"))
    assert shared["fields"] == {"phone_masked": "+86 138****5678",
                                "id_number_masked": "1101**********1233",
                                "payments_count_90d": 2,  # the 200-day-old one is outside
                                "payments_amount_minor_90d": 20_000}
    assert shared["consent_record_id"] == record.id
    (audited,) = _shares(uow)
    assert audited["subject_id"] == cid
    assert audited["payload"]["partner_id"] == "bank_a"
    assert audited["payload"]["fields"] == sorted(shared["fields"])
    assert "5678" not in str(audited["payload"])  # what, with whom; never the values


@pytest.mark.parametrize("case", ["never", "other_partner", "revoked"])
def test_refused_without_a_live_consent_for_that_partner(uow, parties, case):
    cid = _customer(uow, parties)
    if case == "other_partner":
        _grant(uow, cid, "bank_b", "B Bank")
    elif case == "revoked":
        _grant(uow, cid)
        with uow.begin() as tx:
            consent.revoke_consent(tx, customer_id=cid, purpose=PURPOSE, channel="app",
                                   partner_id="bank_a")
    with pytest.raises(ConsentRequiredError) as refused:
        _share(uow, parties, cid)
    assert refused.value.field == "purpose"
    assert refused.value.extra["partner_id"] == "bank_a"
    assert _shares(uow) == []


@pytest.mark.parametrize("fields", [(), ("phone",), ("payments_count_90d",) * 2,
                                    ("wallet_transactions",)])
def test_fields_outside_the_catalogue_are_refused_naming_fields(uow, parties, fields):
    cid = _customer(uow, parties)
    _grant(uow, cid)
    with pytest.raises(ValidationError) as refused:
        _share(uow, parties, cid, fields=fields)
    assert refused.value.field == "fields"
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "data.shared_with_partner")).scalar_one() == 0

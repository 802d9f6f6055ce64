"""Data-subject rights on both stores: export (decrypted for the person, audited) and
erasure (refused naming the duty while credit is open or within retention; tombstones and
a recorded, idempotent erasure otherwise)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.credit import service as S
from creditpay.credit.calendar import add_months
from creditpay.errors import StateError, ValidationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.parties.tables import customer_devices, customers
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.tables import audit_records
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.protection import consent
from creditpay.protection.complaints import open_complaint
from creditpay.reporting import subject_rights as SR
from tests.catalogues import CATALOGUE
from tests.compliance.test_compliance_provisions import build_wallet
from tests.credit.servicing_helpers import CNY, buy, new_customer

PHONE = "+86 138-1234-5678"
EMAIL = "Alice@Example.com"


@pytest.fixture
def key_bytes():
    return generate_key_bytes()


@pytest.fixture
def parties(uow, key_bytes):
    vault = Vault(uow, LocalMasterKey(key_bytes))
    vault.ensure_active_key()  # before any transaction: creating it takes its own
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _register(uow, parties, phone=PHONE, email=EMAIL, kyc=True) -> str:
    with uow.begin() as tx:
        view = parties.register(tx, phone=phone, email=email, password_hash="$argon2id$x",
                                device_id="device-0001")
    if kyc:
        with uow.begin() as tx:
            parties.verify_kyc(tx, Principal("customer", view["id"]), legal_name="张三丰",
                               id_number="E12345678", date_of_birth=dt.date(1990, 3, 7))
    return view["id"]


def _grant(uow, customer_id):
    text = consent.consent_text("marketing", "en")
    with uow.begin() as tx:
        consent.grant_consent(tx, customer_id=customer_id, purpose="marketing", language="en",
                              text_version=text.version, text_sha256=text.sha256,
                              channel="app")


def _audit(uow, action):
    with uow.connect() as conn:
        return conn.execute(select(audit_records).where(audit_records.c.action == action)
                            .order_by(audit_records.c.id)).mappings().all()


def test_export_everything_decrypted_and_audited(uow, parties):
    cid = _register(uow, parties)
    _grant(uow, cid)
    who = new_customer(uow, cid, wallet_minor=0)
    buy(uow, who, "p-1", 20_000)
    with uow.begin() as tx:
        open_complaint(tx, customer_id=cid, subject_type="account", subject_id=who.line_id,
                       category="fees_and_charges", channel="app")
    with uow.begin() as tx:
        document = SR.export_subject(tx, parties.vault, cid)
    profile = document["profile"]
    assert (profile["phone"], profile["email"]) == ("8613812345678", "alice@example.com")
    assert (profile["legal_name"], profile["id_number"], profile["date_of_birth"]) == (
        "张三丰", "E12345678", "1990-03-07")
    assert profile["erased"] is False and profile["kyc_status"] == "verified"
    assert [c["purpose"] for c in document["consents"]["current"]] == ["marketing"]
    assert len(document["consents"]["history"]) == 1
    assert document["credit_lines"][0]["line_id"] == who.line_id
    line = next(a for a in document["credit_accounts"] if a["kind"] == "line")
    assert line["principal_minor"] == 20_000
    assert [c["category"] for c in document["complaints"]] == ["fees_and_charges"]
    assert len(document["devices"]) == 1 and document["payments"]["payment_intents"] == []
    json.dumps(document)  # JSON-ready
    records = _audit(uow, "subject.exported")
    assert len(records) == 1 and records[0]["subject_id"] == cid
    assert records[0]["actor_type"] == "customer"
    assert "8613812345678" not in json.dumps(records[0]["payload"])
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        SR.export_subject(tx, parties.vault, cid, actor_id="cus_other")
    assert err.value.field == "actor_id"
    with uow.begin() as tx, pytest.raises(Exception) as missing:
        SR.export_subject(tx, parties.vault, "cus_missing")
    assert getattr(missing.value, "field", None) == "customer_id"


def test_erasure_refused_while_credit_open_then_within_retention(uow, clock, parties):
    cid = _register(uow, parties)
    who = new_customer(uow, cid, wallet_minor=100_000)
    buy(uow, who, "p-1", 20_000)
    with uow.begin() as tx, pytest.raises(StateError) as err:
        SR.erase_subject(tx, cid, idempotency_key="erase-1")
    assert err.value.extra["rule"] == "erasure.open_credit"
    assert "owed" in err.value.detail and err.value.field == "customer_id"
    # Pay everything and lower the limit to 0: no open credit, but records are retained.
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, who.line_id)
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r-1", customer_id=cid, currency=CNY, amount_minor=owed,
                source_account_id=build_wallet(tx, cid), target=who.line_id, catalogue=CATALOGUE)
        S.set_credit_limit(tx, line_id=who.line_id, new_limit_minor=0, reason="closing")
    with uow.begin() as tx, pytest.raises(StateError) as err:
        SR.erase_subject(tx, cid, idempotency_key="erase-1")
    until = add_months(clock.today(), 60)
    assert err.value.extra["rule"] == "erasure.retention"
    assert err.value.extra["retained_until"] == until.isoformat()
    assert "AML" in err.value.detail
    with uow.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
    assert row.phone_ct is not None and row.status == "active"  # nothing changed
    assert _audit(uow, "subject.erased") == []

    # After the retention period (here configured to 1 month) the erasure goes through.
    policy = SR.RetentionPolicy(retention_months=1)
    clock.set(dt.datetime.combine(add_months(clock.today(), 1), dt.time(9), tzinfo=dt.UTC))
    with uow.begin() as tx:
        result = SR.erase_subject(tx, cid, idempotency_key="erase-1", policy=policy)
    assert sorted(result.fields_erased) == sorted(SR.PII_FIELDS)
    assert result.devices_erased == 1 and not result.replayed
    with uow.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
        device = conn.execute(select(customer_devices).where(
            customer_devices.c.customer_id == cid)).one()
        assert parties.find_by_identifier(conn, PHONE) is None
    assert all(getattr(row, f"{f}_ct") is None for f in SR.PII_FIELDS)
    assert row.phone_bidx.startswith("erased:") and row.email_bidx.startswith("erased:")
    assert row.id_number_bidx.startswith("erased:") and row.status == "closed"
    assert row.password_hash == "!erased" and device.device_hash.startswith("erased:")
    records = _audit(uow, "subject.erased")
    # The chain keeps the digest of the caller's key, never the key (caller-supplied text).
    assert len(records) == 1 and "idempotency_key" not in records[0]["payload"]
    assert records[0]["payload"]["idempotency_key_sha256"] == hashlib.sha256(
        b"erase-1").hexdigest()
    with uow.begin() as tx:  # same key: the first result
        again = SR.erase_subject(tx, cid, idempotency_key="erase-1", policy=policy)
    assert again.replayed and again.erased_at == result.erased_at
    with uow.begin() as tx, pytest.raises(StateError) as err:
        SR.erase_subject(tx, cid, idempotency_key="erase-2", policy=policy)
    assert err.value.extra["rule"] == "erasure.already_erased"
    assert len(_audit(uow, "subject.erased")) == 1
    with uow.begin() as tx:  # the credit records stay; the profile is gone
        document = SR.export_subject(tx, parties.vault, cid, actor_type="staff",
                                     actor_id="staff-1")
    assert document["profile"]["erased"] is True and document["profile"]["phone"] is None
    assert document["credit_lines"][0]["limit_minor"] == 0
    # The phone and email are free again: a new registration with them is accepted.
    assert _register(uow, parties, kyc=False) != cid


def test_erasure_without_financial_history_and_bad_input(uow, parties):
    cid = _register(uow, parties, kyc=False)
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        SR.erase_subject(tx, cid, idempotency_key="")
    assert err.value.field == "idempotency_key"
    with pytest.raises(ValidationError) as err:
        SR.RetentionPolicy(retention_months=-1)
    assert err.value.field == "retention_months"
    with uow.begin() as tx:
        result = SR.erase_subject(tx, cid, idempotency_key="k1")
    assert sorted(result.fields_erased) == ["email", "phone"]


def test_subject_cli(uow, store, parties, key_bytes, tmp_path, monkeypatch):
    cid = _register(uow, parties)
    new_customer(uow, cid)  # a 10,000.00 line: open credit
    monkeypatch.setenv("CREDITPAY_MASTER_KEY", base64.b64encode(key_bytes).decode())
    monkeypatch.delenv("CREDITPAY_MASTER_KEY_FILE", raising=False)
    runner = CliRunner()
    officer, support = (uow.run(lambda tx, role=role: parties.create_operator(
        tx, name=role, role=role)) for role in ("compliance_officer", "support"))
    monkeypatch.setenv("CREDITPAY_OPERATOR_TOKEN", officer["token"])
    out = tmp_path / "export.json"
    # A staff command: no token, or another role's, is refused before anything is read.
    for token, expected in (("", "--token"), (support["token"], "compliance_officer")):
        refused = runner.invoke(app, ["subject", "export", "--customer", cid, "--out",
                                      str(out), "--db", store.url],
                                env={"CREDITPAY_OPERATOR_TOKEN": token})
        assert refused.exit_code == 2 and expected in refused.output, refused.output
        assert not out.exists()
    result = runner.invoke(app, ["subject", "export", "--customer", cid, "--out", str(out),
                                 "--db", store.url])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["profile"]["phone"] == "8613812345678"
    if os.name == "posix":
        assert out.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["subject", "export", "--customer", cid, "--out", str(out),
                                "--db", store.url])
    assert again.exit_code == 2  # never overwrites a file
    refused = runner.invoke(app, ["subject", "erase", "--customer", cid, "--idempotency-key",
                                  "k1", "--db", store.url])
    assert refused.exit_code == 2 and "credit line" in refused.output
    other = _register(uow, parties, phone="13900001111", email="bob@example.com", kyc=False)
    done = runner.invoke(app, ["subject", "erase", "--customer", other, "--idempotency-key",
                               "k1", "--db", store.url])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["customer_id"] == other
    with uow.connect() as conn:
        actors = {(r.action, r.actor_id) for r in conn.execute(select(
            audit_records.c.action, audit_records.c.actor_id).where(
            audit_records.c.subject_id.in_([cid, other]),
            audit_records.c.actor_type == "staff"))}
    # The export and the erasure are recorded as the token's operator's.
    assert {actor for _, actor in actors} == {officer["id"]}, actors

"""No personal data in the audit chain (issue 13, item 6), on both stores.

Free text a person writes (a case note, a reason) goes to the notes vault, encrypted and
erasable; the chain holds its reference. Purposes are codes. A name and a phone number typed
into a note are nowhere in ``audit_records``, are readable through the reference by an
authorised reader (the read itself audited), and are gone after the person's erasure.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from creditpay.errors import ValidationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, suspend_merchant
from creditpay.parties.tables import merchants
from creditpay.platform import audit
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.notes import Notes
from creditpay.platform.purposes import AccessPurpose
from creditpay.platform.tables import audit_records, vault_notes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.reporting import subject_rights as SR
from creditpay.risk.fraud import cases

NAME = "张伟"
PHONE = "13812345678"
NOTE = f"Called {NAME} on {PHONE}: he confirms the card was stolen"


@pytest.fixture
def vault(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return vault


@pytest.fixture
def notes(vault):
    return Notes(vault)


def _customer(uow, vault) -> str:
    parties = Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))
    with uow.begin() as tx:
        return parties.register(tx, phone="+86 139-0000-1111", email=None,
                                password_hash="$argon2id$x", device_id="device-0001")["id"]


def _audit_text(engine) -> str:
    """Every text column of every audit record, as stored (the raw payload text, which on
    SQLite escapes non-ASCII) and as decoded (so a Chinese name is seen either way)."""
    with engine.connect() as conn:
        raw = conn.execute(text(
            "SELECT actor_type, actor_id, action, subject_type, subject_id, "
            "CAST(payload AS TEXT) FROM audit_records")).all()
        decoded = conn.execute(select(audit_records.c.payload)).scalars().all()
    return "\n".join([" ".join(str(value) for value in row) for row in raw]
                     + [json.dumps(payload, ensure_ascii=False) for payload in decoded])


def test_a_note_with_a_name_and_phone_stays_out_of_the_chain_and_is_erased(
        uow, engine, vault, notes):
    customer_id = _customer(uow, vault)
    case = uow.run(lambda tx: cases.open_case(
        tx, subject_type="payment_intent", subject_id="pi_1", customer_id=customer_id,
        merchant_id="mer_1", device_id="dev_1", amount_minor=1_000, currency="CNY",
        score=0.8, reasons=["test_hold"]))
    done = uow.run(lambda tx: cases.resolve(tx, case["id"], "op_analyst", "fraud", NOTE,
                                            review_payment=lambda *a: None, notes=notes))
    note_id = done["note"]
    # A compliance officer's read of personal data, justified in words: the words are a note.
    with uow.begin() as tx:
        why = notes.store(tx, text=f"{NAME} asked by phone ({PHONE}) for his data",
                          kind="personal_data_access.note", about_type="customer",
                          about_id=customer_id, author_id="op_compliance",
                          customer_id=customer_id)
        audit.record_personal_data_access(tx, "op_compliance", "customer", customer_id,
                                          ["phone"], "customer_request", note_id=why)
    audit.seal(uow, None)

    chain = _audit_text(engine)
    assert NAME not in chain and PHONE not in chain
    assert note_id in chain and why in chain  # referenced, by id only
    with engine.connect() as conn:
        stored = conn.execute(select(vault_notes.c.ciphertext)).scalars().all()
        case_note = conn.execute(text("SELECT note FROM fraud_cases")).scalar_one()
    assert case_note == note_id
    assert all(NAME not in value and PHONE not in value for value in stored)  # encrypted

    # An authorised reader reads it through its reference; the read is audited.
    view = uow.run(lambda tx: notes.read(tx, note_id, staff_id="op_lead",
                                         purpose="fraud_investigation"))
    assert view.text == NOTE and view.customer_id == customer_id
    with engine.connect() as conn:
        read = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "personal_data.read",
            audit_records.c.actor_id == "op_lead")).scalar_one()
    assert read == {"fields": ["note"], "purpose": "fraud_investigation", "note_id": note_id}

    # The person's erasure drops the text; the chain's references resolve to "erased".
    with uow.begin() as tx:
        result = SR.erase_subject(tx, customer_id, idempotency_key="erase-1")
    assert result.notes_erased == 2
    for reference in (note_id, why):
        gone = uow.run(lambda tx, r=reference: notes.read(tx, r, staff_id="op_lead",
                                                          purpose="data_subject_request"))
        assert gone.text is None and gone.erased_at is not None
    with engine.connect() as conn:
        assert conn.execute(select(vault_notes.c.ciphertext)).scalars().all() == [None, None]
    audit.seal(uow, None)
    chain = _audit_text(engine)
    assert NAME not in chain and PHONE not in chain
    assert audit.verify_database(engine).ok  # erasure never touches the chain


@pytest.mark.parametrize("purpose", ["complaint #881", f"asked by {NAME}", "",
                                     "Customer_Request", None, "customer request"])
def test_a_purpose_that_is_not_a_code_is_refused(uow, purpose):
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        audit.record_personal_data_access(tx, "op_1", "customer", "cust_1", ["phone"],
                                          purpose)
    assert err.value.field == "purpose"
    with uow.begin() as tx:  # every listed code is accepted
        for code in AccessPurpose:
            audit.record_personal_data_access(tx, "op_1", "customer", "cust_1", ["phone"],
                                              code.value)


def test_a_note_reference_must_look_like_one(uow):
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        audit.record_personal_data_access(tx, "op_1", "customer", "cust_1", ["phone"],
                                          "kyc_review", note_id=f"{NAME} called")
    assert err.value.field == "note_id"


@pytest.mark.parametrize("payload, key", [
    ({"reason": f"customer {NAME} called"}, "payload.reason"),
    ({"dismiss_reason": "known batch job"}, "payload.dismiss_reason"),
    ({"note": ["ok_code", "Mr Li, again"]}, "payload.note"),
    ({"legal_name": NAME}, "payload.legal_name"),
    ({"result": {"comment": "Looks fine to me"}}, "payload.result.comment"),
    ({"purpose": "court order 2025-17"}, "payload.purpose"),
    ({"address": {"city": "深圳"}}, "payload.address"),
])
def test_free_text_under_a_free_text_key_is_refused(uow, payload, key):
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        audit.append(tx, "staff", "op_1", "case.updated", "case", "c_1", payload)
    assert err.value.field == key


def test_codes_and_references_under_those_keys_are_accepted(uow):
    with uow.begin() as tx:
        audit.append(tx, "system", "collections", "collections.handed_over", "case", "c_1", {
            "reason": "handed_over", "reason_code": "REVIEW_INCOMPLETE", "note_given": True,
            "note_id": "note_" + "a" * 24, "purpose": "credit_assessment", "note": None,
            "agency_name": "Example Collections Agency Co.",  # a business, from config
            "model": {"name": "application"}, "reasons": ["velocity:1h > 5"]})


def test_a_merchant_suspension_reason_is_a_code(uow, clock):
    with uow.begin() as tx:
        tx.conn.execute(merchants.insert().values(
            id="mer_1", name="Shop", mcc="5411", status="active", discount_rate="0.006",
            settlement_currency="CNY", created_at=clock.now()))
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        suspend_merchant(tx, "mer_1", actor_id="op_1", reason=f"{NAME} complained")
    assert err.value.field == "reason"
    with uow.begin() as tx:
        suspend_merchant(tx, "mer_1", actor_id="op_1", reason="fraud_investigation",
                         reference="fcase_1")
    with uow.connect() as conn:
        payload = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "merchant.suspended")).scalar_one()
    assert payload == {"reason": "fraud_investigation", "reference": "fcase_1",
                       "previous_status": "active"}


def test_a_note_needs_the_vault_and_text(uow, notes):
    case = uow.run(lambda tx: cases.open_case(
        tx, subject_type="payment_intent", subject_id="pi_2", customer_id="cus_1",
        merchant_id="mer_1", device_id="dev_1", amount_minor=1_000, currency="CNY",
        score=0.8, reasons=["test_hold"]))
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        cases.resolve(tx, case["id"], "op_a", "unsure", NOTE)  # no vault: not kept in clear
    assert err.value.field == "note"
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        notes.store(tx, text="x" * 4_001, kind="fraud_case.note", about_type="fraud_case",
                    about_id="c", author_id="op")
    assert err.value.field == "note"


def test_export_purpose_is_a_code(uow, vault):
    customer_id = _customer(uow, vault)
    with uow.begin() as tx, pytest.raises(ValidationError) as err:
        SR.export_subject(tx, vault, customer_id, actor_type="staff", actor_id="op_1",
                          purpose=f"request of {NAME}")
    assert err.value.field == "purpose"
    with uow.begin() as tx:
        SR.export_subject(tx, vault, customer_id)
    with uow.connect() as conn:
        payload = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "subject.exported")).scalar_one()
    assert payload["purpose"] == "data_subject_request"


def test_a_reveal_of_one_field_names_it_and_its_reason_note_in_the_chain(uow, engine, vault,
                                                                           notes):
    """The console's reveal (issue #16): one field, a purpose code and the reason's note;
    the record names that field only; a bad field or purpose reads nothing and records
    nothing."""
    parties = Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))
    customer_id = _customer(uow, vault)
    for bad, field in (({"fields": ["password_hash"], "purpose": "customer_request"}, "fields"),
                       ({"fields": [], "purpose": "customer_request"}, "fields"),
                       ({"fields": ["phone"], "purpose": "because I can"}, "purpose")):
        with pytest.raises(ValidationError) as err, uow.begin() as tx:
            parties.reveal_personal_data(tx, "op_compliance", customer_id, bad["purpose"],
                                         fields=bad["fields"])
        assert err.value.field == field
    with engine.connect() as conn:
        assert conn.execute(select(audit_records).where(
            audit_records.c.action == "personal_data.read")).first() is None
    with uow.begin() as tx:
        why = notes.store(tx, text=f"{NAME} disputes the line", kind="personal_data_access.note",
                          about_type="customer", about_id=customer_id,
                          author_id="op_compliance", customer_id=customer_id)
        shown = parties.reveal_personal_data(tx, "op_compliance", customer_id,
                                             "complaint_handling", fields=["phone"],
                                             note_id=why)
    assert shown == {"id": customer_id, "phone": "8613900001111"}  # normalised, in clear
    with engine.connect() as conn:
        read = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "personal_data.read")).scalar_one()
    assert read == {"fields": ["phone"], "purpose": "complaint_handling", "note_id": why}
    assert NAME not in _audit_text(engine)

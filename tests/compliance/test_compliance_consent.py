"""Purpose-specific consent: texts and hashes, grant, revoke, history, the require gate."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from creditpay.errors import (
    ConsentRequiredError,
    IdempotencyConflictError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.platform.tables import audit_records
from creditpay.protection import consent
from creditpay.protection.consent import Purpose
from creditpay.protection.tables import consent_records
from tests.partners_helpers import register_partner

PARTNER = "lender_acme"
PARTNER_NAME = "Acme Consumer Finance Co., Ltd."


def _grant(uow, purpose=Purpose.BUREAU_INQUIRY, customer="cus_1", language="zh-CN",
           partner_id=None, partner_name=None, request_id=None, channel="app"):
    if partner_id == PARTNER:
        register_partner(uow, PARTNER, PARTNER_NAME)
    text = consent.consent_text(purpose, language, partner_name=partner_name)
    with uow.begin() as tx:
        return consent.grant_consent(
            tx, customer_id=customer, purpose=purpose, language=language,
            text_version=text.version, text_sha256=text.sha256, channel=channel,
            partner_id=partner_id, partner_name=partner_name, request_id=request_id)


def _count(engine, table=consent_records):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# ----- texts (pure) -------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_purpose_has_a_text_in_both_languages(purpose, language):
    name = PARTNER_NAME if purpose.needs_partner else None
    text = consent.consent_text(purpose, language, partner_name=name)
    assert text.version == 1 and len(text.text) > 80
    assert text.sha256 == hashlib.sha256(text.text.encode("utf-8")).hexdigest()
    assert "${" not in text.text
    if language == "zh-CN":
        assert "本人" in text.text
    if name:
        assert name in text.text


def test_partner_name_is_part_of_the_hash():
    a = consent.consent_text(Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, "en", partner_name="A Bank")
    b = consent.consent_text(Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, "en", partner_name="B Bank")
    assert a.sha256 != b.sha256


def test_text_errors_name_the_field():
    with pytest.raises(ValidationError) as exc:
        consent.consent_text("photos", "en")
    assert exc.value.field == "purpose"
    with pytest.raises(ValidationError) as exc:
        consent.consent_text(Purpose.MARKETING, "fr")
    assert exc.value.field == "language"
    with pytest.raises(NotFoundError) as exc:
        consent.consent_text(Purpose.MARKETING, "en", version=99)
    assert exc.value.field == "text_version"
    with pytest.raises(ValidationError) as exc:
        consent.consent_text(Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, "en")
    assert exc.value.field == "partner_name"


# ----- grant / revoke / require -------------------------------------------------------------
def test_grant_then_require_returns_the_grant(uow, engine, clock):
    record = _grant(uow)
    assert record.action == "grant" and record.text_version == 1
    assert record.recorded_at == clock.now()
    with engine.connect() as conn:
        found = consent.require_consent(conn, "cus_1", "bureau_inquiry")
    assert found.id == record.id and found.language == "zh-CN"
    assert found.text_sha256 == consent.consent_text(Purpose.BUREAU_INQUIRY, "zh-CN").sha256


def test_require_without_consent_names_purpose_and_rule(engine):
    with engine.connect() as conn, pytest.raises(ConsentRequiredError) as exc:
        consent.require_consent(conn, "cus_1", Purpose.AUTO_DEBIT)
    error = exc.value
    assert error.field == "purpose" and error.extra["purpose"] == "auto_debit"
    assert error.extra["rule"] == "consent.never_granted"
    problem = error.to_problem()
    assert problem["status"] == 403 and "自动扣款" in problem["message_zh_cn"]
    assert "automatic debit" in problem["message_en"]


def test_revocation_is_a_new_record_and_is_honoured(uow, engine, clock):
    grant = _grant(uow, Purpose.AUTO_DEBIT)
    clock.advance(days=3)
    with uow.begin() as tx:
        revoke = consent.revoke_consent(tx, customer_id="cus_1", purpose="auto_debit",
                                        channel="web")
    assert revoke.action == "revoke" and revoke.id > grant.id
    assert revoke.text_sha256 == grant.text_sha256  # the text being withdrawn
    with engine.connect() as conn:
        with pytest.raises(ConsentRequiredError) as exc:
            consent.require_consent(conn, "cus_1", Purpose.AUTO_DEBIT)
        assert exc.value.extra["rule"] == "consent.revoked"
        history = consent.consent_history(conn, "cus_1")
        states = consent.current_consents(conn, "cus_1")
    assert [r.action for r in history] == ["grant", "revoke"]
    assert history[1].recorded_at > history[0].recorded_at
    assert len(states) == 1 and not states[0].granted and states[0].record_id == revoke.id
    # Granting again after a revocation is a third record; history keeps all three.
    _grant(uow, Purpose.AUTO_DEBIT)
    assert _count(engine) == 3
    with engine.connect() as conn:
        assert consent.require_consent(conn, "cus_1", "auto_debit").action == "grant"


def test_revoke_without_grant_is_refused_and_writes_nothing(uow, engine):
    with pytest.raises(StateError) as exc, uow.begin() as tx:
        consent.revoke_consent(tx, customer_id="cus_1", purpose="marketing", channel="app")
    assert exc.value.extra["rule"] == "consent.not_granted" and exc.value.field == "purpose"
    assert _count(engine) == 0 and _count(engine, audit_records) == 0


def test_partner_consent_is_per_partner(uow, engine):
    _grant(uow, Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, partner_id=PARTNER,
           partner_name=PARTNER_NAME, language="en")
    with engine.connect() as conn:
        found = consent.require_consent(conn, "cus_1", Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                                        partner_id=PARTNER)
        assert found.partner_id == PARTNER and found.partner_name == PARTNER_NAME
        with pytest.raises(ConsentRequiredError) as exc:
            consent.require_consent(conn, "cus_1", Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                                    partner_id="lender_other")
        assert exc.value.extra["partner_id"] == "lender_other"
        with pytest.raises(ValidationError) as exc:
            consent.require_consent(conn, "cus_1", Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER)
        assert exc.value.field == "partner_id"
        with pytest.raises(ValidationError) as exc:
            consent.require_consent(conn, "cus_1", Purpose.MARKETING, partner_id=PARTNER)
        assert exc.value.field == "partner_id"


def test_wrong_hash_is_refused_and_writes_nothing(uow, engine):
    text = consent.consent_text(Purpose.MARKETING, "en")
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        consent.grant_consent(tx, customer_id="cus_1", purpose="marketing", language="zh-CN",
                              text_version=1, text_sha256=text.sha256, channel="app")
    assert exc.value.field == "text_sha256"
    assert _count(engine) == 0 and _count(engine, audit_records) == 0


@pytest.mark.parametrize(("changes", "field"), [
    ({"customer_id": "13812345678"}, "customer_id"),  # a phone number is not an id
    ({"customer_id": ""}, "customer_id"),
    ({"channel": "carrier-pigeon"}, "channel"),
    ({"purpose": "everything"}, "purpose"),
    ({"text_version": "1"}, "text_version"),
    ({"language": "de"}, "language"),
])
def test_bad_grant_input_names_the_field(uow, engine, changes, field):
    text = consent.consent_text(Purpose.MARKETING, "en")
    args = {"customer_id": "cus_1", "purpose": "marketing", "language": "en",
            "text_version": 1, "text_sha256": text.sha256, "channel": "app", **changes}
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        consent.grant_consent(tx, **args)
    assert exc.value.field == field
    assert _count(engine) == 0


def test_same_grant_twice_and_request_id_retry_are_idempotent(uow, engine):
    first = _grant(uow, Purpose.MARKETING, request_id="req-1")
    assert _grant(uow, Purpose.MARKETING, request_id="req-1").id == first.id
    assert _grant(uow, Purpose.MARKETING).id == first.id  # already in force: no new row
    assert _count(engine) == 1
    with pytest.raises(IdempotencyConflictError), uow.begin() as tx:
        consent.revoke_consent(tx, customer_id="cus_1", purpose="marketing", channel="app",
                               request_id="req-1")


def test_audit_records_carry_no_text_or_pii(uow, engine):
    record = _grant(uow, Purpose.CREDIT_ASSESSMENT, language="en")
    with engine.connect() as conn:
        row = conn.execute(select(audit_records)).one()
    assert row.action == "consent.grant" and row.subject_id == "cus_1"
    assert row.payload["consent_record_id"] == record.id
    assert row.payload["text_sha256"] == record.text_sha256
    assert "text" not in row.payload


def test_outdated_text_version_no_longer_counts(uow, engine, monkeypatch):
    _grant(uow, Purpose.MARKETING)
    texts = dict(consent._load_texts())
    current = texts[Purpose.MARKETING]
    v2 = {**current.versions, 2: current.versions[1]}
    texts[Purpose.MARKETING] = consent._PurposeTexts(2, 2, v2)
    monkeypatch.setattr(consent, "_load_texts", lambda: texts)
    with engine.connect() as conn:
        with pytest.raises(ConsentRequiredError) as exc:
            consent.require_consent(conn, "cus_1", "marketing")
        assert exc.value.extra["rule"] == "consent.outdated_text"
        (state,) = consent.current_consents(conn, "cus_1")
    assert state.granted and not state.valid


# ----- references checked in batches (close of business) ------------------------------------
def test_batch_reference_check_gives_the_one_at_a_time_answers(uow):
    """referenced_consents_in_force reads every history at once; each answer must be the
    rule require_referenced_consent raises for the same reference (None when in force)."""
    from creditpay.protection.consent_refs import (
        reference_of,
        referenced_consents_in_force,
        require_referenced_consent,
    )

    live = reference_of(_grant(uow, Purpose.AUTO_DEBIT, customer="cus_live"))
    other = reference_of(_grant(uow, Purpose.AUTO_DEBIT, customer="cus_other"))
    bureau = reference_of(_grant(uow, Purpose.BUREAU_INQUIRY, customer="cus_wrong"))
    old = reference_of(_grant(uow, Purpose.AUTO_DEBIT, customer="cus_again"))
    with uow.begin() as tx:
        consent.revoke_consent(tx, customer_id="cus_again", purpose=Purpose.AUTO_DEBIT,
                               channel="app")
    fresh = reference_of(_grant(uow, Purpose.AUTO_DEBIT, customer="cus_again"))
    revoked = reference_of(_grant(uow, Purpose.AUTO_DEBIT, customer="cus_gone"))
    with uow.begin() as tx:
        consent.revoke_consent(tx, customer_id="cus_gone", purpose=Purpose.AUTO_DEBIT,
                               channel="app")
    wanted = [("cus_live", live), ("cus_live", other), ("cus_wrong", bureau),
              ("cus_again", old), ("cus_again", fresh), ("cus_gone", revoked),
              ("cus_live", None), ("cus_live", "consent-7"), ("cus_nobody", "consent:999")]
    with uow.connect() as conn:
        batch = referenced_consents_in_force(conn, Purpose.AUTO_DEBIT, wanted)
        single = []
        for customer_id, reference in wanted:
            try:
                require_referenced_consent(conn, customer_id=customer_id,
                                           purpose=Purpose.AUTO_DEBIT, reference=reference,
                                           field="consent_reference")
                single.append(None)
            except ConsentRequiredError as refused:
                single.append(refused.extra["rule"])
    assert batch == single
    assert batch == [None, "consent.unknown_reference", "consent.wrong_purpose",
                     "consent.revoked", None, "consent.revoked",
                     "consent.missing_reference", "consent.malformed_reference",
                     "consent.unknown_reference"]


def test_a_partner_consent_names_a_registered_partner_by_its_registered_name(uow, engine):
    """The consumer agrees to share with one legal entity: its id must be a partner the
    platform onboarded, and the name in the text its registered name (issue #17)."""
    register_partner(uow, PARTNER, PARTNER_NAME)
    for partner_id, name, field in (("lender_unknown", PARTNER_NAME, "partner_id"),
                                    (PARTNER, "Some Other Bank", "partner_name")):
        text = consent.consent_text(Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, "en",
                                    partner_name=name)
        with pytest.raises(ValidationError) as exc, uow.begin() as tx:
            consent.grant_consent(tx, customer_id="cus_1",
                                  purpose=Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                                  language="en", text_version=text.version,
                                  text_sha256=text.sha256, channel="app",
                                  partner_id=partner_id, partner_name=name)
        assert exc.value.field == field
    assert _count(engine) == 0

"""The decision service checks the referenced consent records (both stores): the bureau
inquiry consent before the pull, the credit assessment consent before platform data is used;
refusals name the argument and write nothing. Each decision leaves one audit record."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from creditpay.errors import ConsentRequiredError
from creditpay.platform.tables import audit_records
from creditpay.protection.consent import revoke_consent
from creditpay.risk.decisions import service
from creditpay.risk.decisions.tables import bureau_pulls, credit_decisions

from .conftest import GOOD_APPLICATION, bureau_for, good_events, grant


def _decide(uow, bureau_ref, platform_ref=None, customer_id="c1", application_id="app-1"):
    with uow.begin() as tx:
        return service.decide(
            tx, application_id=application_id, customer_id=customer_id,
            product_code="credit_line", application=GOOD_APPLICATION,
            bureau=bureau_for(customer_id), platform_events=good_events(customer_id, tx.now),
            bureau_consent_reference=bureau_ref, platform_consent_reference=platform_ref)


def _count(uow, table, *where):
    with uow.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)
                            ).scalar_one()


def _grants(uow, customer_id="c1"):
    with uow.begin() as tx:
        return (grant(tx, customer_id, "bureau_inquiry"),
                grant(tx, customer_id, "credit_assessment"))


def test_recorded_consents_decide_and_leave_one_audit_record(risk_store):
    bureau_ref, platform_ref = _grants(risk_store)
    decision = _decide(risk_store, bureau_ref, platform_ref)
    assert decision.features["payments_count_90d"] is not None  # platform data was used
    with risk_store.connect() as conn:
        assert conn.execute(select(bureau_pulls.c.consent_reference)).scalar_one() == \
            bureau_ref
        records = conn.execute(select(audit_records).where(
            audit_records.c.action == "credit.decision")).mappings().all()
    assert len(records) == 1
    record = records[0]
    assert record["actor_type"] == "system" and record["subject_id"] == "app-1"
    payload = record["payload"]
    assert payload["outcome"] == decision.outcome and payload["grade"] == decision.grade
    assert payload["model"] == {"name": "application", "version": 1,
                                "role": decision.model_role}
    assert payload["policy"]["version"] == decision.policy_version
    assert payload["policy"]["hash"] == decision.policy_hash
    assert "customer_id" not in payload and "c1" not in payload.values()  # no personal data
    _decide(risk_store, bureau_ref, platform_ref)  # an idempotent retry: no second record
    assert _count(risk_store, audit_records, audit_records.c.action == "credit.decision") == 1


def test_without_platform_reference_the_history_is_not_used(risk_store):
    bureau_ref, _ = _grants(risk_store)
    decision = _decide(risk_store, bureau_ref, None)
    assert decision.features["payments_count_90d"] is None


@pytest.mark.parametrize("case, field, rule", [
    ("made_up", "bureau_consent_reference", "consent.malformed_reference"),
    ("missing", "bureau_consent_reference", "consent.missing_reference"),
    ("other_customer", "bureau_consent_reference", "consent.unknown_reference"),
    ("no_such_record", "bureau_consent_reference", "consent.unknown_reference"),
    ("wrong_purpose", "bureau_consent_reference", "consent.wrong_purpose"),
    ("bureau_revoked", "bureau_consent_reference", "consent.revoked"),
    ("platform_revoked", "platform_consent_reference", "consent.revoked"),
    ("platform_wrong_purpose", "platform_consent_reference", "consent.wrong_purpose"),
])
def test_a_reference_naming_no_grant_in_force_is_refused_and_writes_nothing(
        risk_store, case, field, rule):
    bureau_ref, platform_ref = _grants(risk_store)
    other_bureau, _ = _grants(risk_store, "c2")
    if case == "made_up":
        bureau_ref = "consent-123"
    elif case == "missing":
        bureau_ref = None
    elif case == "other_customer":
        bureau_ref = other_bureau
    elif case == "no_such_record":
        bureau_ref = "consent:999999"
    elif case == "wrong_purpose":
        bureau_ref = platform_ref
    elif case == "platform_wrong_purpose":
        platform_ref = bureau_ref
    else:
        purpose = "bureau_inquiry" if case == "bureau_revoked" else "credit_assessment"
        with risk_store.begin() as tx:
            revoke_consent(tx, customer_id="c1", purpose=purpose, channel="app")
    before = _count(risk_store, audit_records)
    with pytest.raises(ConsentRequiredError) as refused:
        _decide(risk_store, bureau_ref, platform_ref)
    assert refused.value.field == field and refused.value.extra["rule"] == rule
    assert _count(risk_store, bureau_pulls) == 0
    assert _count(risk_store, credit_decisions) == 0
    assert _count(risk_store, audit_records) == before


def test_a_grant_revoked_then_given_again_needs_the_new_reference(risk_store):
    old_ref, _ = _grants(risk_store)
    with risk_store.begin() as tx:
        revoke_consent(tx, customer_id="c1", purpose="bureau_inquiry", channel="app")
        new_ref = grant(tx, "c1", "bureau_inquiry")
    with pytest.raises(ConsentRequiredError) as refused:
        _decide(risk_store, old_ref)
    assert refused.value.extra["rule"] == "consent.revoked"
    assert _decide(risk_store, new_ref).outcome in ("approve", "refer", "decline")

"""A customer's erasure reaches the credit decisions: what was decided stays, the raw inputs
(application, bureau report, platform history) go, and nothing else's decisions change."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.credit.calendar import add_months
from creditpay.errors import StateError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.reporting import subject_rights as SR
from creditpay.risk.decisions import service
from creditpay.risk.decisions.erasure import erase_customer_inputs
from creditpay.risk.decisions.tables import (
    bureau_pulls,
    credit_decision_histories,
    credit_decisions,
)

from .conftest import CONSENT, GOOD_APPLICATION, allow_all, bureau_for, good_events


def _decide(uow, application_id, customer_id):
    with uow.begin() as tx:
        return service.decide(
            tx, application_id=application_id, customer_id=customer_id,
            product_code="credit_line", application=GOOD_APPLICATION,
            bureau=bureau_for(customer_id),
            platform_events=good_events(customer_id, tx.now),
            bureau_consent_reference=CONSENT, platform_consent_reference=CONSENT,
            consent_checker=allow_all)


def test_erasure_keeps_what_was_decided_and_removes_the_raw_inputs(risk_store):
    erased = _decide(risk_store, "app-1", "c1")
    kept = _decide(risk_store, "app-2", "c2")
    with risk_store.begin() as tx:
        result = erase_customer_inputs(tx, "c1")
    assert (result.decisions_anonymised, result.platform_histories_deleted,
            result.bureau_reports_erased) == (1, 1, 1)
    with risk_store.connect() as conn:
        row = conn.execute(select(credit_decisions).where(
            credit_decisions.c.id == erased.decision_id)).one()
        assert set(row.inputs) == {"as_of", "product_code", "platform_consented", "erased_at"}
        assert row.features == erased.features and row.outcome == erased.outcome
        other = conn.execute(select(credit_decisions.c.inputs).where(
            credit_decisions.c.id == kept.decision_id)).scalar_one()
        assert other["application"] and other["bureau_report"]  # c2's are untouched
        owners = conn.execute(select(credit_decision_histories.c.customer_id)).scalars().all()
        assert owners == ["c2"]
        reports = {row.customer_id: row.report for row in conn.execute(
            select(bureau_pulls.c.customer_id, bureau_pulls.c.report))}
        assert reports["c1"] == {"erased": True} and "lenders_in_use" in reports["c2"]
        with pytest.raises(StateError) as refused:
            service.replay_decision(conn, erased.decision_id)
        assert refused.value.extra["rule"] == "decision.erased"
        assert service.replay_decision(conn, kept.decision_id).matches
        assert service.declared_income(conn, "c1", "CNY") is None
        assert service.declared_income(conn, "c2", "CNY") is not None
    with risk_store.begin() as tx:  # nothing left: a second erasure changes nothing
        again = erase_customer_inputs(tx, "c1")
    assert (again.decisions_anonymised, again.platform_histories_deleted,
            again.bureau_reports_erased) == (0, 0, 0)


def test_the_subject_erasure_waits_for_retention_then_erases_the_decisions(risk_store,
                                                                           clock):
    vault = Vault(risk_store, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    parties = Parties(vault=vault, indexer=BlindIndexer(b"b" * 32),
                      signer=TokenSigner(b"t" * 32))
    with risk_store.begin() as tx:
        customer_id = parties.register(tx, phone="+86 139-0000-0001", email=None,
                                       password_hash="$argon2id$x", device_id="device-01")["id"]
    decision = _decide(risk_store, "app-erase", customer_id)
    # An application alone is a record of the relationship: retained like a payment.
    policy = SR.RetentionPolicy(retention_months=1)
    with risk_store.begin() as tx, pytest.raises(StateError) as refused:
        SR.erase_subject(tx, customer_id, idempotency_key="e-1", policy=policy)
    assert refused.value.extra["rule"] == "erasure.retention"
    clock.set(dt.datetime.combine(add_months(clock.today(), 1), dt.time(9), tzinfo=dt.UTC))
    with risk_store.begin() as tx:
        result = SR.erase_subject(tx, customer_id, idempotency_key="e-1", policy=policy)
    assert result.credit_decisions_anonymised == 1 and result.platform_histories_deleted == 1
    assert result.bureau_reports_erased == 1
    with risk_store.connect() as conn, pytest.raises(StateError):
        service.replay_decision(conn, decision.decision_id)
    with risk_store.begin() as tx:  # the stored result, with the risk counts, comes back
        assert SR.erase_subject(tx, customer_id, idempotency_key="e-1",
                                policy=policy).credit_decisions_anonymised == 1

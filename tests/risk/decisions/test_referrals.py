"""Referred applications: a person's verdict ends the referral, once, within the policy's
offer, with a reason the consumer reads; the decision record itself never changes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.db.tables import outbox_events
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.risk.decisions import referrals, service
from creditpay.risk.decisions.queries import customer_decisions
from creditpay.risk.decisions.tables import credit_decisions, credit_referral_reviews

from .conftest import CONSENT, GOOD_APPLICATION, allow_all, bureau_for

# A new customer (no platform history) whose score lands in grade D: the policy refers it.
THIN = {"inquiries_6m": 2, "lenders_in_use": 1, "delinquencies_24m": 2, "debt_minor": 0,
        "monthly_repayment_minor": 400_000}


def _decide(uow, application_id, customer_id, **bureau):
    with uow.begin() as tx:
        return service.decide(
            tx, application_id=application_id, customer_id=customer_id,
            product_code="credit_line", application=GOOD_APPLICATION,
            bureau=bureau_for(customer_id, **bureau), platform_events=[],
            bureau_consent_reference=CONSENT, platform_consent_reference=CONSENT,
            consent_checker=allow_all)


def _referred(uow, application_id="app-r1", customer_id="c1"):
    decision = _decide(uow, application_id, customer_id, **THIN)
    assert decision.outcome == "refer", (decision.grade, decision.score, decision.reasons)
    return decision


def test_the_queue_holds_referrals_only_until_a_verdict(risk_store, clock):
    first = _referred(risk_store, "app-r1", "c1")
    clock.set(clock.now() + dt.timedelta(minutes=5))  # oldest first is by decision time
    second = _referred(risk_store, "app-r2", "c2")
    approved = _decide(risk_store, "app-ok", "c3")
    assert approved.outcome == "approve"
    with risk_store.connect() as conn:
        queue = referrals.list_referrals(conn)
    assert [r.decision_id for r in queue] == [first.decision_id, second.decision_id]
    assert queue[0].offered_limit_minor == first.limit_minor > 0
    assert queue[0].features == first.features and queue[0].status == "pending"
    with risk_store.begin() as tx:
        resolved = referrals.resolve_referral(tx, first.decision_id, reviewer_id="analyst-1",
                                              verdict="approve",
                                              limit_minor=first.limit_minor // 2)
    assert resolved.status == "resolved" and resolved.limit_minor == first.limit_minor // 2
    assert resolved.apr_bps == first.apr_bps and resolved.reviewer_id == "analyst-1"
    with risk_store.connect() as conn:
        assert [r.decision_id for r in referrals.list_referrals(conn)] == [second.decision_id]
        assert [r.decision_id for r in referrals.list_referrals(conn, status="resolved")] \
            == [first.decision_id]
        assert len(referrals.list_referrals(conn, status=None)) == 2
        # The decision record still says what the policy decided.
        stored = conn.execute(select(credit_decisions.c.outcome).where(
            credit_decisions.c.id == first.decision_id)).scalar_one()
        assert stored == "refer"
        assert service.replay_decision(conn, first.decision_id).matches
        topics = conn.execute(select(outbox_events.c.topic)).scalars().all()
    assert referrals.RESOLVED_TOPIC in topics


def test_the_consumer_sees_under_review_then_the_verdict(risk_store):
    decision = _referred(risk_store)
    with risk_store.connect() as conn:
        [pending] = customer_decisions(conn, "c1")
    assert pending.outcome == "refer" and pending.referred
    assert pending.limit_minor is None and pending.apr_bps is None  # no offer yet
    with risk_store.begin() as tx:
        referrals.resolve_referral(tx, decision.decision_id, reviewer_id="analyst-1",
                                   verdict="decline", reason_code="REVIEW_SHORT_HISTORY")
    with risk_store.connect() as conn:
        [final] = customer_decisions(conn, "c1")
    assert final.outcome == "decline" and final.referred and final.reviewed_at is not None
    assert [r["code"] for r in final.reasons] == ["REVIEW_SHORT_HISTORY"]
    assert "three months" in final.reasons[0]["en"] and final.reasons[0]["zh"]


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"verdict": "maybe"}, ValidationError, "verdict"),
    ({"verdict": "approve", "limit_minor": 0}, ValidationError, "limit_minor"),
    ({"verdict": "approve", "limit_minor": 10**12}, ValidationError, "limit_minor"),
    ({"verdict": "approve", "reason_code": "REVIEW_UNVERIFIED"}, ValidationError,
     "reason_code"),
    ({"verdict": "decline"}, ValidationError, "reason_code"),
    ({"verdict": "decline", "reason_code": "KO_AGE"}, ValidationError, "reason_code"),
    ({"verdict": "decline", "reason_code": "REVIEW_UNVERIFIED", "limit_minor": 5},
     ValidationError, "limit_minor"),
    ({"verdict": "approve", "reviewer_id": ""}, ValidationError, "reviewer_id"),
])
def test_bad_verdicts_are_refused_naming_the_field_and_change_nothing(risk_store, kwargs,
                                                                      error, field):
    decision = _referred(risk_store)
    kwargs = {"reviewer_id": "analyst-1", **kwargs}
    with risk_store.begin() as tx, pytest.raises(error) as refused:
        referrals.resolve_referral(tx, decision.decision_id, **kwargs)
    assert refused.value.field == field
    with risk_store.connect() as conn:
        assert conn.execute(select(credit_referral_reviews)).all() == []
        assert conn.execute(select(outbox_events.c.topic).where(
            outbox_events.c.topic == referrals.RESOLVED_TOPIC)).all() == []


def test_only_a_pending_referral_takes_a_verdict(risk_store):
    decision = _referred(risk_store)
    approved = _decide(risk_store, "app-ok", "c3")
    with risk_store.begin() as tx, pytest.raises(StateError) as refused:
        referrals.resolve_referral(tx, approved.decision_id, reviewer_id="a",
                                   verdict="approve")
    assert refused.value.extra["rule"] == "referral.not_referred"
    with risk_store.begin() as tx, pytest.raises(NotFoundError):
        referrals.resolve_referral(tx, "missing", reviewer_id="a", verdict="approve")
    with risk_store.begin() as tx:
        referrals.resolve_referral(tx, decision.decision_id, reviewer_id="a",
                                   verdict="approve")
    with risk_store.begin() as tx, pytest.raises(StateError) as refused:
        referrals.resolve_referral(tx, decision.decision_id, reviewer_id="b",
                                   verdict="decline", reason_code="REVIEW_UNVERIFIED")
    assert refused.value.extra["rule"] == "referral.already_resolved"


def test_a_referral_no_one_decides_is_declined_at_its_deadline(risk_store, clock):
    late = _referred(risk_store, "app-r1", "c1")
    clock.set(clock.now() + dt.timedelta(days=10))
    recent = _referred(risk_store, "app-r2", "c2")
    worked = _referred(risk_store, "app-r3", "c3")
    with risk_store.begin() as tx:
        referrals.resolve_referral(tx, worked.decision_id, reviewer_id="analyst-1",
                                   verdict="approve")
    clock.set(clock.now() + dt.timedelta(days=referrals.DEADLINE_DAYS - 10))
    with risk_store.begin() as tx:
        assert referrals.expire_referrals(tx) == [late.decision_id]
    with risk_store.begin() as tx:  # a re-run declines nothing twice
        assert referrals.expire_referrals(tx) == []
    with risk_store.connect() as conn:
        expired = referrals.get_referral(conn, late.decision_id)
        assert referrals.get_referral(conn, recent.decision_id).status == "pending"
        assert referrals.get_referral(conn, worked.decision_id).verdict == "approve"
        [seen] = customer_decisions(conn, "c1")
    assert expired.verdict == "decline" and expired.reviewer_id.startswith("system:")
    assert seen.outcome == "decline" and seen.reasons[0]["code"] == "REVIEW_NOT_COMPLETED"
    assert "in time" in seen.reasons[0]["en"]
    with risk_store.begin() as tx, pytest.raises(ValidationError) as refused:
        # Only the deadline gives that reason: an analyst names why they declined.
        referrals.resolve_referral(tx, recent.decision_id, reviewer_id="analyst-1",
                                   verdict="decline", reason_code="REVIEW_NOT_COMPLETED")
    assert refused.value.field == "reason_code"

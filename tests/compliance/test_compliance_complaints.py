"""Complaints: SLA timers on business time, escalation, outcomes, audit, statistics."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from creditpay.db.tables import outbox_events
from creditpay.errors import IdempotencyConflictError, NotFoundError, StateError, ValidationError
from creditpay.platform.tables import audit_records
from creditpay.protection import complaints as C
from creditpay.protection.tables import complaints as complaints_table


def _open(uow, category="fees_and_charges", customer="cus_1", request_id=None, **kwargs):
    with uow.begin() as tx:
        return C.open_complaint(tx, customer_id=customer, subject_type="credit_line",
                                subject_id="cl_1", category=category, channel="app",
                                request_id=request_id, **kwargs)


def _count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_open_sets_sla_due_times_from_business_time(uow, clock):
    complaint = _open(uow)
    assert complaint.opened_at == clock.now() and complaint.status == "open"
    assert complaint.acknowledge_due_at == clock.now() + dt.timedelta(hours=24)
    assert complaint.resolve_due_at == clock.now() + dt.timedelta(days=15)
    conduct = _open(uow, category="collections_conduct")
    assert conduct.resolve_due_at == clock.now() + dt.timedelta(days=7)


def test_lifecycle_with_audit_trail_and_outbox(uow, engine, clock):
    complaint = _open(uow)
    clock.advance(hours=2)
    with uow.begin() as tx:
        acknowledged = C.acknowledge_complaint(tx, complaint.id, "staff_9")
    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_at == clock.now()
    clock.advance(days=3)
    with uow.begin() as tx:
        resolved = C.resolve_complaint(tx, complaint.id, "staff_9", "upheld",
                                       remedy_minor=1_800, remedy_currency="CNY")
    assert resolved.status == "resolved" and resolved.outcome is C.Outcome.UPHELD
    assert resolved.remedy_minor == 1_800
    with engine.connect() as conn:
        trail = conn.execute(select(audit_records.c.action, audit_records.c.subject_id,
                                    audit_records.c.payload)
                             .order_by(audit_records.c.id)).all()
        topics = conn.execute(select(outbox_events.c.topic)
                              .order_by(outbox_events.c.id)).scalars().all()
    assert [row.action for row in trail] == ["complaint.opened", "complaint.acknowledged",
                                             "complaint.resolved"]
    assert {row.subject_id for row in trail} == {complaint.id}
    assert trail[0].payload["subject_id"] == "cl_1"  # linked to the account
    assert trail[2].payload["resolve_breached"] is False
    assert topics == ["complaint.opened", "complaint.acknowledged", "complaint.resolved"]
    with pytest.raises(StateError) as exc, uow.begin() as tx:
        C.resolve_complaint(tx, complaint.id, "staff_9", "not_upheld")
    assert exc.value.extra["rule"] == "complaint.already_resolved"


def test_escalation_when_timers_run_out(uow, engine, clock):
    late_ack = _open(uow)
    on_time = _open(uow, customer="cus_2")
    with uow.begin() as tx:
        C.acknowledge_complaint(tx, on_time.id, "staff_1")
    clock.advance(hours=24)
    with uow.begin() as tx:
        assert C.escalate_overdue(tx) == []  # due time itself is not yet a breach
    clock.advance(seconds=1)
    with uow.begin() as tx:
        assert C.escalate_overdue(tx) == [(late_ack.id, 1)]
    with uow.begin() as tx:
        assert C.escalate_overdue(tx) == []  # idempotent at the same level
    clock.advance(days=15)
    with uow.begin() as tx:
        escalated = sorted(C.escalate_overdue(tx))
    assert escalated == sorted([(late_ack.id, 2), (on_time.id, 2)])
    with engine.connect() as conn:
        row = C.get_complaint(conn, late_ack.id)
        actions = conn.execute(select(audit_records.c.action).where(
            audit_records.c.action == "complaint.escalated")).scalars().all()
    assert row.escalation_level == 2 and row.escalated_at == clock.now()
    assert len(actions) == 3


def test_statistics(uow, engine, clock):
    start = clock.now()
    a = _open(uow, "fees_and_charges")
    b = _open(uow, "fees_and_charges", customer="cus_2")
    c = _open(uow, "collections_conduct", customer="cus_3")  # never answered
    clock.advance(hours=10)
    with uow.begin() as tx:
        C.resolve_complaint(tx, a.id, "staff_1", "upheld")  # 10 h, on time
    clock.advance(hours=20)  # 30 h after opening: b and c missed acknowledgement
    with uow.begin() as tx:
        C.acknowledge_complaint(tx, b.id, "staff_1")
    clock.advance(days=8)  # c (7-day SLA) is past its resolve due time
    with uow.begin() as tx:
        C.resolve_complaint(tx, b.id, "staff_1", "not_upheld")
    with engine.connect() as conn:
        stats = C.complaint_stats(conn, clock.now())
        window = C.complaint_stats(conn, clock.now(), opened_from=start + dt.timedelta(hours=1))
    assert stats.total == 3
    assert stats.by_category["fees_and_charges"] == 2
    assert stats.by_category["collections_conduct"] == 1 and stats.by_category["other"] == 0
    assert stats.by_status == {"open": 1, "acknowledged": 0, "resolved": 2}
    assert stats.by_outcome["upheld"] == 1 and stats.by_outcome["not_upheld"] == 1
    assert (stats.acknowledge_breached, stats.acknowledge_decided) == (2, 3)
    assert (stats.resolve_breached, stats.resolve_decided) == (1, 3)  # c is overdue
    assert stats.resolve_breach_rate == pytest.approx(1 / 3, abs=1e-6)
    assert stats.median_hours_to_resolve == pytest.approx((10 + 30 + 8 * 24) / 2)
    assert window.total == 0 and window.median_hours_to_resolve is None
    with engine.connect() as conn:
        still_open = C.get_complaint(conn, c.id)
    assert still_open.resolve_breached(clock.now()) and still_open.status == "open"
    assert stats.as_dict()["by_status"]["resolved"] == 2


@pytest.mark.parametrize(("changes", "field"), [
    ({"category": "weather"}, "category"),
    ({"channel": "fax"}, "channel"),
    ({"customer_id": "a@example.com"}, "customer_id"),
    ({"subject_type": "Credit Line"}, "subject_type"),
])
def test_bad_input_names_the_field_and_writes_nothing(uow, engine, changes, field):
    args = {"customer_id": "cus_1", "subject_type": "credit_line", "subject_id": "cl_1",
            "category": "other", "channel": "app", **changes}
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        C.open_complaint(tx, **args)
    assert exc.value.field == field
    assert _count(engine, complaints_table) == 0 and _count(engine, audit_records) == 0


def test_resolution_input_is_checked(uow):
    complaint = _open(uow)
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        C.resolve_complaint(tx, complaint.id, "staff_1", "won")
    assert exc.value.field == "outcome"
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        C.resolve_complaint(tx, complaint.id, "staff_1", "upheld", remedy_minor=100)
    assert exc.value.field == "remedy_currency"
    with pytest.raises(ValidationError) as exc, uow.begin() as tx:
        C.resolve_complaint(tx, complaint.id, "staff_1", "not_upheld", remedy_minor=100,
                            remedy_currency="CNY")
    assert exc.value.field == "remedy_minor"
    with pytest.raises(NotFoundError), uow.begin() as tx:
        C.acknowledge_complaint(tx, "cmp_missing", "staff_1")


def test_request_id_makes_open_idempotent(uow, engine):
    first = _open(uow, request_id="req-7")
    assert _open(uow, request_id="req-7").id == first.id
    assert _count(engine, complaints_table) == 1
    with pytest.raises(IdempotencyConflictError):
        _open(uow, category="other", request_id="req-7")

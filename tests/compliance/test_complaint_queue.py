"""The staff's complaint queue and its service-level clocks (protection/complaints.py
complaint_queue, sla_clocks) on both stores: due soonest first, counted, each clock
counting down to its due time, stopped when its step is done."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.protection import complaints as C


def _open(uow, category="fees_and_charges"):
    with uow.begin() as tx:
        return C.open_complaint(tx, customer_id="cus_1", subject_type="credit_line",
                                subject_id="cl_1", category=category, channel="app")


def test_the_queue_is_due_soonest_first_and_counted(uow, clock):
    fees = _open(uow)
    clock.advance(hours=1)
    conduct = _open(uow, "collections_conduct")  # 7 days to resolve, not 15
    clock.advance(hours=1)
    other = _open(uow)
    with uow.begin() as tx:
        C.acknowledge_complaint(tx, other.id, "staff_1")
    with uow.connect() as conn:
        active, total = C.complaint_queue(conn)
        waiting, waiting_total = C.complaint_queue(conn, status="open")
        first, _ = C.complaint_queue(conn, limit=1)
    assert [c.id for c in active] == [conduct.id, fees.id, other.id] and total == 3
    assert [c.id for c in waiting] == [conduct.id, fees.id] and waiting_total == 2
    assert [c.id for c in first] == [conduct.id]
    with uow.begin() as tx:
        C.resolve_complaint(tx, fees.id, "staff_1", "not_upheld")
    with uow.connect() as conn:
        assert [c.id for c in C.complaint_queue(conn, status="resolved")[0]] == [fees.id]
        assert C.complaint_queue(conn)[1] == 2


@pytest.mark.parametrize(("kwargs", "field"), [({"status": "lost"}, "status"),
                                               ({"limit": 0}, "limit"),
                                               ({"limit": C.QUEUE_MAX + 1}, "limit")])
def test_bad_arguments_name_the_field(uow, kwargs, field):
    with uow.connect() as conn, pytest.raises(ValidationError) as error:
        C.complaint_queue(conn, **kwargs)
    assert error.value.field == field


def test_clocks_count_down_and_stop_when_done(uow, clock):
    complaint = _open(uow)
    acknowledge, resolve = C.sla_clocks(complaint, clock.now())
    assert (acknowledge.step, acknowledge.seconds_left, acknowledge.met) == (
        "acknowledge", 24 * 3600, None)
    assert resolve.seconds_left == 15 * 86400 and not resolve.overdue
    clock.advance(hours=30)
    acknowledge, _ = C.sla_clocks(complaint, clock.now())
    assert acknowledge.overdue and acknowledge.seconds_left == -6 * 3600
    with uow.begin() as tx:
        done = C.acknowledge_complaint(tx, complaint.id, "staff_1")
    clock.advance(days=2)  # a stopped clock does not move
    acknowledge, resolve = C.sla_clocks(done, clock.now())
    assert (acknowledge.seconds_left, acknowledge.met) == (-6 * 3600, False)
    assert resolve.met is None and resolve.seconds_left == (15 * 86400 - 30 * 3600
                                                            - 2 * 86400)


AT = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


@given(st.integers(-10**7, 10**7), st.integers(0, 10**6))
def test_a_clock_never_shows_more_time_than_is_left(offset_ms, due_s):
    due = AT + dt.timedelta(seconds=due_s)
    now = AT + dt.timedelta(milliseconds=offset_ms)
    complaint = C.Complaint(
        id="cmp_1", customer_id="cus_1", subject_type="credit_line", subject_id="cl_1",
        category=C.Category.OTHER, channel="app", status="open", opened_at=AT,
        acknowledge_due_at=due, resolve_due_at=due, acknowledged_at=None, resolved_at=None,
        escalation_level=0, escalated_at=None, outcome=None, remedy_minor=None,
        remedy_currency=None, sla_policy_version=1)
    for clock in C.sla_clocks(complaint, now):
        left = due - now
        assert dt.timedelta(seconds=clock.seconds_left) <= left
        assert left < dt.timedelta(seconds=clock.seconds_left + 1)
        assert clock.overdue == (left < dt.timedelta(0))

"""Fair collections contact rules: third parties, verified channels, quiet hours, daily cap."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.errors import ValidationError
from creditpay.platform.tables import audit_records
from creditpay.protection import collections_rules as R
from creditpay.protection.tables import collection_contacts

VERIFIED = frozenset({"bidx_phone_1", "bidx_app_1"})


def _attempt(**changes):
    base = dict(customer_id="cus_1", account_id="cl_1", collector_id="agent_7",
                channel="phone", channel_ref="bidx_phone_1", recipient="debtor",
                time_zone="Asia/Shanghai")
    base.update(changes)
    return R.ContactAttempt(**base)


def _at(local_hour, minute=0, zone="Asia/Shanghai"):
    local = dt.datetime(2025, 3, 3, local_hour, minute, tzinfo=R.zone_of(zone))
    return local.astimezone(dt.UTC)


def test_daytime_contact_on_a_verified_channel_is_allowed():
    decision = R.may_contact(_attempt(), _at(10), verified_channel_refs=VERIFIED,
                             contacts_today=0)
    assert decision.allowed and decision.rule == "allowed"
    assert [c.rule for c in decision.checks] == list(R.RULES)
    assert decision.local_time == "2025-03-03T10:00:00+08:00"


@pytest.mark.parametrize(("attempt", "at", "today", "rule"), [
    ({"recipient": "third_party"}, 10, 0, "no_third_party"),
    ({"channel_ref": "bidx_from_address_book"}, 10, 0, "verified_channel"),
    ({}, 21, 0, "quiet_hours"),
    ({}, 7, 0, "quiet_hours"),
    ({}, 23, 0, "quiet_hours"),
    ({}, 12, 3, "max_contacts_per_day"),
])
def test_each_refusal_names_its_rule(attempt, at, today, rule):
    decision = R.may_contact(_attempt(**attempt), _at(at), verified_channel_refs=VERIFIED,
                             contacts_today=today)
    assert not decision.allowed and decision.rule == rule
    assert decision.message_zh_cn and decision.message_en
    assert [c.rule for c in decision.checks if not c.passed][0] == rule


def test_quiet_hour_boundaries():
    allowed = {(hour, minute): R.may_contact(_attempt(), _at(hour, minute),
                                             verified_channel_refs=VERIFIED,
                                             contacts_today=0).allowed
               for hour, minute in [(7, 59), (8, 0), (20, 59), (21, 0)]}
    assert allowed == {(7, 59): False, (8, 0): True, (20, 59): True, (21, 0): False}


def test_quiet_hours_follow_the_consumers_time_zone():
    # 02:00 UTC is 10:00 in Shanghai but 21:00 the day before in New York.
    at = dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC)
    shanghai = R.may_contact(_attempt(), at, verified_channel_refs=VERIFIED, contacts_today=0)
    new_york = R.may_contact(_attempt(time_zone="America/New_York"), at,
                             verified_channel_refs=VERIFIED, contacts_today=0)
    assert shanghai.allowed and new_york.rule == "quiet_hours"
    assert R.local_day(at, "America/New_York") == dt.date(2025, 3, 2)


@pytest.mark.parametrize(("changes", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"channel": "carrier_pigeon"}, "channel"),
    ({"recipient": "neighbour"}, "recipient"),
    ({"customer_id": "13812345678"}, "customer_id"),
])
def test_bad_attempt_names_the_field(changes, field):
    with pytest.raises(ValidationError) as exc:
        _attempt(**changes)
    assert exc.value.field == field


def test_naive_time_is_refused():
    with pytest.raises(ValidationError) as exc:
        R.may_contact(_attempt(), dt.datetime(2025, 3, 3, 10), verified_channel_refs=VERIFIED,
                      contacts_today=0)
    assert exc.value.field == "at"


def test_service_logs_every_attempt_and_enforces_the_daily_cap(uow, engine, clock):
    clock.set(_at(9))
    decisions = []
    for _ in range(4):
        with uow.begin() as tx:
            decisions.append(R.attempt_contact(tx, _attempt(), verified_channel_refs=VERIFIED))
        clock.advance(hours=1)
    assert [d.rule for d in decisions] == ["allowed"] * 3 + ["max_contacts_per_day"]
    with uow.begin() as tx:  # refused attempts do not use up the day's contacts
        third = R.attempt_contact(tx, _attempt(recipient="third_party"),
                                  verified_channel_refs=VERIFIED)
    assert third.rule == "no_third_party"
    # The next local day starts at 00:00 Asia/Shanghai = 16:00 UTC; 08:00 local is allowed.
    clock.set(_at(8) + dt.timedelta(days=1))
    with uow.begin() as tx:
        assert R.attempt_contact(tx, _attempt(), verified_channel_refs=VERIFIED).allowed
    with engine.connect() as conn:
        rows = conn.execute(select(collection_contacts).order_by(collection_contacts.c.id)).all()
        actions = conn.execute(select(audit_records.c.action)
                               .order_by(audit_records.c.id)).scalars().all()
    assert [(r.allowed, r.rule) for r in rows] == [
        (True, "allowed")] * 3 + [(False, "max_contacts_per_day"), (False, "no_third_party"),
                                  (True, "allowed")]
    assert [r.local_date for r in rows] == ["2025-03-03"] * 5 + ["2025-03-04"]
    assert actions.count("collections.contact_refused") == 2
    assert actions.count("collections.contact_allowed") == 4

"""The job functions themselves: the nightly job for a date already done posts nothing
again; the nightly tick waits for its time of day; bad schedules are refused naming the
field. (The book is the close-of-business benchmark's seeded one, a SQLite bulk load; the
nightly batch itself runs on both stores in tests/credit.)"""

from __future__ import annotations

import datetime as dt

import pytest

from creditpay.benchmarks.cob import BUSINESS_DATE, seed_accounts
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.errors import ValidationError
from creditpay.jobs import functions as F
from tests.jobs.helpers import book_state, job_services, job_settings


@pytest.fixture
def seeded(store, tmp_path, catalogue):
    clock = SimulatedClock(dt.datetime(2025, 6, 19, 0, 10, tzinfo=dt.UTC))
    services = job_services(job_settings(store.url, tmp_path), clock)
    seed_accounts(services.uow, 40, catalogue=catalogue)
    try:
        yield services, clock
    finally:
        services.close()


SQLITE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@SQLITE
def test_nightly_twice_for_a_date_posts_once(seeded, store):
    services, clock = seeded
    schedule = F.JobSchedule(nightly_at=dt.time(0, 30))
    assert F.nightly_tick(services, schedule) is None  # 00:10: not yet
    clock.set(dt.datetime(2025, 6, 19, 0, 31, tzinfo=dt.UTC))
    first = F.nightly_tick(services, schedule)
    assert first is not None
    assert first[BUSINESS_DATE.isoformat()]["close_of_business"]["accounts"] == 40
    after_first = book_state(store.engine)
    assert after_first["transfers"][0] > 0

    assert F.nightly_tick(services, schedule) is None  # the date is closed: nothing due
    again = F.nightly(services, BUSINESS_DATE)  # a retried job for the same date
    assert again[BUSINESS_DATE.isoformat()]["close_of_business"]["already_done"] is True
    assert book_state(store.engine) == after_first


@SQLITE
def test_nightly_refuses_a_date_that_has_not_ended(seeded):
    services, _clock = seeded
    with pytest.raises(ValidationError) as raised:
        F.nightly(services, dt.date(2025, 6, 19))
    assert raised.value.field == "business_date"


def test_schedule_settings_are_checked_naming_the_variable():
    with pytest.raises(ValidationError) as raised:
        Settings.of(nightly_at="25:00")
    assert raised.value.field == "CREDITPAY_NIGHTLY_AT"
    with pytest.raises(ValidationError) as raised:
        Settings.of(jobs_period_s=0)
    assert raised.value.field == "CREDITPAY_JOBS_PERIOD_S"
    schedule = F.JobSchedule.from_settings(Settings.of(nightly_at="01:05"))
    assert schedule.nightly_at == dt.time(1, 5) and schedule.seal_period_s == 5
    assert F.nightly_date_due(dt.datetime(2025, 1, 2, 1, 4, tzinfo=dt.UTC),
                              schedule.nightly_at) is None
    assert F.nightly_date_due(dt.datetime(2025, 1, 2, 1, 5, tzinfo=dt.UTC),
                              schedule.nightly_at) == dt.date(2025, 1, 1)

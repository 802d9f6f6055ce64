"""The night's batch chains the close of business, the limit review (only when configured),
complaint escalation and the audit seal; a re-run of the date changes nothing."""

from __future__ import annotations

import datetime as dt

from creditpay.compliance import audit
from creditpay.nightly import limit_review_configured, run_nightly


def test_nightly_runs_each_step_once_and_seals(uow, clock):
    with uow.begin() as tx:
        audit.append(tx, "staff", "op1", "config.changed", "product", "huabei",
                     {"field": "grace_days", "to": 3})
    yesterday = clock.today() - dt.timedelta(days=1)
    assert limit_review_configured(uow) is False
    first = run_nightly(uow, yesterday)
    assert first.close_of_business["business_date"] == yesterday.isoformat()
    assert first.limit_review is None and first.skipped
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 0 and audit.verify(conn).ok
    again = run_nightly(uow, yesterday)
    assert again.close_of_business["already_done"] is True
    assert again.complaints_escalated == 0

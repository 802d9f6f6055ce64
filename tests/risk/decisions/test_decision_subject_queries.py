"""risk.decisions reads for one customer (the data-subject export and erasure): the decision
records, the last decision time and the bureau inquiries, on both stores."""

from __future__ import annotations

import datetime as dt

from creditpay.risk.decisions import service
from creditpay.risk.decisions.bureau_pulls import customer_inquiries, record_pull
from creditpay.risk.decisions.queries import decision_records, last_decided_at

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


def test_decision_records_last_decision_and_inquiries(risk_store, clock):
    with risk_store.connect() as conn:
        assert decision_records(conn, "c1", limit=10) == []
        assert last_decided_at(conn, "c1") is None
    first = _decide(risk_store, "app-1", "c1")
    clock.advance(days=2)
    second = _decide(risk_store, "app-2", "c1")
    _decide(risk_store, "app-3", "c2")
    with risk_store.connect() as conn:
        records = decision_records(conn, "c1", limit=10)
        assert [r.id for r in decision_records(conn, "c1", limit=1)] == [first.decision_id]
        last = last_decided_at(conn, "c1")
        inquiries = customer_inquiries(conn, "c1", limit=10)
    assert [r.id for r in records] == [first.decision_id, second.decision_id]
    assert [r.application_id for r in records] == ["app-1", "app-2"]
    assert all(r.decided_at.tzinfo is not None and r.currency for r in records)
    assert records[0].outcome == first.outcome and records[0].grade == first.grade
    assert isinstance(records[0].reasons, list)
    assert last == clock.now()
    assert all(not hasattr(q, "report") for q in inquiries)  # the inquiry, not the report
    with risk_store.begin() as tx:
        pull_id = record_pull(tx, customer_id="c1", purpose="account_review",
                              bureau="test-bureau", consent_reference=None,
                              report={"score": 1}, report_sha256="0" * 64)
    with risk_store.connect() as conn:
        after = customer_inquiries(conn, "c1", limit=100)
        assert customer_inquiries(conn, "nobody", limit=10) == []
    assert len(after) == len(inquiries) + 1 and after[-1].id == pull_id and after[-1].pulled_at == clock.now()
    assert (after[-1].purpose, after[-1].bureau) == ("account_review", "test-bureau")
    assert [q.id for q in after] == sorted(q.id for q in after)
    assert isinstance(after[-1].pulled_at, dt.datetime)

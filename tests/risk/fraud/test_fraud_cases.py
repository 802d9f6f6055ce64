"""Fraud case management (issue #6): queue, assignment, SLA, verdicts, labels, precision.

Service tests run on the ``uow`` fixture; the checkout hook and the operator API run the real
app with a gateway that holds every payment for review. Both on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from tests.api.helpers import Api, build_app

from creditpay.errors import StateError, ValidationError
from creditpay.payments.risk import Decision, Outcome
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.notes import Notes
from creditpay.platform.tables import audit_records
from creditpay.platform.vault import Vault
from creditpay.risk.fraud import cases
from creditpay.risk.fraud.tables import fraud_cases, fraud_labels

HOUR = dt.timedelta(hours=1)


def _open(uow, subject_id, *, score=0.1, amount_minor=1_000, customer_id="cus_1"):
    return uow.run(lambda tx: cases.open_case(
        tx, subject_type="payment_intent", subject_id=subject_id, customer_id=customer_id,
        merchant_id="mer_1", device_id="dev_1", amount_minor=amount_minor, currency="CNY",
        score=score, reasons=["test_hold"]))


class _Reviewer:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.fail = fail

    def __call__(self, tx, intent_id, approve, note):
        if self.fail:
            raise StateError("intent is expired", field="intent_id")
        self.calls.append((intent_id, approve))


# ------------------------------------------------------------------------ pure core
def test_priority_from_score_and_amount():
    assert cases.case_priority(0.95, 100) == 1
    assert cases.case_priority(0.0, 1_000_000) == 1
    assert cases.case_priority(0.6, 100) == 2
    assert cases.case_priority(None, 250_000) == 2
    assert cases.case_priority(0.1, 1_000) == 3
    with pytest.raises(ValidationError) as err:
        cases.CasePolicy(sla_s_by_priority={1: 60, 2: 120})
    assert err.value.field == "sla_s_by_priority"
    policy = cases.CasePolicy.from_dict({"sla_s_by_priority": {"1": 60, "2": 600, "3": 6000}})
    assert policy.sla_s_by_priority[1] == 60


# ------------------------------------------------------------------------ service
def test_open_case_is_idempotent_with_priority_and_sla(uow, clock):
    first = _open(uow, "pi_a", score=0.9)
    again = _open(uow, "pi_a", score=0.1)
    assert again["id"] == first["id"] and again["priority"] == 1
    assert first["status"] == "open"
    assert dt.datetime.fromisoformat(first["sla_due_at"]) == clock.now() + HOUR
    low = _open(uow, "pi_b", score=0.1, amount_minor=500)
    assert low["priority"] == 3
    assert dt.datetime.fromisoformat(low["sla_due_at"]) == clock.now() + 24 * HOUR
    with uow.connect() as conn:
        assert len(conn.execute(select(fraud_cases)).all()) == 2
    with pytest.raises(ValidationError) as err:
        _open(uow, "pi_c", score=1.5)
    assert err.value.field == "score"


def test_queue_is_ordered_by_priority_then_sla_and_pages(uow, clock):
    low = _open(uow, "pi_low", score=0.1)
    clock.advance(minutes=5)
    high_late = _open(uow, "pi_high_2", score=0.9)
    clock.advance(minutes=5)
    medium = _open(uow, "pi_medium", score=0.6)
    high_early_id = None
    with uow.begin() as tx:  # opened "earlier" by the SLA: same priority, nearer due time
        tx.now = clock.now() - 30 * dt.timedelta(minutes=1)
        high_early_id = cases.open_case(tx, subject_type="payment_intent",
                                        subject_id="pi_high_1", score=0.99)["id"]
    with uow.connect() as conn:
        page, cursor = cases.list_queue(conn, limit=2)
        assert [c["id"] for c in page] == [high_early_id, high_late["id"]]
        rest, end = cases.list_queue(conn, limit=2, cursor=cursor)
        assert [c["id"] for c in rest] == [medium["id"], low["id"]] and end is None
        with pytest.raises(ValidationError) as err:
            cases.list_queue(conn, cursor="not-a-cursor")
        assert err.value.field == "cursor"
        with pytest.raises(ValidationError) as err:
            cases.list_queue(conn, status="closed")
        assert err.value.field == "status"


def test_assign_and_fraud_verdict_store_label_and_decline(uow):
    case = _open(uow, "pi_fraud", score=0.7)
    reviewer = _Reviewer()
    assigned = uow.run(lambda tx: cases.assign(tx, case["id"], "op_analyst"))
    assert assigned["status"] == "assigned" and assigned["assignee"] == "op_analyst"
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()  # in its own transaction, as the runtime does at start
    notes = Notes(vault)
    done = uow.run(lambda tx: cases.resolve(tx, case["id"], "op_analyst", "fraud",
                                            "card testing pattern",
                                            review_payment=reviewer, notes=notes))
    assert done["status"] == "resolved" and done["verdict"] == "fraud"
    assert done["payment_action"] == "declined" and reviewer.calls == [("pi_fraud", False)]
    # The case keeps the note's reference; the text is in the vault.
    assert done["note"].startswith("note_")
    read = uow.run(lambda tx: notes.read(tx, done["note"], staff_id="op_lead",
                                         purpose="fraud_investigation"))
    assert read.text == "card testing pattern" and read.customer_id == "cus_1"
    with uow.connect() as conn:
        [label] = conn.execute(select(fraud_labels)).all()
        actions = conn.execute(select(audit_records.c.action, audit_records.c.actor_type)
                               .where(audit_records.c.subject_type == "fraud_case")
                               .order_by(audit_records.c.id)).all()
    assert label.is_fraud and label.source == "analyst_verdict"
    assert (label.subject_id, label.customer_id, label.device_id) == ("pi_fraud", "cus_1",
                                                                      "dev_1")
    assert [tuple(a) for a in actions] == [("fraud_case.opened", "system"),
                                           ("fraud_case.assigned", "staff"),
                                           ("fraud_case.resolved", "staff")]
    with pytest.raises(StateError):
        uow.run(lambda tx: cases.resolve(tx, case["id"], "op_analyst", "legitimate"))
    with pytest.raises(StateError):
        uow.run(lambda tx: cases.assign(tx, case["id"], "op_other"))


def test_legitimate_approves_unsure_stores_no_label_and_stale_payment(uow):
    legit = _open(uow, "pi_legit")
    unsure = _open(uow, "pi_unsure")
    stale = _open(uow, "pi_stale")
    reviewer = _Reviewer()
    out = uow.run(lambda tx: cases.resolve(tx, legit["id"], "op_a", "legitimate",
                                           review_payment=reviewer))
    assert out["payment_action"] == "approved"
    out = uow.run(lambda tx: cases.resolve(tx, unsure["id"], "op_a", "unsure",
                                           review_payment=reviewer))
    assert out["payment_action"] == "declined"
    assert reviewer.calls == [("pi_legit", True), ("pi_unsure", False)]
    out = uow.run(lambda tx: cases.resolve(tx, stale["id"], "op_a", "legitimate",
                                           review_payment=_Reviewer(fail=True)))
    assert out["status"] == "resolved" and out["payment_action"] == "not_in_review"
    with uow.connect() as conn:
        labels = conn.execute(select(fraud_labels.c.subject_id, fraud_labels.c.is_fraud)
                              .order_by(fraud_labels.c.id)).all()
    assert [tuple(r) for r in labels] == [("pi_legit", False), ("pi_stale", False)]
    other = _open(uow, "pi_x")
    with pytest.raises(ValidationError) as err:
        uow.run(lambda tx: cases.resolve(tx, other["id"], "op_a", "maybe"))
    assert err.value.field == "verdict"


def test_chargeback_and_consumer_report_labels_feed_training(uow, clock):
    case = _open(uow, "pi_cb")
    uow.run(lambda tx: cases.resolve(tx, case["id"], "op_a", "legitimate"))
    paid_at = clock.now() - 2 * HOUR
    clock.advance(days=20)
    label = uow.run(lambda tx: cases.ingest_chargeback(
        tx, chargeback_id="cb_0001", subject_id="pi_cb", customer_id="cus_1",
        merchant_id="mer_1", transaction_at=paid_at, amount_minor=1_000, currency="CNY",
        reason_code="10.4", recorded_by="op_a"))
    assert label["is_fraud"] and label["source"] == "chargeback" and not label["duplicate"]
    assert label["device_id"] == "dev_1"  # taken from the case on the same payment
    again = uow.run(lambda tx: cases.ingest_chargeback(
        tx, chargeback_id="cb_0001", subject_id="pi_cb", customer_id="cus_1",
        merchant_id="mer_1", transaction_at=paid_at, recorded_by="op_a"))
    assert again["id"] == label["id"] and again["duplicate"]
    report = uow.run(lambda tx: cases.ingest_consumer_report(
        tx, report_id="rep_0001", subject_id="pi_other", customer_id="cus_2",
        merchant_id="mer_1", transaction_at=paid_at, recorded_by="op_a"))
    assert report["is_fraud"] and report["source"] == "consumer_report"
    with pytest.raises(ValidationError) as err:
        uow.run(lambda tx: cases.ingest_chargeback(
            tx, chargeback_id="cb_0002", subject_id="pi_cb", customer_id="cus_1",
            merchant_id="mer_1", transaction_at=clock.now() + HOUR, recorded_by="op_a"))
    assert err.value.field == "transaction_at"
    with uow.connect() as conn:
        labels = cases.labels_since(conn, since=paid_at)
        assert [lb["source"] for lb in labels] == ["analyst_verdict", "chargeback",
                                                   "consumer_report"]
        assert cases.labels_since(conn, since=clock.now() - HOUR)[0]["source"] == "chargeback"
    training = cases.training_labels(labels)
    # The chargeback overrides the analyst's "legitimate": one fraud label per payment.
    assert sorted((t.customer_id, t.is_fraud) for t in training) == [("cus_1", True),
                                                                    ("cus_2", True)]
    assert all(t.transaction_timestamp_s == int(paid_at.timestamp()) for t in training)


def test_queue_precision_on_a_known_set(uow, clock):
    start = clock.now()
    verdicts = ["fraud", "fraud", "legitimate", "unsure"]
    for n, verdict in enumerate(verdicts):
        case = _open(uow, f"pi_p{n}")
        uow.run(lambda tx, c=case, v=verdict: cases.resolve(tx, c["id"], "op_a", v))
    _open(uow, "pi_still_open")
    with uow.connect() as conn:
        result = cases.queue_precision(conn, start)
        assert result["resolved"] == 4 and result["fraud"] == 2
        assert result["precision"] == 0.5
        assert result["precision_decided"] == pytest.approx(2 / 3)
        assert cases.queue_precision(conn, start + HOUR)["precision"] is None


def test_sla_breaches_follow_the_business_clock(uow, clock):
    start = clock.now()
    urgent = _open(uow, "pi_urgent", score=0.9)  # 1 h
    _open(uow, "pi_routine", score=0.1)  # 24 h
    with uow.connect() as conn:
        assert cases.sla_breaches(conn, now=clock.now())["total"] == 0
    clock.advance(hours=2)
    with uow.connect() as conn:
        assert cases.sla_breaches(conn, now=clock.now()) == {
            "open_overdue": 1, "resolved_late": 0, "total": 1}
        queue, _ = cases.list_queue(conn, now=clock.now())
        assert [c["sla_breached"] for c in queue] == [True, False]
    uow.run(lambda tx: cases.resolve(tx, urgent["id"], "op_a", "fraud"))
    clock.advance(hours=23)
    with uow.connect() as conn:
        assert cases.sla_breaches(conn, now=clock.now(), since=start) == {
            "open_overdue": 1, "resolved_late": 1, "total": 2}
        report = cases.queue_report(conn, now=clock.now(), since=start)
    assert report["open"] == 1 and report["precision"]["precision"] == 1.0


# ------------------------------------------------------------------------ checkout + API
class _HoldEverything:
    def screen_payment(self, tx, event):
        return Decision(Outcome.REVIEW, ("test_hold",), "hold/1", {"score": 0.9})


def _held_api(store, clock) -> Api:
    app = build_app(store.url, clock, risk=_HoldEverything())
    return Api(TestClient(app, raise_server_exceptions=False), app)


def _held_payment(api, mkey, token, order):
    intent = api.post("/v1/payment_intents", {"amount_minor": 1_000, "currency": "CNY",
                                              "order_id": order}, mkey, expect=201).json()
    held = api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"},
                    token, expect=200).json()
    assert held["status"] == "in_review"
    return intent["id"]


def test_held_payment_opens_a_case_worked_through_the_api(store, clock):
    api = _held_api(store, clock)
    try:
        admin = api.operator("admin")
        analyst = api.operator("risk_analyst")
        mkey = api.merchant(admin)["api_key"]["key"]
        token = api.customer("13700000001")
        api.fund(token, 10_000)
        fraud_id = _held_payment(api, mkey, token, "cases-1")
        clock.advance(minutes=1)  # same priority: the older case is due first
        legit_id = _held_payment(api, mkey, token, "cases-2")
        queue = api.get("/v1/operator/fraud_cases", analyst, expect=200).json()["data"]
        assert [c["subject_id"] for c in queue] == [fraud_id, legit_id]
        first = queue[0]
        assert first["priority"] == 1 and first["score"] == 0.9
        assert dt.datetime.fromisoformat(first["sla_due_at"]) == \
            clock.now() - dt.timedelta(minutes=1) + HOUR
        assert first["customer_id"] and first["merchant_id"]
        # Confirming again while held opens no second case.
        api.post(f"/v1/payment_intents/{fraud_id}/confirm", {"funding": "balance"}, token)
        assert len(api.get("/v1/operator/fraud_cases", analyst).json()["data"]) == 2

        taken = api.post(f"/v1/operator/fraud_cases/{first['id']}/assign", {}, analyst,
                         expect=200).json()
        assert taken["status"] == "assigned"
        done = api.post(f"/v1/operator/fraud_cases/{first['id']}/resolve",
                        {"verdict": "fraud", "note": "stolen wallet"}, analyst,
                        expect=200).json()
        assert done["verdict"] == "fraud" and done["payment_action"] == "declined"
        note = api.post(f"/v1/operator/notes/{done['note']}/read",
                        {"purpose": "fraud_investigation"}, analyst, expect=200).json()
        assert (note["text"], note["kind"], note["erased"]) == ("stolen wallet",
                                                                "fraud_case.note", False)
        assert done["resolved_by"] == taken["assignee"]
        assert api.get(f"/v1/payment_intents/{fraud_id}", mkey).json()["status"] == "declined"

        api.post(f"/v1/operator/fraud_cases/{queue[1]['id']}/resolve",
                 {"verdict": "legitimate"}, analyst, expect=200)
        approved = api.get(f"/v1/payment_intents/{legit_id}", mkey).json()
        assert approved["risk_outcome"] == "approved_by_review"
        paid = api.post(f"/v1/payment_intents/{legit_id}/confirm", {"funding": "balance"},
                        token, expect=200).json()
        assert paid["status"] == "requires_capture"
        assert api.wallet(token)["available_minor"] == 9_000

        # A chargeback on the approved payment is a fraud label.
        clock.advance(days=10)
        label = api.post("/v1/operator/fraud_labels/chargebacks",
                         {"chargeback_id": "cb_1", "intent_id": legit_id,
                          "reason_code": "10.4"}, admin, expect=201).json()
        assert label["is_fraud"] and label["source"] == "chargeback"
        assert label["subject_id"] == legit_id and label["amount_minor"] == 1_000
        api.post("/v1/operator/fraud_labels/chargebacks",
                 {"chargeback_id": "cb_2", "intent_id": fraud_id}, admin, expect=422)
        report = api.get("/v1/operator/fraud_cases/report", admin, expect=200,
                         params={"since": "2025-01-01T00:00:00+00:00"}).json()
        assert report["precision"]["resolved"] == 2 and report["precision"]["precision"] == 0.5
        resolved = api.get("/v1/operator/fraud_cases", admin,
                           params={"status": "resolved"}).json()["data"]
        assert {c["verdict"] for c in resolved} == {"fraud", "legitimate"}
    finally:
        api.client.close()
        api.runtime.close()


def test_staff_without_the_role_are_refused(store, clock):
    api = _held_api(store, clock)
    try:
        admin = api.operator("admin")
        analyst = api.operator("risk_analyst")
        support = api.operator("support")
        mkey = api.merchant(admin)["api_key"]["key"]
        token = api.customer("13700000002")
        api.fund(token, 10_000)
        _held_payment(api, mkey, token, "refused-1")
        [case] = api.get("/v1/operator/fraud_cases", analyst, expect=200).json()["data"]
        url = f"/v1/operator/fraud_cases/{case['id']}"
        for who in (support, token):
            status = api.get("/v1/operator/fraud_cases", who).status_code
            assert status == 403
            assert api.post(f"{url}/assign", {}, who).status_code == 403
        # Admin dispatches, but a verdict is an analyst's.
        assert api.post(f"{url}/resolve", {"verdict": "fraud"}, admin).status_code == 403
        assert api.post(f"{url}/resolve", {"verdict": "fraud"}, support).status_code == 403
        # An analyst takes cases; only admin gives one to someone else.
        other = api.post(f"{url}/assign", {"staff_id": "op_someone"}, analyst)
        assert other.status_code == 403 and other.json()["field"] == "staff_id"
        given = api.post(f"{url}/assign", {"staff_id": "op_someone"}, admin, expect=200)
        assert given.json()["assignee"] == "op_someone"
        assert api.post("/v1/operator/fraud_labels/chargebacks",
                        {"chargeback_id": "cb_9", "intent_id": case["subject_id"]},
                        support).status_code == 403
        with api.runtime.uow.connect() as conn:
            assert conn.execute(select(fraud_cases.c.status)).scalar_one() == "assigned"
    finally:
        api.client.close()
        api.runtime.close()

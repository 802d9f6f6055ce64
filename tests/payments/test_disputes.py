"""Disputes of a payment through the real API (issue #20), on SQLite and PostgreSQL: the
consumer opens, the merchant answers, an operator decides (four-eyes above the threshold);
the plan is paused and resumes with the paused days honoured or is refunded through the
refund path; chargebacks join the same flow; the deadline sweep; webhooks and audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from creditpay.credit import pauses
from creditpay.platform.approvals import FourEyesPolicy
from creditpay.platform.tables import audit_records

PRICE = 100_000


def _world(api) -> dict[str, Any]:
    admin = api.operator("admin")
    merchant = api.merchant(admin)
    token = api.customer("13500000011")
    api.fund(token, 300_000)
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, token, expect=200)
    customer_id = api.get("/v1/me", token).json()["id"]
    api.post(f"/v1/operator/customers/{customer_id}/credit_line",
             {"limit_minor": 1_000_000, "product_code": "huabei"}, admin, expect=201)
    return {"admin": admin, "mkey": merchant["api_key"]["key"], "token": token,
            "customer_id": customer_id}


def _later(api, clock, w: dict[str, Any], **delta: Any) -> None:
    """Let time pass; sessions end, so the consumer and the operator sign in again."""
    clock.advance(**delta)
    w["token"] = api.login("13500000011")
    w["admin"] = api.operator("admin")


def _pay(api, w: dict[str, Any], order_id: str, funding: str = "installment_plan") -> str:
    intent = api.post("/v1/payment_intents", {"amount_minor": PRICE, "currency": "CNY",
                                              "order_id": order_id}, w["mkey"],
                      expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    if funding == "installment_plan":
        quote = api.post(f"{url}/credit_offers", {}, w["token"], expect=200).json()
        offer = next(o for o in quote["offers"] if o["funding"] == "installment_plan"
                     and o["periods"] == 6 and o["total_fee_minor"] > 0)
        body = {"funding": "installment_plan", "offer_id": offer["offer_id"],
                "key_facts_sha256": offer["key_facts_sha256"]}
    else:
        body = {"funding": "balance"}
    api.post(f"{url}/confirm", body, w["token"], expect=200)
    api.post(f"{url}/capture", {}, w["mkey"], expect=200)
    return str(intent["id"])


def _plan(api, token: str) -> dict[str, Any]:
    accounts = api.get("/v1/me/credit_accounts", token, expect=200).json()["data"]
    return next(a for a in accounts if a["kind"] == "plan")


def _actions(api, subject_id: str) -> list[str]:
    with api.runtime.uow.connect() as conn:
        return [r.action for r in conn.execute(select(audit_records.c.action).where(
            audit_records.c.subject_id == subject_id).order_by(audit_records.c.id))]


def test_open_contest_decide_for_the_consumer_refunds_the_plan(api, clock):
    w = _world(api)
    intent_id = _pay(api, w, "o-1")
    plan = _plan(api, w["token"])
    other = api.customer("13500000012")
    body = {"payment_intent_id": intent_id, "reason": "not_received",
            "description": "The parcel never arrived"}
    assert api.post("/v1/me/disputes", body, other, expect=404).json()["field"] == \
        "payment_intent_id"
    too_much = api.post("/v1/me/disputes", {**body, "amount_minor": PRICE + 1}, w["token"],
                        expect=422).json()
    assert too_much["field"] == "amount_minor"
    bad = api.post("/v1/me/disputes", {**body, "reason": "changed_my_mind"}, w["token"],
                   expect=422).json()
    assert "reason" in str(bad)
    opened = api.post("/v1/me/disputes", body, w["token"], expect=201).json()
    dispute_id = opened["dispute_id"]
    assert (opened["status"], opened["amount_minor"], opened["credit_paused"]) == (
        "open", PRICE, True)
    assert opened["respond_by"] == "2025-03-12"  # 7 business days after Sat 1 Mar 2025
    again = api.post("/v1/me/disputes", body, w["token"], expect=409).json()
    assert again["field"] == "payment_intent_id"
    # Idempotency-Key: the same key and body replays the first answer.
    key = "dispute-replay-1"
    assert api.post("/v1/me/disputes", body, w["token"], idem=key).status_code == 409
    # The consumer and the merchant see it; another customer does not.
    mine = api.get("/v1/me/disputes", w["token"], expect=200).json()["data"]
    assert [d["dispute_id"] for d in mine] == [dispute_id]
    api.get(f"/v1/me/disputes/{dispute_id}", other, expect=404)
    listed = api.get("/v1/merchant/disputes", w["mkey"], expect=200).json()["data"]
    row = next(r for r in listed if r["kind"] == "dispute")
    assert (row["reference"], row["dispute_status"], row["subject_id"]) == (
        dispute_id, "open", intent_id)
    opened_hook = api.outbox("payments.dispute.opened")[-1]
    assert opened_hook["type"] == "dispute.opened"
    assert opened_hook["object"]["respond_by"] == "2025-03-12"
    assert "description" not in opened_hook["object"]
    # The merchant contests with evidence: under review, still paused.
    _later(api, clock, w, days=3)
    url = f"/v1/merchant/disputes/{dispute_id}"
    assert api.post(f"{url}/response", {"action": "contest"}, w["mkey"],
                    expect=422).json()["field"] == "evidence"
    contested = api.post(f"{url}/response", {
        "action": "contest", "evidence": "Delivered on 2025-03-01",
        "evidence_documents": ["courier:SF123"]}, w["mkey"], expect=200).json()
    assert contested["status"] == "under_review"
    assert api.post(f"{url}/response", {"action": "contest", "evidence": "again"},
                    w["mkey"], expect=409).json()["field"] == "status"
    queue = api.get("/v1/operator/disputes", w["admin"], params={"status": "under_review"},
                    expect=200).json()["data"]
    assert [d["dispute_id"] for d in queue] == [dispute_id]
    seen = api.get(f"/v1/operator/disputes/{dispute_id}", w["admin"], expect=200).json()
    assert [e["kind"] for e in seen["events"]] == ["opened", "merchant_contest"]
    assert seen["events"][1]["evidence_documents"] == ["courier:SF123"]
    assert seen["events"][0]["statement"] == "The parcel never arrived"
    # The operator decides for the consumer: the refund path reduces the plan to nothing.
    decided = api.post(f"/v1/operator/disputes/{dispute_id}/decide",
                       {"outcome": "consumer", "note": "no proof of delivery"}, w["admin"],
                       expect=200).json()
    assert (decided["status"], decided["outcome"]) == ("resolved_consumer", "consumer")
    assert decided["refund_id"]
    intent = api.get(f"/v1/payment_intents/{intent_id}", w["mkey"], expect=200).json()
    assert intent["refunded_minor"] == PRICE
    after = next(a for a in api.get("/v1/me/credit_accounts", w["token"]).json()["data"]
                 if a["account_id"] == plan["account_id"])
    assert after["principal_minor"] == 0
    with api.runtime.uow.connect() as conn:
        pause = pauses.get_pause(conn, dispute_id)
    assert pause is not None and (pause.outcome, pause.days_shifted) == ("refunded", 3)
    assert api.post(f"/v1/operator/disputes/{dispute_id}/decide", {"outcome": "merchant"},
                    w["admin"], expect=409).json()["field"] == "status"
    assert [e["type"] for e in api.outbox("payments.dispute.resolved")] == \
        ["dispute.resolved"]
    assert _actions(api, dispute_id) == ["dispute.opened", "dispute.merchant_contest",
                                         "dispute.decided", "dispute.refunded"]
    assert _actions(api, plan["account_id"])[-2:] == ["credit.paused", "credit.resumed"]


def test_withdraw_resumes_the_plan_shifted_and_the_merchant_may_accept(api, clock):
    w = _world(api)
    intent_id = _pay(api, w, "o-2")
    plan = _plan(api, w["token"])
    url = f"/v1/me/credit_accounts/{plan['account_id']}/installments"
    before = api.get(url, w["token"], expect=200).json()["data"]
    opened = api.post("/v1/me/disputes", {"payment_intent_id": intent_id,
                                          "reason": "not_as_described",
                                          "amount_minor": 40_000}, w["token"],
                      expect=201).json()
    _later(api, clock, w, days=6)
    withdrawn = api.post(f"/v1/me/disputes/{opened['dispute_id']}/withdraw", {}, w["token"],
                         expect=200).json()
    assert withdrawn["status"] == "withdrawn" and withdrawn["outcome"] is None
    after = api.get(url, w["token"], expect=200).json()["data"]
    assert [dt.date.fromisoformat(i["due_date"]) for i in after] == [
        dt.date.fromisoformat(i["due_date"]) + dt.timedelta(days=6) for i in before]
    assert api.post(f"/v1/me/disputes/{opened['dispute_id']}/withdraw", {}, w["token"],
                    expect=409).json()["field"] == "status"
    # A balance payment: the merchant accepts, the money goes back to the wallet at once.
    paid = _pay(api, w, "o-3", funding="balance")
    wallet = api.wallet(w["token"])["balance_minor"]
    second = api.post("/v1/me/disputes", {"payment_intent_id": paid, "reason": "duplicate"},
                      w["token"], expect=201).json()
    assert second["credit_paused"] is False
    accepted = api.post(f"/v1/merchant/disputes/{second['dispute_id']}/response",
                        {"action": "accept"}, w["mkey"], expect=200).json()
    assert (accepted["status"], accepted["outcome"]) == ("accepted", "consumer")
    assert api.wallet(w["token"])["balance_minor"] == wallet + PRICE
    # Another dispute on the fully refunded payment is refused, naming the payment.
    assert api.post("/v1/me/disputes", {"payment_intent_id": paid, "reason": "duplicate"},
                    w["token"], expect=409).json()["field"] == "payment_intent_id"
    # Past the 120-day window: refused, nothing written.
    late = _pay(api, w, "o-4", funding="balance")
    _later(api, clock, w, days=121)
    assert api.post("/v1/me/disputes", {"payment_intent_id": late, "reason": "not_received"},
                    w["token"], expect=409).json()["field"] == "payment_intent_id"
    assert len(api.get("/v1/me/disputes", w["token"]).json()["data"]) == 2


def test_chargeback_joins_the_flow_and_the_deadline_sweep_sends_it_to_review(api, clock):
    from creditpay.payments.disputes import sweep_deadlines

    w = _world(api)
    intent_id = _pay(api, w, "o-5")
    analyst = api.operator("risk_analyst")
    label = api.post("/v1/operator/fraud_labels/chargebacks", {
        "chargeback_id": "cb-1", "intent_id": intent_id, "reason_code": "13.1",
        "is_fraud": False}, analyst, expect=201).json()
    assert label["source"] == "chargeback" and label["is_fraud"] is False
    dispute = label["dispute"]
    assert (dispute["source"], dispute["reason"], dispute["credit_paused"]) == (
        "chargeback", "not_received", True)
    # The consumer cannot open a second one while it is open.
    assert api.post("/v1/me/disputes", {"payment_intent_id": intent_id,
                                        "reason": "not_received"}, w["token"],
                    expect=409).json()["field"] == "payment_intent_id"
    listed = api.get("/v1/merchant/disputes", w["mkey"], expect=200).json()["data"]
    assert [(r["kind"], r["reference"], r["dispute_id"]) for r in listed] == [
        ("chargeback", "cb-1", dispute["dispute_id"])]
    # The merchant does not answer: the night after respond_by it goes to review, once.
    respond_by = dt.date.fromisoformat(dispute["respond_by"])
    clock.set(dt.datetime.combine(respond_by + dt.timedelta(days=1), dt.time(1),
                                  tzinfo=dt.UTC))
    uow = api.runtime.uow
    assert uow.run(lambda tx: sweep_deadlines(tx, respond_by - dt.timedelta(days=1))) == 0
    assert uow.run(lambda tx: sweep_deadlines(tx, respond_by)) == 1
    assert uow.run(lambda tx: sweep_deadlines(tx, respond_by)) == 0
    _later(api, clock, w, hours=0)
    swept = api.get(f"/v1/operator/disputes/{dispute['dispute_id']}", w["admin"],
                    expect=200).json()
    assert (swept["status"], swept["merchant_late"]) == ("under_review", True)
    # Decided for the merchant: the plan resumes; the label stays a label.
    decided = api.post(f"/v1/operator/disputes/{dispute['dispute_id']}/decide",
                       {"outcome": "merchant"}, w["admin"], expect=200).json()
    assert decided["status"] == "resolved_merchant"
    with uow.connect() as conn:
        pause = pauses.get_pause(conn, dispute["dispute_id"])
    assert pause is not None and pause.outcome == "resumed"
    assert pause.days_shifted == (respond_by + dt.timedelta(days=1) - dt.date(2025, 3, 1)).days
    labels = api.get("/v1/merchant/disputes", w["mkey"]).json()["data"]
    assert labels[0]["is_fraud"] is False and labels[0]["dispute_status"] == \
        "resolved_merchant"


def test_a_decision_above_the_threshold_needs_a_second_operator(api, clock):
    w = _world(api)
    intent_id = _pay(api, w, "o-6", funding="balance")
    # This process's four-eyes threshold, below the price (CREDITPAY_FOUR_EYES_THRESHOLD_MINOR
    # in production).
    api.runtime.services.__dict__["four_eyes"] = FourEyesPolicy(
        PRICE - 1, dt.timedelta(hours=72))
    dispute = api.post("/v1/me/disputes", {"payment_intent_id": intent_id,
                                           "reason": "unauthorised"}, w["token"],
                       expect=201).json()
    api.post(f"/v1/merchant/disputes/{dispute['dispute_id']}/response",
             {"action": "contest", "evidence": "3-D Secure passed"}, w["mkey"], expect=200)
    proposal = api.post(f"/v1/operator/disputes/{dispute['dispute_id']}/decide",
                        {"outcome": "consumer"}, w["admin"], expect=202).json()
    assert proposal["kind"] == "dispute.decide" and proposal["status"] == "pending"
    still = api.get(f"/v1/operator/disputes/{dispute['dispute_id']}", w["admin"]).json()
    assert still["status"] == "under_review"
    approve = f"/v1/operator/approvals/{proposal['approval_id']}/approve"
    assert api.post(approve, {}, w["admin"]).status_code == 403  # not the proposer
    approved = api.post(approve, {}, api.operator("risk_analyst"), expect=200).json()
    assert approved["result"]["status"] == "resolved_consumer"
    done = api.get(f"/v1/me/disputes/{dispute['dispute_id']}", w["token"],
                   expect=200).json()
    assert done["status"] == "resolved_consumer" and done["refund_id"]


def test_a_line_purchase_disputed_is_held_and_the_merchant_accepting_refunds_it(api, clock):
    """A purchase on the pay-later line: the dispute holds its amount in the line's disputed
    bucket (docs/disputes.md, "The revolving line"); accepting refunds it through the refund
    path and empties the bucket."""
    w = _world(api)
    intent = api.post("/v1/payment_intents", {"amount_minor": PRICE, "currency": "CNY",
                                              "order_id": "o-line"}, w["mkey"],
                      expect=201).json()
    url = f"/v1/payment_intents/{intent['id']}"
    quote = api.post(f"{url}/credit_offers", {}, w["token"], expect=200).json()
    offer = next(o for o in quote["offers"] if o["funding"] == "credit_line")
    api.post(f"{url}/confirm", {"funding": "credit_line", "offer_id": offer["offer_id"],
                                "key_facts_sha256": offer["key_facts_sha256"]},
             w["token"], expect=200)
    api.post(f"{url}/capture", {}, w["mkey"], expect=200)
    opened = api.post("/v1/me/disputes", {"payment_intent_id": intent["id"],
                                          "reason": "not_received", "amount_minor": 40_000},
                      w["token"], expect=201).json()
    assert opened["credit_paused"] is True
    line = api.get("/v1/me/credit_line", w["token"], expect=200).json()
    assert (line["disputed_minor"], line["exposure_minor"]) == (40_000, PRICE)
    accepted = api.post(f"/v1/merchant/disputes/{opened['dispute_id']}/response",
                        {"action": "accept"}, w["mkey"], expect=200).json()
    assert (accepted["status"], accepted["outcome"]) == ("accepted", "consumer")
    line = api.get("/v1/me/credit_line", w["token"], expect=200).json()
    assert (line["disputed_minor"], line["exposure_minor"]) == (0, PRICE - 40_000)
    assert _actions(api, line["line_id"])[-2:] == ["credit.paused", "credit.resumed"]

"""POST /v1/me/fraud_reports and POST /v1/me/credit_line/unfreeze (issue #20: the assistant's
"report fraud and freeze" action): the report labels the consumer's own payment as fraud, opens
a fraud_dispute complaint and freezes the consumer's credit; only a one-time code lifts the
consumer's own freeze, and never the lender's. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select, update

from creditpay.credit.tables import credit_lines
from creditpay.platform.tables import vault_notes
from creditpay.protection.tables import complaints
from creditpay.risk.fraud.tables import fraud_labels

PHONES = (f"1395550{n:04d}" for n in itertools.count(1))


def _paid_intent(api, mkey, token, order_id):
    intent = api.post("/v1/payment_intents", {"amount_minor": 12_000, "currency": "CNY",
                                              "order_id": order_id}, mkey, expect=201).json()
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, token,
             expect=200)
    return intent["id"]


def _counts(api):
    with api.runtime.uow.connect() as conn:
        return (conn.execute(select(func.count()).select_from(complaints)).scalar_one(),
                conn.execute(select(func.count()).select_from(fraud_labels)).scalar_one(),
                tuple(conn.execute(select(credit_lines.c.status)
                                   .order_by(credit_lines.c.line_id)).scalars()))


def test_report_labels_the_payment_opens_a_complaint_and_freezes_credit(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    token, customer_id = api.customer_with_line(admin, next(PHONES))
    api.fund(token, 50_000)
    intent_id = _paid_intent(api, mkey, token, "fr-1")

    report = api.post("/v1/me/fraud_reports", {
        "description": "I did not buy this; my phone was stolen",
        "payment_intent_id": intent_id}, token, expect=201).json()
    assert report["labelled"] is True and report["credit_frozen"] is True
    assert [(line["status"], line["frozen_reason"], line["changed"])
            for line in report["lines"]] == [("frozen", "customer_request", True)]
    mine = api.get("/v1/me/complaints", token, expect=200).json()["data"]
    assert [(c["id"], c["category"], c["subject_id"]) for c in mine] == [
        (report["complaint_id"], "fraud_dispute", intent_id)]
    with api.runtime.uow.connect() as conn:
        label = conn.execute(select(fraud_labels).where(
            fraud_labels.c.subject_id == intent_id)).one()
    assert (label.source, label.is_fraud, label.customer_id) == (
        "consumer_report", True, customer_id)
    assert api.get("/v1/me/credit_line", token, expect=200).json()["status"] == "frozen"
    # The consumer's words are kept encrypted in the notes vault, about the complaint.
    with api.runtime.uow.begin() as tx:
        note = api.runtime.notes.read(tx, report["description_note_id"], staff_id="op_test",
                                      purpose="complaint_handling")
    assert (note.text, note.about_type, note.about_id, note.customer_id) == (
        "I did not buy this; my phone was stolen", "complaint", report["complaint_id"],
        customer_id)
    with api.runtime.uow.connect() as conn:
        stored = conn.execute(select(vault_notes.c.ciphertext).where(
            vault_notes.c.id == report["description_note_id"])).scalar_one()
    assert "phone was stolen" not in stored
    # No new credit while frozen: the checkout offers no credit, the wallet still pays.
    intent = api.post("/v1/payment_intents", {"amount_minor": 3_000, "currency": "CNY",
                                              "order_id": "fr-2"}, mkey, expect=201).json()
    offers = api.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {}, token).json()
    assert not offers.get("offers")
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, token,
             expect=200)
    # A second report changes no line (already frozen) but is recorded.
    again = api.post("/v1/me/fraud_reports", {"description": "and again"}, token,
                     expect=201).json()
    assert again["labelled"] is False and [line["changed"] for line in again["lines"]] == [
        False]


def test_another_customers_payment_or_bad_input_changes_nothing(api):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    victim, _ = api.customer_with_line(admin, next(PHONES))
    api.fund(victim, 50_000)
    intent_id = _paid_intent(api, mkey, victim, "fr-3")
    other = api.customer(next(PHONES))
    before = _counts(api)
    problem = api.post("/v1/me/fraud_reports", {"description": "not mine",
                                                "payment_intent_id": intent_id}, other,
                       expect=404).json()
    assert problem["field"] == "payment_intent_id"
    for body, field in (({"description": ""}, "description"),
                        ({"description": "x" * 2001}, "description"),
                        ({"description": "x", "freeze": "yes"}, "freeze")):
        assert api.post("/v1/me/fraud_reports", body, other,
                        expect=422).json()["field"] == field
    assert _counts(api) == before
    api.post("/v1/me/fraud_reports", {"description": "x"}, mkey, expect=403)
    api.post("/v1/me/fraud_reports", {"description": "x"}, None, expect=401)


def test_unfreeze_needs_a_code_and_never_lifts_the_lenders_freeze(api):
    admin = api.operator("admin")
    token, customer_id = api.customer_with_line(admin, next(PHONES))
    api.post("/v1/me/fraud_reports", {"description": "lost my phone"}, token, expect=201)

    challenge = api.post("/v1/me/credit_line/unfreeze", {}, token, expect=403).json()
    assert challenge["type"].endswith("step-up-required")
    code = api.last_code(challenge["challenge_id"])
    wrong = "000000" if code != "000000" else "111111"
    api.post("/v1/me/credit_line/unfreeze", {"step_up_challenge_id": challenge["challenge_id"],
                                             "step_up_code": wrong}, token, expect=401)
    assert api.get("/v1/me/credit_line", token, expect=200).json()["status"] == "frozen"
    lifted = api.post("/v1/me/credit_line/unfreeze", {
        "step_up_challenge_id": challenge["challenge_id"], "step_up_code": code}, token,
        expect=200).json()
    assert [(line["status"], line["changed"]) for line in lifted["lines"]] == [
        ("active", True)]
    assert api.get("/v1/me/credit_line", token, expect=200).json()["status"] == "active"

    # The lender's freeze (a write-off) is not the consumer's to lift.
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(credit_lines).where(
            credit_lines.c.customer_id == customer_id).values(
            status="frozen", frozen_reason="write_off"))
    challenge = api.post("/v1/me/credit_line/unfreeze", {}, token, expect=403).json()
    problem = api.post("/v1/me/credit_line/unfreeze", {
        "step_up_challenge_id": challenge["challenge_id"],
        "step_up_code": api.last_code(challenge["challenge_id"])}, token, expect=409).json()
    assert problem["field"] == "status"
    assert api.get("/v1/me/credit_line", token, expect=200).json()["status"] == "frozen"

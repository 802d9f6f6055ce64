"""Hardship over HTTP through the real app, on both stores: the options with their key facts,
a request approved within policy (exactly once), another referred and approved by an
operator, bad input 422 naming the field, and nothing changed by a refusal."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.credit.hardship_tables import credit_hardship_requests
from creditpay.ledger.chart import party_key
from tests.api.helpers import Api, key, running_api
from tests.catalogues import CATALOGUE


@pytest.fixture
def api(store, clock):
    with running_api(store.url, clock) as api:
        yield api


def _borrower(api: Api, admin: str, phone: str, loan_id: str, id_number: str
              ) -> tuple[str, str]:
    token = api.customer(phone)
    api.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": id_number,
                            "date_of_birth": id_number[6:10] + "-" + id_number[10:12] + "-"
                            + id_number[12:14]}, token, expect=200)
    customer_id = api.get("/v1/me", token).json()["id"]
    api.post(f"/v1/operator/customers/{customer_id}/credit_line",
             {"limit_minor": 2_000_000, "product_code": "huabei"}, admin, expect=201)
    api.fund(token, 10_000)
    uow = api.runtime.uow
    with uow.begin() as tx:
        wallet = L.get_account_by_key(tx.conn, party_key("wallet", customer_id, "CNY"))
        S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=customer_id, currency="CNY",
                             principal_minor=600_000, product_code="jiebei", periods=6,
                             method="equal_installment", wallet_account_id=wallet.id,
                             catalogue=CATALOGUE)
    return token, customer_id


def _options(api: Api, token: str, account_id: str, reason: str = "job_loss",
             expect: int = 200):
    return api.get(f"/v1/me/credit_accounts/{account_id}/hardship_options", token,
                   params={"reason": reason, "lang": "en"}, expect=expect).json()


def test_options_request_and_operator_decision_over_http(api):
    admin = api.operator("admin")
    alice, _ = _borrower(api, admin, "13900000011", "loan-a", "11010519491231002X")
    bob, _ = _borrower(api, admin, "13900000012", "loan-b", "110105198001010016")
    bad = _options(api, alice, "loan-a", reason="bored", expect=422)
    assert bad["field"] == "reason"
    assert api.get("/v1/me/credit_accounts/loan-a/hardship_options", bob,
                   params={"reason": "job_loss"}).status_code == 404
    shown = _options(api, alice, "loan-a")
    assert shown["decision_if_requested"] == "approved"
    kinds = {(o["figures"]["kind"], o["figures"]["cycles"]) for o in shown["options"]}
    assert kinds == {("payment_holiday", 1), ("payment_holiday", 2), ("payment_holiday", 3),
                     ("reamortisation", 3), ("reamortisation", 6), ("reamortisation", 12),
                     ("reduced_rate", 0)}
    option = next(o for o in shown["options"] if o["figures"]["kind"] == "reamortisation")
    document = api.get(option["key_facts_url"], alice, expect=200)
    assert hashlib.sha256(document.content).hexdigest() == option["key_facts_sha256"]
    assert "text/html" in document.headers["content-type"]
    body = {"account_id": "loan-a", "reason": "job_loss",
            "option_id": option["figures"]["option_id"], "key_facts_hash": "0" * 64}
    refused = api.post("/v1/me/hardship_requests", body, alice, expect=422).json()
    assert refused["field"] == "key_facts_hash"
    assert api.get("/v1/me/hardship_requests", alice, expect=200).json()["data"] == []
    body["key_facts_hash"] = option["key_facts_sha256"]
    body["statement"] = "我失业了 since 3 March"
    idem = key()
    first = api.post("/v1/me/hardship_requests", body, alice, idem=idem, expect=201).json()
    assert first["status"] == "approved" and first["arrangement_id"] == first["request_id"]
    assert first["figures"]["schedule"] == option["figures"]["schedule"]
    again = api.post("/v1/me/hardship_requests", body, alice, idem=idem, expect=201).json()
    assert again == first
    listed = api.get("/v1/me/hardship_requests", alice, expect=200).json()["data"]
    assert [r["request_id"] for r in listed] == [first["request_id"]]
    # The statement is kept encrypted in the notes vault, the request holds its reference.
    note_id = listed[0]["statement_note_id"]
    assert note_id.startswith("note_")
    with api.runtime.uow.connect() as conn:
        stored = conn.execute(select(credit_hardship_requests)).mappings().one()
    assert "失业" not in str(dict(stored))
    read = api.post(f"/v1/operator/notes/{note_id}/read", {"purpose": "credit_review"},
                    admin, expect=200).json()
    assert read["text"] == body["statement"]
    installments = api.get("/v1/me/credit_accounts/loan-a/installments", alice,
                           expect=200).json()
    assert installments  # the account's schedule now shows the new installments
    assert _options(api, alice, "loan-a", expect=409)["type"].endswith("invalid-state")

    # Bob's reason is not in the auto-approval list: referred, then an operator approves.
    offered = _options(api, bob, "loan-b", reason="other")
    assert offered["decision_if_requested"] == "referred"
    holiday = offered["options"][0]
    referred = api.post("/v1/me/hardship_requests", {
        "account_id": "loan-b", "reason": "other", "option_id": holiday["figures"]["option_id"],
        "key_facts_hash": holiday["key_facts_sha256_by_language"]["zh-CN"]}, bob,
        expect=201).json()
    assert referred["status"] == "referred" and referred["language"] == "zh-CN"
    agent = api.operator("collections_agent")
    queue = api.get("/v1/operator/hardship_requests", agent, expect=200).json()["data"]
    assert [r["request_id"] for r in queue] == [referred["request_id"]]
    support = api.operator("support")
    assert api.post(f"/v1/operator/hardship_requests/{referred['request_id']}/resolve",
                    {"decision": "approve"}, support).status_code == 403
    decided = api.post(f"/v1/operator/hardship_requests/{referred['request_id']}/resolve",
                       {"decision": "approve", "note": "payslips seen"}, agent,
                       expect=200).json()
    assert decided["status"] == "approved"
    approved = api.get("/v1/operator/hardship_requests", agent, params={"status": "approved"},
                       expect=200).json()["data"]
    assert [r["decision_note_id"][:5] for r in approved
            if r["request_id"] == referred["request_id"]] == ["note_"]
    assert api.post(f"/v1/operator/hardship_requests/{referred['request_id']}/resolve",
                    {"decision": "decline"}, agent, expect=409)
    assert api.get("/v1/operator/hardship_requests", agent, expect=200).json()["data"] == []


def test_a_pay_later_lines_options_and_request_over_http(api):
    """A line (docs/hardship.md, "A pay-later line"): its options over HTTP, the key facts
    that hash as shown, and a request that moves the balance into a hardship plan."""
    admin = api.operator("admin")
    token, customer_id = _borrower(api, admin, "13900000013", "loan-c", "110105198001010032")
    line_id = api.get("/v1/me/credit_line", token, expect=200).json()["line_id"]
    assert _options(api, token, line_id, expect=409)["field"] == "account_id"  # nothing owed
    uow = api.runtime.uow
    with uow.begin() as tx:
        merchant = L.open_account(tx, L.AccountSpec(
            party_key("merchant_payable", "m-line", "CNY"), "CNY", "merchant_payable",
            "merchant", "m-line", L.NormalSide.CREDIT))
        offer = next(o for o in S.quote_offers(
            tx, customer_id=customer_id, amount_minor=90_000, currency="CNY",
            catalogue=CATALOGUE) if o.funding == "line" and o.periods == 1)
        S.authorise_purchase(tx, authorisation_id="auth-line-1", customer_id=customer_id,
                             amount_minor=90_000, currency="CNY", offer_id=offer.offer_id,
                             reference="p-line-1", catalogue=CATALOGUE)
        S.capture_purchase(tx, authorisation_id="auth-line-1", capture_id="p-line-1",
                           amount_minor=90_000, merchant_payable_account_id=merchant.id,
                           catalogue=CATALOGUE)
    shown = _options(api, token, line_id)
    option = next(o for o in shown["options"] if o["figures"]["kind"] == "reamortisation"
                  and o["figures"]["cycles"] == 3)
    figures = option["figures"]
    assert (figures["line"], figures["line_frozen"], figures["principal_minor"],
            figures["extra_cost_minor"]) == (True, True, 90_000, 0)
    document = api.get(option["key_facts_url"], token, expect=200).content
    assert hashlib.sha256(document).hexdigest() == option["key_facts_sha256"]
    assert b"frozen for new purchases" in document
    done = api.post("/v1/me/hardship_requests", {
        "account_id": line_id, "reason": "job_loss", "option_id": figures["option_id"],
        "key_facts_hash": option["key_facts_sha256"]}, token, expect=201).json()
    assert done["status"] == "approved"
    assert api.get("/v1/me/credit_line", token, expect=200).json()["status"] == "frozen"
    plan = f"hsl_{done['request_id']}"
    rows = api.get(f"/v1/me/credit_accounts/{plan}/installments", token, expect=200).json()
    assert [r["principal_minor"] for r in rows["data"]] == [30_000] * 3
